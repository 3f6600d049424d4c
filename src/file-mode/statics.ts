// keepalived.conf's static_ipaddress, static_routes and static_rules in the file-mode agent: the
// host's own addresses, routes and rules, added when the agent starts and kept whatever the VRRP
// state, removed when it stops; a reload adds what is new and removes what is gone, leaving the
// rest in place. They carry vipkeeper's mark (IFA_PROTO / protocol 112) like a master's, so a
// removal never takes an admin's that looks the same, and what a killed agent left goes with the
// next start's sweep (which adds them again). The agent's main process holds them: no engine does,
// so an engine's crash or restart never touches them.
import type { Logger } from "pino";
import { IFAPROT_VIPKEEPER } from "../net/netlink.ts";
import { errnoCode } from "../net/native.ts";
import { RtNetlink } from "../net/rtnetlink.ts";
import { ROUTE_SCOPES } from "../net/routes.ts";
import { parseCidr } from "../base/ip.ts";
import type { HostStatics } from "../keepalived/convert.ts";
import { ruleFamily } from "../api/routes.ts";
import { plannedRoute, plannedRules, type PlannedRoute, type PlannedRule } from "../plan/plan.ts";
import { hostRoutes } from "../engine/routes.ts";

interface StaticAddress {
  address: string;
  prefixLength: number;
  family: 4 | 6;
  dev: string;
  label?: string;
  scope?: number;
}

interface Planned {
  addresses: StaticAddress[];
  routes: PlannedRoute[];
  rules: PlannedRule[];
}

const EMPTY: Planned = { addresses: [], routes: [], rules: [] };

/** The statics as requests; a rule without a prefix is IPv4, as `ip rule` takes it. */
export function planStatics(statics: HostStatics | undefined): Planned {
  if (!statics) return EMPTY;
  return {
    addresses: statics.addresses.map((a) => {
      const cidr = parseCidr(a.address)!;
      return {
        address: cidr.address,
        prefixLength: cidr.prefixLength,
        family: cidr.family,
        dev: a.dev,
        ...(a.label !== undefined ? { label: a.label } : {}),
        ...(a.scope !== undefined ? { scope: ROUTE_SCOPES[a.scope] } : {}),
      };
    }),
    routes: statics.routes.map(plannedRoute),
    rules: statics.rules.flatMap((r) => plannedRules(r, ruleFamily(r) ?? 4)),
  };
}

const keyed = <T>(items: readonly T[]) => new Map(items.map((i) => [JSON.stringify(i), i]));
/** What is in `a` and not in `b`. */
const minus = <T>(a: readonly T[], b: readonly T[]) => {
  const other = keyed(b);
  return a.filter((i) => !other.has(JSON.stringify(i)));
};

export class HostStaticsKeeper {
  private current: Planned = EMPTY;
  /** Addresses that were there before us (EEXIST): never removed. */
  private readonly foreign = new Set<string>();
  private readonly log: Logger;

  constructor(log: Logger) {
    this.log = log;
  }

  /** Moves the host from what it holds to `next`: removals first, then additions. Never throws. */
  async apply(next: HostStatics | undefined): Promise<void> {
    const want = planStatics(next);
    const before = this.current;
    this.current = want;
    const gone: Planned = {
      addresses: minus(before.addresses, want.addresses),
      routes: minus(before.routes, want.routes),
      rules: minus(before.rules, want.rules),
    };
    const added: Planned = {
      addresses: minus(want.addresses, before.addresses),
      routes: minus(want.routes, before.routes),
      rules: minus(want.rules, before.rules),
    };
    if ([gone, added].every((p) => p.addresses.length + p.routes.length + p.rules.length === 0)) return;
    const nl = new RtNetlink();
    try {
      const links = new Map((await nl.links()).map((l) => [l.name, l.ifindex]));
      const routes = hostRoutes(nl, (dev) => links.get(dev), this.log);
      await routes.remove(gone.routes, gone.rules);
      for (const a of gone.addresses) await this.address(nl, links, a, "remove");
      for (const a of added.addresses) await this.address(nl, links, a, "add");
      await routes.add(added.routes, added.rules);
      this.log.info(
        {
          added: {
            addresses: added.addresses.length,
            routes: added.routes.length,
            rules: added.rules.length,
          },
          removed: { addresses: gone.addresses.length, routes: gone.routes.length, rules: gone.rules.length },
        },
        "static addresses, routes and rules applied",
      );
    } catch (err) {
      this.log.error({ err: (err as Error).message }, "could not apply static addresses, routes and rules");
    } finally {
      nl.close();
    }
  }

  /** Removes everything held (the agent stops). */
  stop(): Promise<void> {
    return this.apply(undefined);
  }

  private async address(nl: RtNetlink, links: Map<string, number>, a: StaticAddress, op: "add" | "remove") {
    const ifindex = links.get(a.dev);
    const text = `${a.address}/${a.prefixLength} dev ${a.dev}`;
    if (op === "remove" && this.foreign.delete(text)) return;
    if (ifindex === undefined) {
      if (op === "add")
        this.log.error({ address: text }, "could not add a static address: no such interface");
      return;
    }
    const req = {
      ifindex,
      family: a.family,
      address: a.address,
      prefixLength: a.prefixLength,
      nodad: true,
      proto: IFAPROT_VIPKEEPER,
      ...(a.label !== undefined ? { label: a.label } : {}),
      ...(a.scope !== undefined ? { scope: a.scope } : {}),
    };
    try {
      if (op === "add") await nl.addAddress(req);
      else await nl.removeAddress(req);
    } catch (err) {
      const code = errnoCode(err);
      if (op === "add" && code === "EEXIST") {
        this.foreign.add(text);
        this.log.warn({ address: text }, "a static address is there already; left as it is");
      } else if (!(op === "remove" && code === "EADDRNOTAVAIL"))
        this.log.error({ address: text, err: (err as Error).message }, `could not ${op} a static address`);
    }
  }
}
