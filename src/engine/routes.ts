// The engine's RoutePort on this host: a master's routes and policy rules through rtnetlink, each
// marked with vipkeeper's protocol (net/routes.ts). One route that cannot be added (a gateway not
// on any link, an interface missing) is logged and the others still go in: keepalived, too, adds
// what it can. One already there that is not vipkeeper's is left alone, and a removal names the
// protocol, so it is never taken away either.
import type { Logger } from "pino";
import { errnoCode } from "../net/native.ts";
import { RTPROT_VIPKEEPER, type RouteRequest } from "../net/routes.ts";
import type { RtNetlink } from "../net/rtnetlink.ts";
import type { RoutePort } from "./engine.ts";
import type { PlannedRoute, PlannedRule } from "../plan/plan.ts";

const describeRoute = (r: PlannedRoute) =>
  `${r.type === "Unicast" ? "" : `${r.type.toLowerCase()} `}${r.to.address}/${r.to.prefixLength}${r.via ? ` via ${r.via}` : ""}${r.dev ? ` dev ${r.dev}` : ""} table ${r.table}`;
const describeRule = (r: PlannedRule) =>
  `${r.from ? `from ${r.from.address}/${r.from.prefixLength} ` : ""}${r.to ? `to ${r.to.address}/${r.to.prefixLength} ` : ""}${r.fwmark !== undefined ? `fwmark ${r.fwmark} ` : ""}table ${r.table}`;

export function hostRoutes(
  nl: RtNetlink,
  ifindexOf: (dev: string) => number | undefined,
  log: Logger,
): RoutePort {
  const request = (r: PlannedRoute): RouteRequest | string => {
    const { dev, ...rest } = r;
    if (dev === undefined) return rest;
    const ifindex = ifindexOf(dev);
    return ifindex === undefined ? `interface ${dev} does not exist` : { ...rest, ifindex };
  };
  return {
    async add(routes, rules) {
      for (const r of routes) {
        const req = request(r);
        try {
          if (typeof req === "string") throw new Error(req);
          await nl.addRoute(req);
        } catch (err) {
          if (errnoCode(err) === "EEXIST")
            log.warn(
              { route: describeRoute(r) },
              "a route to that destination is there already; left as it is",
            );
          else log.error({ route: describeRoute(r), err: (err as Error).message }, "could not add a route");
        }
      }
      for (const r of rules) {
        try {
          await nl.addRule(r);
        } catch (err) {
          if (errnoCode(err) === "EEXIST")
            log.warn({ rule: describeRule(r) }, "that rule is there already; left as it is");
          else log.error({ rule: describeRule(r), err: (err as Error).message }, "could not add a rule");
        }
      }
    },
    async remove(routes, rules) {
      for (const r of rules) {
        try {
          await nl.removeRule(r);
        } catch (err) {
          if (!["ENOENT", "ESRCH"].includes(errnoCode(err) ?? ""))
            log.error({ rule: describeRule(r), err: (err as Error).message }, "could not remove a rule");
        }
      }
      for (const r of routes) {
        // Removed by destination, table, metric and protocol: the interface may be gone already.
        const { dev: _dev, ...req } = r;
        try {
          await nl.removeRoute(req);
        } catch (err) {
          if (!["ESRCH", "ENOENT"].includes(errnoCode(err) ?? ""))
            log.error({ route: describeRoute(r), err: (err as Error).message }, "could not remove a route");
        }
      }
    },
  };
}

/**
 * Removes every route and rule in this network namespace that carries vipkeeper's protocol: what an
 * earlier run left (routes and rules, unlike addresses, have no lifetime). Returns how many.
 */
export async function removeMarkedRoutes(nl: RtNetlink): Promise<{ routes: number; rules: number }> {
  let routes = 0;
  let rules = 0;
  for (const r of await nl.rules()) {
    if (r.protocol !== RTPROT_VIPKEEPER) continue;
    await nl.removeDumped("rule", r.body).then(() => rules++, ignoreGone);
  }
  for (const r of await nl.routes()) {
    if (r.protocol !== RTPROT_VIPKEEPER) continue;
    await nl.removeDumped("route", r.body).then(() => routes++, ignoreGone);
  }
  return { routes, rules };
}

function ignoreGone(err: unknown): void {
  if (!["ESRCH", "ENOENT"].includes(errnoCode(err) ?? "")) throw err;
}
