// IPVS's generic-netlink messages (family "IPVS", include/uapi/linux/ip_vs.h): encode the commands
// vipkeeper sends, decode the services and destinations of GET dumps. Pure; host byte order except
// ports and the IPv4 netmask, which the kernel keeps in network order. Attribute order follows
// keepalived's (checked byte for byte against test/vectors/golden-ipvs-netlink.pcap).
import { addressToBytes, bytesToAddress, type IpFamily } from "../base/ip.ts";
import { AF_INET, AF_INET6 } from "../net/linux.ts";
import { attr, encodeMessage, parseAttrs, type NetlinkMessage } from "../net/netlink.ts";
import type { Forwarding, Protocol } from "./model.ts";

export const GENL_ID_CTRL = 0x10;
export const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;
export const IPVS_GENL_NAME = "IPVS";
export const IPVS_GENL_VERSION = 1;

export const IPVS_CMD = {
  NEW_SERVICE: 1,
  SET_SERVICE: 2,
  DEL_SERVICE: 3,
  GET_SERVICE: 4,
  NEW_DEST: 5,
  SET_DEST: 6,
  DEL_DEST: 7,
  GET_DEST: 8,
  GET_INFO: 15,
  FLUSH: 17,
} as const;

const CMD_ATTR_SERVICE = 1;
const CMD_ATTR_DEST = 2;
const NLA_F_NESTED = 0x8000;

const SVC = {
  AF: 1,
  PROTOCOL: 2,
  ADDR: 3,
  PORT: 4,
  FWMARK: 5,
  SCHED: 6,
  FLAGS: 7,
  TIMEOUT: 8,
  NETMASK: 9,
  STATS: 10,
};
const DEST = {
  ADDR: 1,
  PORT: 2,
  FWD: 3,
  WEIGHT: 4,
  U_THRESH: 5,
  L_THRESH: 6,
  ACTIVE: 7,
  INACTIVE: 8,
  PERSIST: 9,
  STATS: 10,
  AF: 11,
};
const STATS_CONNS = 1;
const STATS_INPKTS = 2;

export const IP_VS_SVC_F_PERSISTENT = 0x1;
const IPPROTO: Record<Protocol, number> = { tcp: 6, udp: 17, sctp: 132 };
const FWD: Record<Forwarding, number> = { nat: 0, tun: 2, dr: 3 };
const FWD_MASK = 0x7;

/** What identifies a virtual service in IPVS: (protocol, address, port) or a firewall mark. */
export type ServiceId =
  | { family: IpFamily; protocol: Protocol; address: string; port: number; fwmark?: undefined }
  | { family: IpFamily; fwmark: number; protocol?: undefined; address?: undefined; port?: undefined };

export interface IpvsService {
  id: ServiceId;
  /** A Scheduler for ours; any module name for services others made. */
  scheduler: string;
  /** IP_VS_SVC_F_* as set; only PERSISTENT is vipkeeper's to change. */
  flags: number;
  /** Persistence timeout in seconds (0: none). */
  timeout: number;
  /** IPv4: the mask as a prefix length; IPv6: the prefix length. */
  prefixLength: number;
  /** From dumps: connections since creation (a recreated service starts at 0). */
  connections?: number;
  inPackets?: number;
}

export interface IpvsDest {
  family: IpFamily;
  address: string;
  port: number;
  forwarding: Forwarding;
  weight: number;
  upperThreshold: number;
  lowerThreshold: number;
  activeConnections?: number;
  inactiveConnections?: number;
}

/** The key by which services are compared and owned: "tcp|198.18.0.50|80" or "fwmark|4|7". */
export function serviceIdKey(id: ServiceId): string {
  return id.fwmark !== undefined
    ? `fwmark|${id.family}|${id.fwmark}`
    : `${id.protocol}|${id.address}|${id.port}`;
}

export const destKey = (d: { address: string; port: number }): string => `${d.address}|${d.port}`;

const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
const u16be = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const af = (f: IpFamily) => (f === 6 ? AF_INET6 : AF_INET);
/** IPVS carries every address in a 16-byte union (nf_inet_addr): IPv4 in the first four bytes. */
function inetAddr(address: string): Buffer {
  const b = Buffer.alloc(16);
  Buffer.from(addressToBytes(address)).copy(b);
  return b;
}
const nested = (type: number, parts: Buffer[]) => attr(type | NLA_F_NESTED, Buffer.concat(parts));

function ipv4Mask(prefix: number): Buffer {
  const m = prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffff : (0xffffffff << (32 - prefix)) >>> 0;
  const b = Buffer.alloc(4);
  b.writeUInt32BE(m);
  return b;
}

