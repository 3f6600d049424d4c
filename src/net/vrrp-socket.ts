// The VRRP socket of one interface and family: raw IP protocol 112, TTL / hop limit 255 on send,
// the group joined on this interface only, bound to the device. Received packets come out with
// source, destination and TTL / hop limit, so the receive checks can enforce 255; nothing the
// network sends can make it throw.
import type { IpFamily } from "../base/ip.ts";
import { parseIpv4Packet } from "../vrrp/ip-header.ts";
import { VRRP_MULTICAST_V4, VRRP_MULTICAST_V6, VRRP_PROTOCOL } from "../vrrp/packet.ts";
import type { ReceivedPacket } from "../vrrp/receive.ts";
import {
  AF_INET,
  AF_INET6,
  int32,
  IP_ADD_MEMBERSHIP,
  IP_MULTICAST_IF,
  IP_MULTICAST_LOOP,
  IP_MULTICAST_TTL,
  IP_TTL,
  IP_TOS,
  IP_MTU_DISCOVER,
  IP_PMTUDISC_DONT,
  IPV6_TCLASS,
  ipMreqn,
  ipPktinfo,
  IPPROTO_IP,
  IPPROTO_IPV6,
  IPV6_ADD_MEMBERSHIP,
  IPV6_FREEBIND,
  IPV6_HOPLIMIT,
  IPV6_MULTICAST_HOPS,
  IPV6_MULTICAST_IF,
  IPV6_MULTICAST_LOOP,
  IPV6_PKTINFO,
  IPV6_RECVHOPLIMIT,
  IPV6_RECVPKTINFO,
  IPV6_UNICAST_HOPS,
  ipv6Mreq,
  ipv6Pktinfo,
  MSG_TRUNC,
  parseCmsgs,
  parseSockaddr,
  SO_BINDTODEVICE,
  SOCK_RAW,
  SOL_SOCKET,
  SO_RCVBUF,
  sockaddrIn,
  sockaddrIn6,
} from "./linux.ts";
import {
  INFO_CONTROL_LENGTH,
  INFO_FIELDS,
  INFO_FLAGS,
  INFO_LENGTH,
  INFO_NAME_LENGTH,
  nativeNet,
  type ReadBatch,
  SOCKADDR_SIZE,
} from "./native.ts";
import { bytesToAddress } from "../base/ip.ts";

const NETWORK_CONTROL = 0xc0;
/**
 * A slot of the read batch: the longest VRRP message is 1,096 bytes over IPv4 (a 60-byte header,
 * 255 addresses, v2's authentication) and 4,088 over IPv6 (no header). A longer datagram is no
 * VRRP message: it arrives cut to its slot (MSG_TRUNC) and is dropped as truncated.
 */
const SLOT = 4096;
/**
 * Datagrams one drain reads at most: one JavaScript call each batch. A backup of 255 routers at
 * 100 ms hears ~2,500 adverts a second; 64 slots are 256 KB.
 */
const BATCH = 64;
const CONTROL = 256;

export interface VrrpSocketOptions {
  family: IpFamily;
  interfaceName: string;
  /** Our source address: the interface's primary IPv4 address, or its IPv6 link-local address. */
  sourceAddress: string;
  /** Join the VRRP multicast group (not needed when every instance on it is unicast). */
  multicast: boolean;
  /** `packet.payload` is a view of the socket's read buffer: valid during the call only. */
  onPacket(packet: ReceivedPacket): void;
  /** A packet that never reached VRRP decoding (bad IP header, fragment, ...), for counting. */
  onDrop?(reason: string, detail: string): void;
  /** Hop limit for sent packets (255 by the RFC; tests use others). */
  hopLimit?: number;
  /**
   * IPv6: send from `sourceAddress` though the interface does not hold it (a virtual MAC's
   * macvlan speaks with its parent's link-local address, and must not hold it: in backup it would
   * answer neighbour solicitations for it from the shared virtual MAC).
   */
  foreignSource?: boolean;
  /**
   * Receive (the default). A socket only sent from (the supervisor's resign sockets) reads
   * nothing: every raw socket of protocol 112 on the host gets a copy of every advert the engine's
   * group membership lets in, which would otherwise be read and thrown away in JavaScript. Its
   * receive buffer is made as small as the kernel allows, so the copies are dropped in the kernel.
   */
  receive?: boolean;
}

