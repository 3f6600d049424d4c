// Linux socket constants and the byte layouts of the structures the addon passes through
// (x86_64 / little-endian: cmsg headers are 16 bytes, payloads 8-byte aligned).
import { addressToBytes, bytesToAddress } from "../base/ip.ts";

export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const AF_PACKET = 17;
export const SOCK_RAW = 3;
export const SOL_SOCKET = 1;
export const SO_BINDTODEVICE = 25;
export const SO_RCVBUF = 8;
/** recvmsg's msg_flags: the datagram was longer than the buffer given (and was cut). */
export const MSG_TRUNC = 0x20;
export const IPPROTO_IP = 0;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ICMPV6 = 58;
export const IP_TOS = 1;
export const IP_TTL = 2;
export const IP_MTU_DISCOVER = 10;
export const IP_PMTUDISC_DONT = 0;
export const IP_PKTINFO = 8;
export const IP_MULTICAST_IF = 32;
export const IP_MULTICAST_TTL = 33;
export const IP_MULTICAST_LOOP = 34;
export const IP_ADD_MEMBERSHIP = 35;
export const IPV6_UNICAST_HOPS = 16;
export const IPV6_MULTICAST_IF = 17;
export const IPV6_MULTICAST_HOPS = 18;
export const IPV6_MULTICAST_LOOP = 19;
export const IPV6_ADD_MEMBERSHIP = 20;
export const IPV6_RECVPKTINFO = 49;
export const IPV6_PKTINFO = 50;
export const IPV6_RECVHOPLIMIT = 51;
export const IPV6_HOPLIMIT = 52;
export const IPV6_TCLASS = 67;
/** Lets IPV6_PKTINFO name a source address the sending interface does not hold (Linux 4.15+). */
export const IPV6_FREEBIND = 78;
export const ICMP6_FILTER = 1;
export const ETH_P_ARP = 0x0806;
export const NETLINK_ROUTE = 0;

export const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
};

export function sockaddrIn(address: string, port = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(AF_INET, 0);
  b.writeUInt16BE(port, 2);
  b.set(addressToBytes(address), 4);
  return b;
}

export function sockaddrIn6(address: string, scopeId = 0, port = 0): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  b.set(addressToBytes(address), 8);
  b.writeUInt32LE(scopeId, 24);
  return b;
}

export function sockaddrLl(ifindex: number, protocol: number, mac?: Uint8Array): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt16LE(AF_PACKET, 0);
  b.writeUInt16BE(protocol, 2);
  b.writeInt32LE(ifindex, 4);
  if (mac) {
    b[11] = mac.length;
    b.set(mac, 12);
  }
  return b;
}

export function sockaddrNl(groups = 0): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(AF_NETLINK, 0);
  b.writeUInt32LE(groups, 8);
  return b;
}

/** The address in a sockaddr_in / sockaddr_in6 the kernel filled, or undefined. */
export function parseSockaddr(b: Buffer): { address: string; scopeId: number } | undefined {
  if (b.length >= 8 && b.readUInt16LE(0) === AF_INET)
    return { address: bytesToAddress(b.subarray(4, 8)), scopeId: 0 };
  if (b.length >= 28 && b.readUInt16LE(0) === AF_INET6)
    return { address: bytesToAddress(b.subarray(8, 24)), scopeId: b.readUInt32LE(24) };
  return undefined;
}

const CMSG_HEADER = 16;
const align8 = (n: number) => (n + 7) & ~7;

/** One ancillary message (struct cmsghdr + data, padded). */
export function cmsg(level: number, type: number, data: Buffer): Buffer {
  const b = Buffer.alloc(CMSG_HEADER + align8(data.length));
  b.writeBigUInt64LE(BigInt(CMSG_HEADER + data.length), 0);
  b.writeInt32LE(level, 8);
  b.writeInt32LE(type, 12);
  data.copy(b, CMSG_HEADER);
  return b;
}

export interface ControlMessage {
  level: number;
  type: number;
  data: Buffer;
}

/** Splits received ancillary data; stops at anything malformed. */
export function parseCmsgs(b: Buffer): ControlMessage[] {
  const out: ControlMessage[] = [];
  for (let off = 0; off + CMSG_HEADER <= b.length;) {
    const len = Number(b.readBigUInt64LE(off));
    if (len < CMSG_HEADER || off + len > b.length) break;
    out.push({
      level: b.readInt32LE(off + 8),
      type: b.readInt32LE(off + 12),
      data: b.subarray(off + CMSG_HEADER, off + len),
    });
    off += align8(len);
  }
  return out;
}

/** IP_PKTINFO for sendmsg: the source address to use (ipi_spec_dst). */
export function ipPktinfo(source: string, ifindex = 0): Buffer {
  const d = Buffer.alloc(12);
  d.writeInt32LE(ifindex, 0);
  d.set(addressToBytes(source), 4);
  return cmsg(IPPROTO_IP, IP_PKTINFO, d);
}

/** IPV6_PKTINFO for sendmsg: source address and outgoing interface. */
export function ipv6Pktinfo(source: string, ifindex: number): Buffer {
  const d = Buffer.alloc(20);
  d.set(addressToBytes(source), 0);
  d.writeUInt32LE(ifindex, 16);
  return cmsg(IPPROTO_IPV6, IPV6_PKTINFO, d);
}

/** struct ip_mreqn: group, local address, interface index. */
export function ipMreqn(group: string, ifindex: number, local = "0.0.0.0"): Buffer {
  const b = Buffer.alloc(12);
  b.set(addressToBytes(group), 0);
  b.set(addressToBytes(local), 4);
  b.writeInt32LE(ifindex, 8);
  return b;
}

/** struct ipv6_mreq: group, interface index. */
export function ipv6Mreq(group: string, ifindex: number): Buffer {
  const b = Buffer.alloc(20);
  b.set(addressToBytes(group), 0);
  b.writeUInt32LE(ifindex, 16);
  return b;
}
