// Reads classic pcap files (as tcpdump writes them) and takes Ethernet frames apart far enough to
// reach the VRRP message: used to check the codec against packets captured from keepalived.
import { readFileSync } from "node:fs";

export interface PcapRecord {
  linkType: number;
  /** Capture time, seconds since the epoch (microsecond resolution). */
  at: number;
  data: Buffer;
}

export function readPcap(path: string): PcapRecord[] {
  const buf = readFileSync(path);
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && buf.readUInt32BE(0) !== 0xa1b2c3d4 && buf.readUInt32BE(0) !== 0xa1b23c4d)
    throw new Error(`${path}: not a classic pcap file`);
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const linkType = u32(20);
  const records: PcapRecord[] = [];
  for (let off = 24; off + 16 <= buf.length;) {
    const caplen = u32(off + 8);
    const at = u32(off) + u32(off + 4) / 1e6;
    records.push({ linkType, at, data: buf.subarray(off + 16, off + 16 + caplen) });
    off += 16 + caplen;
  }
  return records;
}

export interface EthernetFrame {
  destinationMac: string;
  sourceMac: string;
  etherType: number;
  payload: Buffer;
}

const mac = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, "0")).join(":");

export function parseEthernet(frame: Buffer): EthernetFrame {
  return {
    destinationMac: mac(frame.subarray(0, 6)),
    sourceMac: mac(frame.subarray(6, 12)),
    etherType: frame.readUInt16BE(12),
    payload: frame.subarray(14),
  };
}

/** The fixed IPv6 header (no extension headers: VRRP and NA packets carry none). */
export function parseIpv6(packet: Buffer) {
  const payloadLength = packet.readUInt16BE(4);
  const fmt6 = (b: Buffer) => {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
    return groups.join(":");
  };
  return {
    nextHeader: packet[6]!,
    hopLimit: packet[7]!,
    source: fmt6(packet.subarray(8, 24)),
    destination: fmt6(packet.subarray(24, 40)),
    payload: packet.subarray(40, 40 + payloadLength),
  };
}