export class VrrpSocket {
  readonly family: IpFamily;
  readonly interfaceName: string;
  readonly sourceAddress: string;
  readonly ifindex: number;
  private readonly fd: number;
  private closed = false;
  private readonly receiving: boolean;
  /** Per destination: its sockaddr and the packet info that sets our source (built once). */
  private readonly headers = new Map<string, { to: Buffer; control: Buffer }>();
  /** Datagrams read so far, and the drains that read them (one JavaScript call each). */
  readonly reads = { datagrams: 0, drains: 0 };

  constructor(opts: VrrpSocketOptions) {
    const net = nativeNet();
    this.family = opts.family;
    this.interfaceName = opts.interfaceName;
    this.sourceAddress = opts.sourceAddress;
    this.ifindex = net.ifNameToIndex(opts.interfaceName);
    this.receiving = opts.receive !== false;
    const hops = int32(opts.hopLimit ?? 255);
    this.fd = net.socket(opts.family === 4 ? AF_INET : AF_INET6, SOCK_RAW, VRRP_PROTOCOL);
    try {
      net.setsockopt(this.fd, SOL_SOCKET, SO_BINDTODEVICE, Buffer.from(`${opts.interfaceName}\0`));
      if (opts.family === 4) {
        net.setsockopt(this.fd, IPPROTO_IP, IP_TTL, hops);
        // As keepalived: DSCP CS6 (network control), and no DF bit on the adverts.
        net.setsockopt(this.fd, IPPROTO_IP, IP_TOS, int32(NETWORK_CONTROL));
        net.setsockopt(this.fd, IPPROTO_IP, IP_MTU_DISCOVER, int32(IP_PMTUDISC_DONT));
        net.setsockopt(this.fd, IPPROTO_IP, IP_MULTICAST_TTL, hops);
        net.setsockopt(this.fd, IPPROTO_IP, IP_MULTICAST_LOOP, int32(0));
        net.setsockopt(
          this.fd,
          IPPROTO_IP,
          IP_MULTICAST_IF,
          ipMreqn("0.0.0.0", this.ifindex, opts.sourceAddress),
        );
        if (opts.multicast)
          net.setsockopt(this.fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, ipMreqn(VRRP_MULTICAST_V4, this.ifindex));
      } else {
        net.setsockopt(this.fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, hops);
        net.setsockopt(this.fd, IPPROTO_IPV6, IPV6_TCLASS, int32(NETWORK_CONTROL));
        net.setsockopt(this.fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, hops);
        net.setsockopt(this.fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, int32(0));
        net.setsockopt(this.fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, int32(this.ifindex));
        net.setsockopt(this.fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, int32(1));
        net.setsockopt(this.fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, int32(1));
        if (opts.foreignSource) net.setsockopt(this.fd, IPPROTO_IPV6, IPV6_FREEBIND, int32(1));
        if (opts.multicast)
          net.setsockopt(
            this.fd,
            IPPROTO_IPV6,
            IPV6_ADD_MEMBERSHIP,
            ipv6Mreq(VRRP_MULTICAST_V6, this.ifindex),
          );
      }
      if (opts.receive === false) {
        net.setsockopt(this.fd, SOL_SOCKET, SO_RCVBUF, int32(0));
      } else {
        const onError = (err: Error) => opts.onDrop?.("socket-error", err.message);
        const batch = net.startReading(
          this.fd,
          (count) => this.receiveBatch(opts, batch, count),
          SLOT,
          CONTROL,
          BATCH,
          onError,
          // An IPv4 datagram carries its IP header, which has all the receive checks need.
          opts.family === 4,
        );
      }
    } catch (err) {
      net.close(this.fd);
      throw err;
    }
  }

