import { parseCidr, type IpFamily } from "../base/ip.ts";

/**
 * The family a rule (routes.ts' VirtualRule) is for: that of its prefixes; undefined for a rule
 * without any (it applies to every family the router has, each instance adding its own). Here,
 * not beside the rule's schema, so the node's plan loads no schema library.
 */
export function ruleFamily(rule: { from?: string; to?: string }): IpFamily | undefined {
  const prefix = rule.from ?? rule.to;
  return prefix === undefined ? undefined : parseCidr(prefix)?.family;
}