function idAttrs(id: ServiceId): Buffer[] {
  if (id.fwmark !== undefined) return [attr(SVC.AF, u16(af(id.family))), attr(SVC.FWMARK, u32(id.fwmark))];
  return [
    attr(SVC.AF, u16(af(id.family))),
    attr(SVC.PROTOCOL, u16(IPPROTO[id.protocol])),
    attr(SVC.ADDR, inetAddr(id.address)),
    attr(SVC.PORT, u16be(id.port)),
  ];
}

/** The service attribute, whole (NEW/SET/DEL_SERVICE, and as NEW/SET/DEL_DEST's service). */
export function serviceAttr(svc: IpvsService): Buffer {
  return nested(CMD_ATTR_SERVICE, [
    ...idAttrs(svc.id),
    attr(SVC.SCHED, Buffer.from(`${svc.scheduler}\0`)),
    // struct ip_vs_flags { flags, mask }: the mask says which flags this message sets (all).
    attr(SVC.FLAGS, Buffer.concat([u32(svc.flags), u32(0xffffffff)])),
    attr(SVC.TIMEOUT, u32(svc.timeout)),
    attr(SVC.NETMASK, svc.id.family === 6 ? u32(svc.prefixLength) : ipv4Mask(svc.prefixLength)),
  ]);
}

/** Only the identifying attributes: what GET_DEST needs to name the service. */
export const serviceIdAttr = (id: ServiceId): Buffer => nested(CMD_ATTR_SERVICE, idAttrs(id));

export function destAttr(d: IpvsDest): Buffer {
  return nested(CMD_ATTR_DEST, [
    attr(DEST.AF, u16(af(d.family))),
    attr(DEST.ADDR, inetAddr(d.address)),
    attr(DEST.PORT, u16be(d.port)),
    attr(DEST.FWD, u32(FWD[d.forwarding])),
    attr(DEST.WEIGHT, u32(d.weight)),
    attr(DEST.U_THRESH, u32(d.upperThreshold)),
    attr(DEST.L_THRESH, u32(d.lowerThreshold)),
  ]);
}

/** A generic-netlink message: nlmsghdr, genlmsghdr (cmd, version, reserved), attributes. */
export function genlMessage(
  family: number,
  flags: number,
  seq: number,
  cmd: number,
  attrs: Buffer[],
): Buffer {
  const head = Buffer.from([cmd, family === GENL_ID_CTRL ? 1 : IPVS_GENL_VERSION, 0, 0]);
  return encodeMessage(family, flags, seq, Buffer.concat([head, ...attrs]));
}

export const getFamilyAttrs = (name: string): Buffer[] => [
  attr(CTRL_ATTR_FAMILY_NAME, Buffer.from(`${name}\0`)),
];

/** The family id from CTRL_CMD_NEWFAMILY's reply. */
export function parseFamilyId(msg: NetlinkMessage): number | undefined {
  const id = parseAttrs(msg.payload.subarray(4)).get(CTRL_ATTR_FAMILY_ID);
  return id && id.length >= 2 ? id.readUInt16LE(0) : undefined;
}

const familyOfAf = (n: number | undefined): IpFamily | undefined =>
  n === AF_INET ? 4 : n === AF_INET6 ? 6 : undefined;
const protocolOf = (n: number | undefined): Protocol | undefined =>
  (Object.keys(IPPROTO) as Protocol[]).find((p) => IPPROTO[p] === n);
const readAddr = (b: Buffer | undefined, f: IpFamily) =>
  b && b.length >= (f === 4 ? 4 : 16) ? bytesToAddress(b.subarray(0, f === 4 ? 4 : 16)) : undefined;
// An attribute shorter than its type is read as absent: the kernel never sends one, and a reader
// must not throw on what it did not expect.
const readU16 = (b: Buffer | undefined) => (b && b.length >= 2 ? b.readUInt16LE(0) : undefined);
const readPort = (b: Buffer | undefined) => (b && b.length >= 2 ? b.readUInt16BE(0) : undefined);
const readU32 = (b: Buffer | undefined) => (b && b.length >= 4 ? b.readUInt32LE(0) : undefined);

function prefixOfMask(b: Buffer | undefined, f: IpFamily): number {
  if (!b || b.length < 4) return f === 4 ? 32 : 128;
  if (f === 6) return b.readUInt32LE(0);
  let m = b.readUInt32BE(0);
  let n = 0;
  while (m & 0x80000000) {
    n++;
    m = (m << 1) >>> 0;
  }
  return n;
}