  /** Sends one VRRP message (already encoded, checksum included) to a group or unicast peer. */
  send(payload: Buffer, destination: string): void {
    let h = this.headers.get(destination);
    if (!h) {
      h = this.header(destination);
      // A few destinations (the group, unicast peers): bounded all the same.
      if (this.headers.size >= 64) this.headers.clear();
      this.headers.set(destination, h);
    }
    nativeNet().sendmsg(this.fd, payload, h.to, h.control);
  }

  private header(destination: string): { to: Buffer; control: Buffer } {
    if (this.family === 4)
      // No bind(): a raw socket bound to an address only receives packets sent to that address,
      // which would cut off the multicast group. The source is set per packet instead.
      return { to: sockaddrIn(destination), control: ipPktinfo(this.sourceAddress) };
    const linkScoped = destination.startsWith("ff02:") || destination.startsWith("fe80:");
    return {
      to: sockaddrIn6(destination, linkScoped ? this.ifindex : 0),
      control: ipv6Pktinfo(this.sourceAddress, this.ifindex),
    };
  }

  /**
   * Coalescing: after each read, wait `ms` before the next (0: none), so that adverts arriving
   * close together are read in one wakeup; drain() reads what waits at once.
   */
  setReadPause(ms: number): void {
    if (!this.closed && this.receiving) nativeNet().setReadPause(this.fd, ms);
  }

  /** Reads (onPacket) what has arrived and not been read yet, before this returns. */
  drain(): void {
    if (!this.closed && this.receiving) nativeNet().drainNow(this.fd);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    nativeNet().close(this.fd);
  }

  /**
   * One drain's datagrams, in order of arrival. Each packet's payload is a view of the batch's
   * buffer, which the next drain overwrites: onPacket must not keep it (the engine decodes it and
   * keeps only what it decoded).
   */
  private receiveBatch(opts: VrrpSocketOptions, batch: ReadBatch, count: number): void {
    this.reads.drains++;
    this.reads.datagrams += count;
    const { data, info, names, control } = batch;
    for (let i = 0; i < count; i++) {
      const f = i * INFO_FIELDS;
      const length = info[f + INFO_LENGTH]!;
      if (info[f + INFO_FLAGS]! & MSG_TRUNC) {
        opts.onDrop?.("truncated", `a datagram longer than ${SLOT} bytes`);
        continue;
      }
      const datagram = data.subarray(i * SLOT, i * SLOT + length);
      if (this.family === 4) this.receive4(opts, datagram);
      else
        this.receive6(
          opts,
          datagram,
          names!.subarray(i * SOCKADDR_SIZE, i * SOCKADDR_SIZE + info[f + INFO_NAME_LENGTH]!),
          control!.subarray(i * CONTROL, i * CONTROL + info[f + INFO_CONTROL_LENGTH]!),
        );
    }
  }

  private receive4(opts: VrrpSocketOptions, data: Buffer): void {
    const ip = parseIpv4Packet(data);
    if (!ip.ok) return opts.onDrop?.(ip.reason, ip.detail);
    opts.onPacket(ip.packet);
  }

  private receive6(opts: VrrpSocketOptions, data: Buffer, from: Buffer, control: Buffer): void {
    const src = parseSockaddr(from);
    if (!src) return opts.onDrop?.("bad-source", "no IPv6 source address");
    let ttl: number | undefined;
    let destination = "::";
    for (const c of parseCmsgs(control)) {
      if (c.level !== IPPROTO_IPV6) continue;
      if (c.type === IPV6_HOPLIMIT && c.data.length >= 4) ttl = c.data.readInt32LE(0);
      if (c.type === IPV6_PKTINFO && c.data.length >= 16)
        destination = bytesToAddress(c.data.subarray(0, 16));
    }
    opts.onPacket({ payload: data, source: src.address, destination, ttl });
  }
}
