// The fault lab's answer probe, run in the client's namespace: every period it asks who has each
// virtual address (an ARP request for IPv4, a neighbour solicitation to the solicited-node group
// for IPv6) and prints one JSON line per answer: {"at": epoch ms, "vip", "mac"}. One long-lived
// process on the project's socket addon, instead of an arping or ndisc6 process per probe (100 a
// second for each address). Both families answer from the kernel of whichever node holds the
// address, so two holders give two answers and none gives silence.
//   node src/lab/neighbour-prober.ts DEV MAC IPV4 IPV6 PERIOD_MS VIP...
import { fileURLToPath } from "node:url";
import { addressToBytes, bytesToAddress } from "../base/ip.ts";
import { arpRequestFrame, neighbourMessage } from "../net/announce.ts";
import {
  AF_INET6,
  AF_PACKET,
  ETH_P_ARP,
  ICMP6_FILTER,
  int32,
  IPPROTO_ICMPV6,
  IPPROTO_IPV6,
  IPV6_MULTICAST_HOPS,
  IPV6_UNICAST_HOPS,
  ipv6Pktinfo,
  SOCK_RAW,
  sockaddrIn6,
  sockaddrLl,
} from "../net/linux.ts";
import { nativeNet, readDatagrams } from "../net/native.ts";

const NEIGHBOUR_SOLICITATION = 135;
const NEIGHBOUR_ADVERTISEMENT = 136;
const BROADCAST = Buffer.alloc(6, 0xff);

/** An ARP request from us (sender) for `target`. */
export function arpRequest(mac: Uint8Array, source: string, target: string): Buffer {
  return arpRequestFrame(mac, source, target, Buffer.alloc(6)); // target MAC unknown: zero
}

/** An ARP reply addressed to `mac`: the address it answers for and the replier's MAC. */
export function parseArpReply(frame: Buffer, mac: Uint8Array): { address: string; mac: string } | undefined {
  if (frame.length < 42 || frame.readUInt16BE(12) !== ETH_P_ARP || frame.readUInt16BE(20) !== 2)
    return undefined;
  if (!frame.subarray(32, 38).equals(Buffer.from(mac))) return undefined;
  return { address: bytesToAddress(frame.subarray(28, 32)), mac: macText(frame.subarray(22, 28)) };
}

/** A neighbour solicitation for `target` with our link-layer address. */
export function neighbourSolicitation(mac: Uint8Array, target: string): Buffer {
  return neighbourMessage(NEIGHBOUR_SOLICITATION, 0, target, "source", mac);
}

/** ff02::1:ffXX:XXXX, where the solicitation for `target` goes. */
export function solicitedNode(target: string): string {
  const b = addressToBytes(target);
  const g = Buffer.from("ff020000000000000000000000000000", "hex");
  g[11] = 1;
  g[12] = 0xff;
  g.set(b.subarray(13), 13);
  return bytesToAddress(g);
}

/** A solicited neighbour advertisement: the address it answers for and its target link-layer address. */
export function parseSolicitedAdvert(icmp: Buffer): { address: string; mac: string } | undefined {
  if (icmp.length < 24 || icmp[0] !== NEIGHBOUR_ADVERTISEMENT || (icmp[4]! & 0x40) === 0) return undefined;
  for (let o = 24; o + 8 <= icmp.length && icmp[o + 1]! > 0; o += icmp[o + 1]! * 8)
    if (icmp[o] === 2)
      return { address: bytesToAddress(icmp.subarray(8, 24)), mac: macText(icmp.subarray(o + 2, o + 8)) };
  return undefined;
}

const macText = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");

function main(argv: string[]): void {
  const [dev, macArg, ipv4, ipv6, periodArg, ...vips] = argv;
  if (!dev || !macArg || !ipv4 || !ipv6 || !periodArg || vips.length === 0)
    throw new Error("usage: neighbour-prober DEV MAC IPV4 IPV6 PERIOD_MS VIP...");
  const net = nativeNet();
  const ifindex = net.ifNameToIndex(dev);
  const mac = Buffer.from(macArg.split(":").map((x) => parseInt(x, 16)));
  const print = (a: { address: string; mac: string }) =>
    vips.includes(a.address) &&
    process.stdout.write(`${JSON.stringify({ at: Date.now(), vip: a.address, mac: a.mac })}\n`);

  // ARP: an AF_PACKET socket bound to ARP frames of the device (protocol in network order).
  const arp = net.socket(AF_PACKET, SOCK_RAW, ((ETH_P_ARP & 0xff) << 8) | (ETH_P_ARP >> 8));
  net.bind(arp, sockaddrLl(ifindex, ETH_P_ARP));
  readDatagrams(
    arp,
    (frame) => {
      const a = parseArpReply(frame, mac);
      if (a) print(a);
    },
    { bufferSize: 128, batchSize: 16, dataOnly: true },
  );

  // ND: a raw ICMPv6 socket that lets only neighbour advertisements in.
  const nd = net.socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
  const filter = Buffer.alloc(32, 0xff);
  // ICMP6_FILTER_SETPASS: a set bit blocks its type; words in host order.
  const word = 4 * (NEIGHBOUR_ADVERTISEMENT >> 5);
  filter.writeUInt32LE((filter.readUInt32LE(word) & ~(1 << (NEIGHBOUR_ADVERTISEMENT & 31))) >>> 0, word);
  net.setsockopt(nd, IPPROTO_ICMPV6, ICMP6_FILTER, filter);
  net.setsockopt(nd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, int32(255));
  net.setsockopt(nd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, int32(255));
  readDatagrams(
    nd,
    (icmp) => {
      const a = parseSolicitedAdvert(icmp);
      if (a) print(a);
    },
    { bufferSize: 256, batchSize: 16, dataOnly: true },
  );

  const ask = () => {
    for (const vip of vips) {
      try {
        if (vip.includes(":"))
          net.sendmsg(
            nd,
            neighbourSolicitation(mac, vip),
            sockaddrIn6(solicitedNode(vip), ifindex),
            ipv6Pktinfo(ipv6, ifindex),
          );
        else net.sendmsg(arp, arpRequest(mac, ipv4, vip), sockaddrLl(ifindex, ETH_P_ARP, BROADCAST), null);
      } catch (err) {
        // The link can be down under a fault: the next round tries again.
        process.stderr.write(`probe ${vip}: ${(err as Error).message}\n`);
      }
    }
  };
  setInterval(ask, Number(periodArg));
  ask();
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
