// Announcing a virtual address: gratuitous ARP (IPv4) and unsolicited neighbour advertisement
// (IPv6), laid out like keepalived's (see test/vectors), so switches and neighbours move to us.
import { addressToBytes } from "../base/ip.ts";
import {
  AF_INET6,
  AF_PACKET,
  ETH_P_ARP,
  ICMP6_FILTER,
  int32,
  IPPROTO_ICMPV6,
  IPV6_MULTICAST_HOPS,
  IPPROTO_IPV6,
  ipv6Pktinfo,
  SOCK_RAW,
  sockaddrIn6,
  sockaddrLl,
} from "./linux.ts";
import { nativeNet } from "./native.ts";

const BROADCAST = Buffer.alloc(6, 0xff);

/** Ethernet frame of an ARP request (broadcast) from `mac`/`sender` for `target`, target MAC as given. */
export function arpRequestFrame(
  mac: Uint8Array,
  sender: string,
  target: string,
  targetMac: Uint8Array,
): Buffer {
  const f = Buffer.alloc(42);
  BROADCAST.copy(f, 0);
  f.set(mac, 6);
  f.writeUInt16BE(ETH_P_ARP, 12);
  f.writeUInt16BE(1, 14); // Ethernet
  f.writeUInt16BE(0x0800, 16); // IPv4
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(1, 20); // request
  f.set(mac, 22);
  f.set(addressToBytes(sender), 28);
  f.set(targetMac, 32);
  f.set(addressToBytes(target), 38);
  return f;
}

/** Ethernet frame of a gratuitous ARP request: sender and target are the address; target MAC broadcast. */
export function garpFrame(mac: Uint8Array, address: string): Buffer {
  return arpRequestFrame(mac, address, address, BROADCAST);
}

/**
 * An ICMPv6 neighbour discovery message (solicitation or advertisement) for `target`, with one
 * link-layer address option (the kernel fills the checksum).
 */
export function neighbourMessage(
  type: 135 | 136,
  flags: number,
  target: string,
  option: "source" | "target",
  mac: Uint8Array,
): Buffer {
  const m = Buffer.alloc(32);
  m[0] = type;
  m.writeUInt32BE(flags, 4);
  m.set(addressToBytes(target), 8);
  m[24] = option === "source" ? 1 : 2; // source / target link-layer address
  m[25] = 1; // in units of 8 bytes
  m.set(mac, 26);
  return m;
}

/** Neighbour advertisement with the override flag (not a router, not solicited) and our MAC. */
export function unsolicitedNa(mac: Uint8Array, address: string): Buffer {
  return neighbourMessage(136, 0x20000000, address, "target", mac);
}

/** One interface's announcer: an AF_PACKET socket for ARP and a raw ICMPv6 socket for NA. */
export class Announcer {
  private readonly ifindex: number;
  private readonly mac: Buffer;
  private arpFd: number | undefined;
  private naFd: number | undefined;

  constructor(interfaceName: string, mac: Buffer) {
    this.ifindex = nativeNet().ifNameToIndex(interfaceName);
    this.mac = mac;
  }

  announce(address: string): void {
    const net = nativeNet();
    if (!address.includes(":")) {
      this.arpFd ??= net.socket(AF_PACKET, SOCK_RAW, 0); // protocol 0: send only, receive nothing
      net.sendmsg(
        this.arpFd,
        garpFrame(this.mac, address),
        sockaddrLl(this.ifindex, ETH_P_ARP, BROADCAST),
        null,
      );
      return;
    }
    if (this.naFd === undefined) {
      const fd = net.socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
      net.setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, Buffer.alloc(32, 0xff)); // receive nothing
      net.setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, int32(255));
      this.naFd = fd;
    }
    net.sendmsg(
      this.naFd,
      unsolicitedNa(this.mac, address),
      sockaddrIn6("ff02::1", this.ifindex),
      ipv6Pktinfo(address, this.ifindex),
    );
  }

  close(): void {
    const net = nativeNet();
    if (this.arpFd !== undefined) net.close(this.arpFd);
    if (this.naFd !== undefined) net.close(this.naFd);
    this.arpFd = this.naFd = undefined;
  }
}
