// rtnetlink messages (NETLINK_ROUTE): the address and link requests and replies vipkeeper uses.
// Pure encode/decode in host byte order (little-endian here); decoding never throws.
import { addressToBytes, bytesToAddress, type IpFamily } from "../base/ip.ts";
import { AF_INET, AF_INET6 } from "./linux.ts";

export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const RTM_NEWLINK = 16;
export const RTM_DELLINK = 17;
export const RTM_GETLINK = 18;
export const RTM_SETLINK = 19;
export const RTM_NEWADDR = 20;
export const RTM_DELADDR = 21;
export const RTM_GETADDR = 22;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

export const RTMGRP_LINK = 0x1;

const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_LABEL = 3;
const IFA_CACHEINFO = 6;
const IFA_PROTO = 11;
export const IFA_F_NODAD = 0x02;
/** The kernel's "forever" in struct ifa_cacheinfo. */
export const INFINITY_LIFE_TIME = 0xffffffff;
/**
 * The address protocol (IFA_PROTO, Linux 5.18+; older kernels ignore it) vipkeeper marks its
 * virtual addresses with, so that a later run knows them as its own: 112, VRRP's IP protocol.
 */
export const IFAPROT_VIPKEEPER = 112;

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_LINK = 5;
const IFLA_OPERSTATE = 16;
const IFLA_LINKINFO = 18;
const IFLA_IFALIAS = 20;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_MACVLAN_MODE = 1;
/** macvlan's private mode: no traffic between macvlans of one parent, and no source-MAC filter. */
export const MACVLAN_MODE_PRIVATE = 1;
const NLA_F_NESTED = 0x8000;
export const IFF_UP = 0x1;
export const IFF_RUNNING = 0x40;

const HEADER = 16;
const align4 = (n: number) => (n + 3) & ~3;

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  payload: Buffer;
}

export function encodeMessage(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(HEADER + payload.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq, 8);
  payload.copy(b, HEADER);
  return b;
}

/** Splits a datagram into messages; a malformed tail is reported, not thrown. */
export function decodeMessages(b: Buffer): { messages: NetlinkMessage[]; malformed: boolean } {
  const messages: NetlinkMessage[] = [];
  let off = 0;
  while (off + HEADER <= b.length) {
    const len = b.readUInt32LE(off);
    if (len < HEADER || off + len > b.length) return { messages, malformed: true };
    messages.push({
      type: b.readUInt16LE(off + 4),
      flags: b.readUInt16LE(off + 6),
      seq: b.readUInt32LE(off + 8),
      pid: b.readUInt32LE(off + 12),
      payload: b.subarray(off + HEADER, off + len),
    });
    off += align4(len);
  }
  return { messages, malformed: off < b.length && b.length - off >= HEADER };
}

/** NLMSG_ERROR: 0 is an acknowledgement, a negative number an errno. */
export function errorCode(msg: NetlinkMessage): number | undefined {
  return msg.payload.length >= 4 ? msg.payload.readInt32LE(0) : undefined;
}

export function attr(type: number, data: Buffer): Buffer {
  const b = Buffer.alloc(align4(4 + data.length));
  b.writeUInt16LE(4 + data.length, 0);
  b.writeUInt16LE(type, 2);
  data.copy(b, 4);
  return b;
}

export function parseAttrs(b: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let off = 0; off + 4 <= b.length;) {
    const len = b.readUInt16LE(off);
    if (len < 4 || off + len > b.length) break;
    out.set(b.readUInt16LE(off + 2) & 0x3fff, b.subarray(off + 4, off + len)); // strip NLA_F_NESTED / BYTEORDER
    off += align4(len);
  }
  return out;
}

const cString = (s: string) => Buffer.from(`${s}\0`, "utf8");
const readCString = (b: Buffer | undefined) =>
  b ? b.subarray(0, b.indexOf(0) === -1 ? b.length : b.indexOf(0)).toString() : undefined;