function parseStats(b: Buffer | undefined): { connections?: number; inPackets?: number } {
  if (!b) return {};
  const s = parseAttrs(b);
  const out: { connections?: number; inPackets?: number } = {};
  const c = readU32(s.get(STATS_CONNS));
  const p = readU32(s.get(STATS_INPKTS));
  if (c !== undefined) out.connections = c;
  if (p !== undefined) out.inPackets = p;
  return out;
}

/** Why a dump message did not decode (callers count these; the fuzz bench reports them). */
export type IpvsDecodeRejection =
  | "short-message"
  | "no-service"
  | "no-dest"
  | "bad-family"
  | "bad-protocol"
  | "bad-address"
  | "bad-port"
  | "bad-forwarding";

export type IpvsDecoded<T> = { ok: true; value: T } | { ok: false; reason: IpvsDecodeRejection };

const no = (reason: IpvsDecodeRejection): { ok: false; reason: IpvsDecodeRejection } => ({
  ok: false,
  reason,
});

/** A service from a GET_SERVICE dump, or why the message is not one. Never throws. */
export function decodeService(msg: NetlinkMessage): IpvsDecoded<IpvsService> {
  if (msg.payload.length < 4) return no("short-message");
  const nest = parseAttrs(msg.payload.subarray(4)).get(CMD_ATTR_SERVICE);
  if (!nest) return no("no-service");
  const a = parseAttrs(nest);
  const family = familyOfAf(readU16(a.get(SVC.AF)));
  if (!family) return no("bad-family");
  const fwmark = readU32(a.get(SVC.FWMARK));
  let id: ServiceId;
  if (fwmark) id = { family, fwmark };
  else {
    const protocol = protocolOf(readU16(a.get(SVC.PROTOCOL)));
    if (!protocol) return no("bad-protocol");
    const address = readAddr(a.get(SVC.ADDR), family);
    if (!address) return no("bad-address");
    const port = readPort(a.get(SVC.PORT));
    if (port === undefined) return no("bad-port");
    id = { family, protocol, address, port };
  }
  const sched = a.get(SVC.SCHED);
  return {
    ok: true,
    value: {
      id,
      scheduler: sched ? sched.subarray(0, Math.max(0, sched.indexOf(0))).toString() : "",
      flags: readU32(a.get(SVC.FLAGS)) ?? 0,
      timeout: readU32(a.get(SVC.TIMEOUT)) ?? 0,
      prefixLength: prefixOfMask(a.get(SVC.NETMASK), family),
      ...parseStats(a.get(SVC.STATS)),
    },
  };
}

/** A service from a GET_SERVICE dump; undefined for a message that is not one (counted by callers). */
export function parseService(msg: NetlinkMessage): IpvsService | undefined {
  const d = decodeService(msg);
  return d.ok ? d.value : undefined;
}

/** A destination from a GET_DEST dump, or why the message is not one. Never throws. */
export function decodeDest(msg: NetlinkMessage, serviceFamily: IpFamily): IpvsDecoded<IpvsDest> {
  if (msg.payload.length < 4) return no("short-message");
  const nest = parseAttrs(msg.payload.subarray(4)).get(CMD_ATTR_DEST);
  if (!nest) return no("no-dest");
  const a = parseAttrs(nest);
  // Kernels before 5.x send no DEST_ATTR_ADDR_FAMILY: the dest is then of the service's family.
  const af = a.get(DEST.AF);
  const family = af ? familyOfAf(readU16(af)) : serviceFamily;
  if (!family) return no("bad-family");
  const address = readAddr(a.get(DEST.ADDR), family);
  if (!address) return no("bad-address");
  const port = readPort(a.get(DEST.PORT));
  if (port === undefined) return no("bad-port");
  const fwd = (readU32(a.get(DEST.FWD)) ?? 0) & FWD_MASK;
  const forwarding = (Object.keys(FWD) as Forwarding[]).find((f) => FWD[f] === fwd);
  if (!forwarding) return no("bad-forwarding");
  const d: IpvsDest = {
    family,
    address,
    port,
    forwarding,
    weight: readU32(a.get(DEST.WEIGHT)) ?? 0,
    upperThreshold: readU32(a.get(DEST.U_THRESH)) ?? 0,
    lowerThreshold: readU32(a.get(DEST.L_THRESH)) ?? 0,
  };
  const active = readU32(a.get(DEST.ACTIVE));
  const inactive = readU32(a.get(DEST.INACTIVE));
  if (active !== undefined) d.activeConnections = active;
  if (inactive !== undefined) d.inactiveConnections = inactive;
  return { ok: true, value: d };
}

/** A destination from a GET_DEST dump. */
export function parseDest(msg: NetlinkMessage, serviceFamily: IpFamily): IpvsDest | undefined {
  const d = decodeDest(msg, serviceFamily);
  return d.ok ? d.value : undefined;
}
