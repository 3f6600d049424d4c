// rtnetlink route and policy-rule messages (RTM_NEWROUTE / RTM_DELROUTE, RTM_NEWRULE /
// RTM_DELRULE): pure encoding and decoding. Every route and rule vipkeeper adds carries protocol
// 112 (VRRP's IP protocol, as its addresses' IFA_PROTO), and removals name it: the kernel then
// removes only a route or rule with that protocol, never an admin's that looks the same.
import { addressToBytes, bytesToAddress, type IpFamily } from "../base/ip.ts";
import { AF_INET, AF_INET6 } from "./linux.ts";
import { attr, parseAttrs, type NetlinkMessage } from "./netlink.ts";

export const RTM_NEWROUTE = 24;
export const RTM_DELROUTE = 25;
export const RTM_GETROUTE = 26;
export const RTM_NEWRULE = 32;
export const RTM_DELRULE = 33;
export const RTM_GETRULE = 34;

/** The protocol (rtm_protocol, FRA_PROTOCOL) of vipkeeper's routes and rules. */
export const RTPROT_VIPKEEPER = 112;

const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_PREFSRC = 7;
const RTA_TABLE = 15;

const FRA_DST = 1;
const FRA_SRC = 2;
const FRA_IIFNAME = 3;
const FRA_PRIORITY = 6;
const FRA_FWMARK = 10;
const FRA_TABLE = 15;
const FRA_FWMASK = 16;
const FRA_OIFNAME = 17;
const FRA_PROTOCOL = 21;
const FR_ACT_TO_TBL = 1;

export const RT_TABLE_MAIN = 254;
export const ROUTE_TYPES = { Unicast: 1, Blackhole: 6, Unreachable: 7, Prohibit: 8 } as const;
export const ROUTE_SCOPES = { Global: 0, Site: 200, Link: 253, Host: 254 } as const;

export interface Prefix {
  address: string;
  prefixLength: number;
}

export interface RouteRequest {
  family: IpFamily;
  to: Prefix;
  via?: string;
  /** Outgoing interface, resolved to its index by the caller. */
  ifindex?: number;
  src?: string;
  table: number;
  metric?: number;
  type: keyof typeof ROUTE_TYPES;
  scope: keyof typeof ROUTE_SCOPES;
}

export interface RuleRequest {
  family: IpFamily;
  from?: Prefix;
  to?: Prefix;
  fwmark?: number;
  fwmask?: number;
  iif?: string;
  oif?: string;
  priority?: number;
  table: number;
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const ip = (a: string) => Buffer.from(addressToBytes(a));
const cString = (s: string) => Buffer.from(`${s}\0`, "utf8");
const af = (family: IpFamily) => (family === 4 ? AF_INET : AF_INET6);

/** struct rtmsg and attributes. The table goes in RTA_TABLE (ids above 255 fit only there). */
export function routeBody(r: RouteRequest): Buffer {
  const head = Buffer.alloc(12);
  head[0] = af(r.family);
  head[1] = r.to.prefixLength;
  head[4] = r.table < 256 ? r.table : 0;
  head[5] = RTPROT_VIPKEEPER;
  head[6] = ROUTE_SCOPES[r.scope];
  head[7] = ROUTE_TYPES[r.type];
  const attrs = [attr(RTA_TABLE, u32(r.table))];
  if (r.to.prefixLength > 0) attrs.push(attr(RTA_DST, ip(r.to.address)));
  if (r.via !== undefined) attrs.push(attr(RTA_GATEWAY, ip(r.via)));
  if (r.ifindex !== undefined) attrs.push(attr(RTA_OIF, u32(r.ifindex)));
  if (r.src !== undefined) attrs.push(attr(RTA_PREFSRC, ip(r.src)));
  if (r.metric !== undefined) attrs.push(attr(RTA_PRIORITY, u32(r.metric)));
  return Buffer.concat([head, ...attrs]);
}

/** struct fib_rule_hdr (action: look up a table) and attributes. */
export function ruleBody(r: RuleRequest): Buffer {
  const head = Buffer.alloc(12);
  head[0] = af(r.family);
  head[1] = r.to?.prefixLength ?? 0;
  head[2] = r.from?.prefixLength ?? 0;
  head[4] = r.table < 256 ? r.table : 0;
  head[7] = FR_ACT_TO_TBL;
  const attrs = [attr(FRA_TABLE, u32(r.table)), attr(FRA_PROTOCOL, Buffer.from([RTPROT_VIPKEEPER]))];
  if (r.from) attrs.push(attr(FRA_SRC, ip(r.from.address)));
  if (r.to) attrs.push(attr(FRA_DST, ip(r.to.address)));
  if (r.iif !== undefined) attrs.push(attr(FRA_IIFNAME, cString(r.iif)));
  if (r.oif !== undefined) attrs.push(attr(FRA_OIFNAME, cString(r.oif)));
  if (r.fwmark !== undefined) attrs.push(attr(FRA_FWMARK, u32(r.fwmark)));
  if (r.fwmask !== undefined) attrs.push(attr(FRA_FWMASK, u32(r.fwmask)));
  if (r.priority !== undefined) attrs.push(attr(FRA_PRIORITY, u32(r.priority)));
  return Buffer.concat([head, ...attrs]);
}

/** What a route dump says of one route: enough to find vipkeeper's and remove them. */
export interface RouteInfo {
  family: IpFamily;
  to: Prefix;
  table: number;
  protocol: number;
  type: number;
  metric?: number;
  body: Buffer;
}

export function parseRoute(msg: NetlinkMessage): RouteInfo | undefined {
  const p = msg.payload;
  if (p.length < 12) return undefined;
  const family = p[0] === AF_INET ? 4 : p[0] === AF_INET6 ? 6 : undefined;
  if (!family) return undefined;
  const attrs = parseAttrs(p.subarray(12));
  const dst = attrs.get(RTA_DST);
  const table = attrs.get(RTA_TABLE);
  const metric = attrs.get(RTA_PRIORITY);
  return {
    family,
    to: { address: dst ? bytesToAddress(dst) : family === 4 ? "0.0.0.0" : "::", prefixLength: p[1]! },
    table: table?.length === 4 ? table.readUInt32LE(0) : p[4]!,
    protocol: p[5]!,
    type: p[7]!,
    ...(metric?.length === 4 ? { metric: metric.readUInt32LE(0) } : {}),
    body: Buffer.from(p),
  };
}

/** A rule dump entry: its protocol, and its body to send back in RTM_DELRULE. */
export function parseRule(msg: NetlinkMessage): { protocol: number; body: Buffer } | undefined {
  const p = msg.payload;
  if (p.length < 12 || (p[0] !== AF_INET && p[0] !== AF_INET6)) return undefined;
  const proto = parseAttrs(p.subarray(12)).get(FRA_PROTOCOL);
  return { protocol: proto?.length === 1 ? proto[0]! : 0, body: Buffer.from(p) };
}
