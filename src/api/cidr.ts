import { canonicalAddress, familyOf, type IpFamily } from "../vrrp/address.ts";

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

/**
 * The family a rule (routes.ts' VirtualRule) is for: that of its prefixes; undefined for a rule
 * without any (it applies to every family the router has, each instance adding its own). Here,
 * not beside the rule's schema, so the node's plan loads no schema library.
 */
export function ruleFamily(rule: { from?: string; to?: string }): IpFamily | undefined {
  const prefix = rule.from ?? rule.to;
  return prefix === undefined ? undefined : parseCidr(prefix)?.family;
}