export interface AddressRequest {
  ifindex: number;
  family: IpFamily;
  address: string;
  prefixLength: number;
  label?: string;
  /** IPv6: usable at once, no duplicate address detection. */
  nodad?: boolean;
  /**
   * Seconds until the kernel removes the address by itself (IFA_CACHEINFO; valid and preferred
   * alike, since an IPv6 address past its preferred lifetime is deprecated); absent: permanent.
   */
  lifetimeSec?: number;
  /** IFA_PROTO: who added the address (IFAPROT_VIPKEEPER for virtual addresses). */
  proto?: number;
  /** RT_SCOPE_*: universe (0) when absent. */
  scope?: number;
}

/** The body of RTM_NEWADDR / RTM_DELADDR (struct ifaddrmsg + attributes). */
export function addressBody(req: AddressRequest): Buffer {
  const head = Buffer.alloc(8);
  head[0] = req.family === 4 ? AF_INET : AF_INET6;
  head[1] = req.prefixLength;
  head[2] = req.family === 6 && req.nodad ? IFA_F_NODAD : 0;
  head[3] = req.scope ?? 0; // RT_SCOPE_UNIVERSE unless asked
  head.writeUInt32LE(req.ifindex, 4);
  const bytes = Buffer.from(addressToBytes(req.address));
  const attrs = [attr(IFA_LOCAL, bytes), attr(IFA_ADDRESS, bytes)];
  if (req.label !== undefined && req.family === 4) attrs.push(attr(IFA_LABEL, cString(req.label)));
  if (req.lifetimeSec !== undefined) attrs.push(attr(IFA_CACHEINFO, cacheInfo(req.lifetimeSec)));
  if (req.proto !== undefined) attrs.push(attr(IFA_PROTO, Buffer.from([req.proto])));
  return Buffer.concat([head, ...attrs]);
}

/** struct ifa_cacheinfo {ifa_prefered, ifa_valid, cstamp, tstamp} (the stamps are the kernel's). */
export function cacheInfo(lifetimeSec: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(lifetimeSec, 0);
  b.writeUInt32LE(lifetimeSec, 4);
  return b;
}

export interface AddressInfo {
  ifindex: number;
  family: IpFamily;
  address: string;
  prefixLength: number;
  scope: number;
  label?: string;
  /** IFA_PROTO, when the kernel reports one. */
  proto?: number;
  /** Seconds of validity left (IFA_CACHEINFO); absent for a permanent address. */
  validSec?: number;
}

export function parseAddress(msg: NetlinkMessage): AddressInfo | undefined {
  const p = msg.payload;
  if (p.length < 8) return undefined;
  const family = p[0] === AF_INET ? 4 : p[0] === AF_INET6 ? 6 : undefined;
  if (!family) return undefined;
  const attrs = parseAttrs(p.subarray(8));
  const raw = attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS);
  if (!raw || raw.length !== (family === 4 ? 4 : 16)) return undefined;
  const info: AddressInfo = {
    ifindex: p.readUInt32LE(4),
    family,
    address: bytesToAddress(raw),
    prefixLength: p[1]!,
    scope: p[3]!,
  };
  const label = readCString(attrs.get(IFA_LABEL));
  if (label !== undefined) info.label = label;
  const proto = attrs.get(IFA_PROTO);
  if (proto?.length === 1) info.proto = proto[0]!;
  const cache = attrs.get(IFA_CACHEINFO);
  if (cache && cache.length >= 8 && cache.readUInt32LE(4) !== INFINITY_LIFE_TIME)
    info.validSec = cache.readUInt32LE(4);
  return info;
}

export interface LinkInfo {
  ifindex: number;
  name: string;
  /** IFLA_IFALIAS, the link's free-text description (vipkeeper marks the macvlans it made). */
  alias?: string;
  /** IFLA_LINK: the parent's ifindex, for a macvlan or vlan. */
  parent?: number;
  flags: number;
  /** IF_OPER_* (6 = up). */
  operState: number;
  mac?: Buffer;
  /** Administratively up and with carrier: keepalived's test of a usable interface. */
  up: boolean;
}

