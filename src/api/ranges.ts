// IPPool address ranges: CIDRs ("198.18.10.0/24") and explicit ranges ("198.18.10.5-198.18.10.9"),
// IPv4 and IPv6, as big integers so that an IPv6 /64 is walked lazily, never listed.
import { addressToBytes, bytesToAddress, familyOf, type IpFamily } from "../base/ip.ts";

export interface AddressRange {
  family: IpFamily;
  first: bigint;
  last: bigint;
  /** As written, for messages. */
  text: string;
}

export function toBig(address: string): bigint {
  let n = 0n;
  for (const b of addressToBytes(address)) n = (n << 8n) | BigInt(b);
  return n;
}

export function fromBig(n: bigint, family: IpFamily): string {
  const bytes = new Uint8Array(family === 4 ? 4 : 16);
  for (let i = bytes.length - 1; i >= 0; i--) {
    bytes[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return bytesToAddress(bytes);
}

/** A CIDR or an "a-b" range; a string saying what is wrong otherwise. */
export function parseRange(text: string): AddressRange | string {
  const dash = text.indexOf("-");
  if (dash !== -1) {
    const a = text.slice(0, dash).trim();
    const b = text.slice(dash + 1).trim();
    const fa = familyOf(a);
    const fb = familyOf(b);
    if (!fa || !fb) return `'${text}' is not a range of two IP addresses`;
    if (fa !== fb) return `'${text}' mixes IPv4 and IPv6`;
    const first = toBig(a);
    const last = toBig(b);
    if (first > last) return `'${text}' starts after it ends`;
    return { family: fa, first, last, text };
  }
  const slash = text.indexOf("/");
  const addr = slash === -1 ? text : text.slice(0, slash);
  const family = familyOf(addr);
  if (!family) return `'${text}' is not an IP address, CIDR or range`;
  const bits = family === 4 ? 32 : 128;
  // A bare address is a range of one.
  const prefixText = slash === -1 ? String(bits) : text.slice(slash + 1);
  const prefix = Number(prefixText);
  if (!/^\d+$/.test(prefixText) || prefix > bits) return `'${text}' has an invalid prefix length`;
  const size = 1n << BigInt(bits - prefix);
  const first = (toBig(addr) / size) * size;
  return { family, first, last: first + size - 1n, text };
}

/** IPv4 addresses ending in .0 or .255, which some old clients and routers mishandle. */
export function isBuggy(n: bigint, family: IpFamily): boolean {
  if (family !== 4) return false;
  const low = n & 0xffn;
  return low === 0n || low === 255n;
}

export function contains(r: AddressRange, address: string): boolean {
  const family = familyOf(address);
  if (family !== r.family) return false;
  const n = toBig(address);
  return n >= r.first && n <= r.last;
}

export function overlaps(a: AddressRange, b: AddressRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}
