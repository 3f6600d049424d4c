// Routes and policy rules a VirtualRouter's master adds (keepalived's virtual_routes and
// virtual_rules): their semantic checks (their schema: schema/routes.ts). Only cluster-scoped
// objects carry them (SECURITY.md): a route steers the node's traffic, which no namespace may do.
import { familyOf, type IpFamily } from "../base/ip.ts";
import { parseCidr } from "../base/ip.ts";
import type { VirtualRoute, VirtualRule } from "./schema/routes.ts";

export type { VirtualRoute, VirtualRule } from "./schema/routes.ts";
export { ruleFamily } from "./rule-family.ts";

type Err = (field: string, message: string) => void;

/** Semantic checks of routes and rules; `families` are those of the router's addresses. */
export function validateRoutesAndRules(
  routes: readonly VirtualRoute[] | undefined,
  rules: readonly VirtualRule[] | undefined,
  families: ReadonlySet<IpFamily>,
  err: Err,
  at = { routes: "routes", rules: "rules" },
): void {
  const seenRoutes = new Map<string, number>();
  routes?.forEach((r, i) => {
    const f = `${at.routes}[${i}]`;
    const to = parseCidr(r.to);
    if (!to) return err(`${f}.to`, `'${r.to}' is not an IPv4 or IPv6 prefix`);
    if (!families.has(to.family))
      err(
        `${f}.to`,
        `${r.to} is IPv${to.family}, but no virtual address of that family is: no instance would add it`,
      );
    for (const key of ["via", "src"] as const) {
      const v = r[key];
      if (v === undefined) continue;
      const family = familyOf(v);
      if (family === undefined) err(`${f}.${key}`, `'${v}' is not an IP address`);
      else if (family !== to.family)
        err(`${f}.${key}`, `${v} is IPv${family}, but ${r.to} is IPv${to.family}`);
    }
    if (r.table === 255) err(`${f}.table`, "255 is the kernel's local table");
    const type = r.type ?? "Unicast";
    if (type === "Unicast" && r.via === undefined && r.dev === undefined)
      err(f, "a Unicast route needs via (a gateway) or dev (an interface)");
    if (type !== "Unicast" && (r.via !== undefined || r.dev !== undefined))
      err(`${f}.type`, `a ${type} route discards its traffic: it takes no via or dev`);
    // The kernel keys a route by destination, table and metric: a second one would fail to add.
    const key = `${to.address}/${to.prefixLength}@${r.table ?? 254}#${r.metric ?? 0}`;
    const first = seenRoutes.get(key);
    if (first !== undefined)
      err(
        `${f}.to`,
        `${r.to} in table ${r.table ?? 254} with metric ${r.metric ?? 0} is already spec.${at.routes}[${first}]`,
      );
    else seenRoutes.set(key, i);
  });
  rules?.forEach((r, i) => {
    const f = `${at.rules}[${i}]`;
    const prefixes = (["from", "to"] as const).flatMap((k) => {
      const v = r[k];
      if (v === undefined) return [];
      const cidr = parseCidr(v);
      if (!cidr) {
        err(`${f}.${k}`, `'${v}' is not an IPv4 or IPv6 address or prefix`);
        return [];
      }
      if (!families.has(cidr.family))
        err(
          `${f}.${k}`,
          `${v} is IPv${cidr.family}, but no virtual address of that family is: no instance would add it`,
        );
      return [{ k, family: cidr.family }];
    });
    if (prefixes.length === 2 && prefixes[0]!.family !== prefixes[1]!.family)
      err(`${f}.to`, `${r.to} and ${r.from} are of different families`);
    if (r.fwmask !== undefined && r.fwmark === undefined) err(`${f}.fwmask`, "a mask needs a fwmark");
    if (r.table === 255) err(`${f}.table`, "255 is the kernel's local table");
  });
}
