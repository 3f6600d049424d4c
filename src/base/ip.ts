// IP address math, the one module for it: parsing is ipaddr.js's job; this module fixes the forms
// vipkeeper uses (canonical text, network-order bytes, prefixes) and the questions it asks of them.
import ipaddr from "ipaddr.js";

export type IpFamily = 4 | 6;

/** The family of a textual address, or undefined when it is not a valid IPv4/IPv6 address. */
export function familyOf(text: string): IpFamily | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return 4;
  if (ipaddr.IPv6.isValid(text)) return 6;
  return undefined;
}

/** Canonical text: dotted quad for IPv4, RFC 5952 form for IPv6. Throws on an invalid address. */
export function canonicalAddress(text: string): string {
  return ipaddr.parse(text).toString();
}

/** A dotted quad of decimal octets without leading zeros: read as ipaddr.js reads it. */
const PLAIN_IPV4 = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;

export function addressToBytes(text: string): Uint8Array {
  // The fast path (every advert's pseudo-header names two addresses) gives what ipaddr.js would.
  const m = PLAIN_IPV4.exec(text);
  if (m) {
    const b = new Uint8Array(4);
    for (let i = 0; i < 4; i++) {
      const octet = Number(m[i + 1]);
      if (octet > 255) return Uint8Array.from(ipaddr.parse(text).toByteArray()); // it throws
      b[i] = octet;
    }
    return b;
  }
  return Uint8Array.from(ipaddr.parse(text).toByteArray());
}

const knownBytes = new Map<string, Uint8Array>();

/**
 * addressToBytes, remembered (a few hundred addresses at most are seen: ours, the group, peers):
 * for the checksum of every advert. The bytes returned are shared: read them, never write them.
 */
export function addressBytesShared(text: string): Uint8Array {
  let bytes = knownBytes.get(text);
  if (!bytes) {
    bytes = addressToBytes(text);
    if (knownBytes.size >= 1024) knownBytes.clear();
    knownBytes.set(text, bytes);
  }
  return bytes;
}

/** IPv4 texts made, by address: every advert names the same few, compared and looked up after. */
const ipv4Texts = new Map<number, string>();

/** The text of the IPv4 address at `offset` in `bytes` (no view of it made). */
export function ipv4AddressAt(bytes: Uint8Array, offset: number): string {
  const n =
    ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>>
    0;
  let text = ipv4Texts.get(n);
  if (text === undefined) {
    // ipaddr.js's IPv4 text: the octets joined by dots.
    text = `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
    if (ipv4Texts.size >= 4096) ipv4Texts.clear();
    ipv4Texts.set(n, text);
  }
  return text;
}

export function bytesToAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return ipv4AddressAt(bytes, 0);
  return ipaddr.fromByteArray(Array.from(bytes)).toString();
}

/** An IPv6 link-local address (fe80::/10): where RFC 9568 5.1.2.1 has IPv6 adverts come from. */
export function isLinkLocalV6(text: string): boolean {
  return familyOf(text) === 6 && ipaddr.IPv6.parse(text).range() === "linkLocal";
}

/** Unsigned comparison in network byte order (RFC 5798 6.4.3: the higher primary address wins a tie). */
export function compareAddresses(a: string, b: string): number {
  const x = addressToBytes(a);
  const y = addressToBytes(b);
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

export interface Cidr {
  family: IpFamily;
  /** Canonical text, without prefix. */
  address: string;
  prefixLength: number;
}

/** "198.18.0.50/24", "2001:db8::50/64" or a bare address (a host prefix, as keepalived assumes). */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  const addr = slash === -1 ? text : text.slice(0, slash);
  const family = familyOf(addr);
  if (family === undefined) return undefined;
  const max = family === 4 ? 32 : 128;
  if (slash === -1) return { family, address: canonicalAddress(addr), prefixLength: max };
  const prefix = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return undefined;
  return { family, address: canonicalAddress(addr), prefixLength: Number(prefix) };
}

/** Whether two addresses of one family share their first `prefixLength` bits. */
export function sameNetwork(a: string, b: string, prefixLength: number): boolean {
  const x = addressToBytes(a);
  const y = addressToBytes(b);
  if (x.length !== y.length) return false;
  for (let bit = 0; bit < prefixLength; bit++) {
    const i = bit >> 3;
    const m = 0x80 >> (bit & 7);
    if ((x[i]! & m) !== (y[i]! & m)) return false;
  }
  return true;
}

/**
 * An address as the kernel would take it: IPv4-mapped IPv6 (::ffff:198.18.0.1) as its IPv4
 * address, canonical; undefined when it is not an address.
 */
export function effectiveAddress(text: string): string | undefined {
  try {
    return ipaddr.process(text).toString();
  } catch {
    return undefined;
  }
}

/** Whether an address (IPv4-mapped counts as IPv4) lies in a CIDR. */
export function inCidr(address: string, cidr: string): boolean {
  const c = parseCidr(cidr);
  const a = effectiveAddress(address);
  const net = c && effectiveAddress(c.address);
  if (!a || !net || familyOf(a) !== familyOf(net)) return false;
  return sameNetwork(a, net, c.prefixLength);
}

/** ipaddr.js's name of the special range an address is in ("loopback", "linkLocal", "unicast", ...). */
export function rangeOf(text: string): string | undefined {
  try {
    return ipaddr.process(text).range();
  } catch {
    return undefined;
  }
}
