// The IPv4 header that a raw IPv4 socket delivers in front of each VRRP message. (A raw IPv6
// socket delivers no header: its hop limit and destination come from ancillary data, if at all.)
import { ipv4AddressAt } from "../base/ip.ts";
import { VRRP_PROTOCOL } from "./packet.ts";

export interface Ipv4Packet {
  ttl: number;
  source: string;
  destination: string;
  payload: Uint8Array;
}

export type Ipv4Rejection = "bad-ip-header" | "fragment" | "not-vrrp";

export type Ipv4Result =
  { ok: true; packet: Ipv4Packet } | { ok: false; reason: Ipv4Rejection; detail: string };

export function parseIpv4Packet(buf: Uint8Array): Ipv4Result {
  const bad = (detail: string): Ipv4Result => ({ ok: false, reason: "bad-ip-header", detail });
  if (buf.length < 20) return bad(`${buf.length} bytes`);
  if (buf[0]! >> 4 !== 4) return bad(`IP version ${buf[0]! >> 4}`);
  const headerLength = (buf[0]! & 0x0f) * 4;
  const totalLength = (buf[2]! << 8) | buf[3]!;
  if (headerLength < 20 || headerLength > totalLength || totalLength > buf.length)
    return bad(`header length ${headerLength}, total length ${totalLength}, received ${buf.length}`);
  const fragment = ((buf[6]! << 8) | buf[7]!) & 0x3fff; // the MF flag and the offset
  if (fragment !== 0) return { ok: false, reason: "fragment", detail: "fragmented VRRP packet" };
  if (buf[9] !== VRRP_PROTOCOL) return { ok: false, reason: "not-vrrp", detail: `protocol ${buf[9]}` };
  return {
    ok: true,
    packet: {
      ttl: buf[8]!,
      source: ipv4AddressAt(buf, 12),
      destination: ipv4AddressAt(buf, 16),
      payload: buf.subarray(headerLength, totalLength),
    },
  };
}
