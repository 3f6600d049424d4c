/** The Internet checksum (RFC 1071) over the concatenation of the given buffers. */
export function internetChecksum(...parts: readonly Uint8Array[]): number {
  let sum = 0;
  let odd: number | undefined; // a byte left over from the previous part, awaiting its partner
  for (const part of parts) {
    let i = 0;
    if (odd !== undefined && part.length > 0) {
      sum += (odd << 8) | part[0]!;
      odd = undefined;
      i = 1;
    }
    for (; i + 1 < part.length; i += 2) sum += (part[i]! << 8) | part[i + 1]!;
    if (i < part.length) odd = part[i]!;
  }
  if (odd !== undefined) sum += odd << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}
