// IP address helpers shared by the codec and the state machine. Parsing is ipaddr.js's job;
// this module only fixes the forms vipkeeper uses: canonical text and network-order bytes.
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

export function addressToBytes(text: string): Uint8Array {
  return Uint8Array.from(ipaddr.parse(text).toByteArray());
}

export function bytesToAddress(bytes: Uint8Array): string {
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