export function parseLink(msg: NetlinkMessage): LinkInfo | undefined {
  const p = msg.payload;
  if (p.length < 16) return undefined;
  const attrs = parseAttrs(p.subarray(16));
  const name = readCString(attrs.get(IFLA_IFNAME));
  if (name === undefined) return undefined;
  const flags = p.readUInt32LE(8);
  const info: LinkInfo = {
    ifindex: p.readInt32LE(4),
    name,
    flags,
    operState: attrs.get(IFLA_OPERSTATE)?.[0] ?? 0,
    up: msg.type !== RTM_DELLINK && (flags & IFF_UP) !== 0 && (flags & IFF_RUNNING) !== 0,
  };
  const mac = attrs.get(IFLA_ADDRESS);
  if (mac) info.mac = Buffer.from(mac);
  const alias = readCString(attrs.get(IFLA_IFALIAS));
  if (alias) info.alias = alias;
  const parent = attrs.get(IFLA_LINK);
  if (parent?.length === 4) info.parent = parent.readInt32LE(0);
  return info;
}

/** struct ifinfomsg: family, type, index, flags and the mask of flags to change. */
export function linkHeader(ifindex = 0, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32LE(ifindex, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return b;
}

const IFLA_AF_SPEC = 26;
const IFLA_INET_CONF = 1;
const IFLA_INET6_ADDR_GEN_MODE = 8;

/** IPv4 per-interface settings (IPV4_DEVCONF_*, linux/ip.h), the sysctls of net.ipv4.conf.<dev>. */
export const IPV4_DEVCONF = {
  rp_filter: 8,
  arp_filter: 13,
  arp_announce: 18,
  arp_ignore: 19,
  accept_local: 23,
} as const;
/** IN6_ADDR_GEN_MODE_NONE: the interface makes no IPv6 link-local address of its own. */
export const IN6_ADDR_GEN_MODE_NONE = 1;

/**
 * The body of RTM_SETLINK setting an interface's IPv4 settings and IPv6 address generation mode
 * through IFLA_AF_SPEC: what the sysctls under /proc/sys/net set, which a container without
 * privilege cannot write (its /proc/sys is read-only), while NET_ADMIN suffices here.
 */
export function devconfBody(
  ifindex: number,
  ipv4: Partial<Record<keyof typeof IPV4_DEVCONF, number>>,
  addrGenMode?: number,
): Buffer {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  const nested = (type: number, ...children: Buffer[]) => attr(type | NLA_F_NESTED, Buffer.concat(children));
  const families: Buffer[] = [];
  const conf = Object.entries(ipv4).map(([k, v]) =>
    attr(IPV4_DEVCONF[k as keyof typeof IPV4_DEVCONF], u32(v)),
  );
  if (conf.length > 0) families.push(nested(AF_INET, nested(IFLA_INET_CONF, ...conf)));
  if (addrGenMode !== undefined)
    families.push(nested(AF_INET6, attr(IFLA_INET6_ADDR_GEN_MODE, Buffer.from([addrGenMode]))));
  return Buffer.concat([linkHeader(ifindex), nested(IFLA_AF_SPEC, ...families)]);
}

/** The body of RTM_SETLINK giving a link an alias (link creation ignores IFLA_IFALIAS). */
export function aliasBody(ifindex: number, alias: string): Buffer {
  return Buffer.concat([linkHeader(ifindex), attr(IFLA_IFALIAS, Buffer.from(alias, "utf8"))]);
}

export interface MacvlanRequest {
  name: string;
  parentIfindex: number;
  mac: Buffer;
  mode: number;
}

/** The body of RTM_NEWLINK creating a macvlan (down) on a parent, with its MAC. */
export function macvlanBody(req: MacvlanRequest): Buffer {
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  const nested = (type: number, ...children: Buffer[]) => attr(type | NLA_F_NESTED, Buffer.concat(children));
  return Buffer.concat([
    linkHeader(),
    attr(IFLA_IFNAME, cString(req.name)),
    attr(IFLA_LINK, u32(req.parentIfindex)),
    attr(IFLA_ADDRESS, req.mac),
    nested(
      IFLA_LINKINFO,
      attr(IFLA_INFO_KIND, cString("macvlan")),
      nested(IFLA_INFO_DATA, attr(IFLA_MACVLAN_MODE, u32(req.mode))),
    ),
  ]);
}

/** An empty ifinfomsg / ifaddrmsg of the given family, for dump requests. */
export function dumpBody(kind: "link" | "address", family = 0): Buffer {
  const b = Buffer.alloc(kind === "link" ? 16 : 8);
  b[0] = family;
  return b;
}
