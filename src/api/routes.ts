// Routes and policy rules a VirtualRouter's master adds (keepalived's virtual_routes and
// virtual_rules): their schema pieces and semantic checks. Only cluster-scoped objects carry them
// (SECURITY.md): a route steers the node's traffic, which no namespace may do.
import Type from "typebox";
import { familyOf, type IpFamily } from "../base/ip.ts";
import { parseCidr } from "../base/ip.ts";

const ADDRESS_MAX = 64;
/** Linux routing table ids: 1..2^32-1; 255 (local) is the kernel's own. */
const Table = (description: string) => Type.Integer({ minimum: 1, maximum: 4294967295, description });
const InterfaceName = (description: string) =>
  Type.String({ pattern: "^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,14}$", maxLength: 15, description });

export const VirtualRoute = Type.Object(
  {
    to: Type.String({
      maxLength: ADDRESS_MAX,
      description:
        "Destination prefix (CIDR; 0.0.0.0/0 or ::/0 for a default route). Its family picks the instance that adds it.",
    }),
    via: Type.Optional(
      Type.String({ maxLength: ADDRESS_MAX, description: "Gateway address, of the destination's family." }),
    ),
    dev: Type.Optional(InterfaceName("Interface the route leaves by.")),
    src: Type.Optional(
      Type.String({
        maxLength: ADDRESS_MAX,
        description: "Preferred source address (often a virtual address), of the destination's family.",
      }),
    ),
    table: Type.Optional(Table("Routing table id; the main table (254) when absent.")),
    metric: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 4294967295,
        description: "Route metric (priority); 0 when absent.",
      }),
    ),
    type: Type.Optional(
      Type.Union(
        [
          Type.Literal("Unicast"),
          Type.Literal("Blackhole"),
          Type.Literal("Unreachable"),
          Type.Literal("Prohibit"),
        ],
        {
          default: "Unicast",
          description:
            "Unicast (via a gateway or an interface), or a route that discards: Blackhole (silently), Unreachable, Prohibit (with an ICMP error).",
        },
      ),
    ),
    scope: Type.Optional(
      Type.Union([Type.Literal("Global"), Type.Literal("Site"), Type.Literal("Link"), Type.Literal("Host")], {
        description:
          "Route scope; Link for a unicast route with an interface and no gateway, Global otherwise, when absent.",
      }),
    ),
  },
  { additionalProperties: false },
);

export const VirtualRule = Type.Object(
  {
    from: Type.Optional(
      Type.String({ maxLength: ADDRESS_MAX, description: "Source prefix (CIDR or address)." }),
    ),
    to: Type.Optional(
      Type.String({ maxLength: ADDRESS_MAX, description: "Destination prefix (CIDR or address)." }),
    ),
    fwmark: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 4294967295, description: "Firewall mark the packet must carry." }),
    ),
    fwmask: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 4294967295,
        description: "Mask applied to the mark first; all bits when absent.",
      }),
    ),
    iif: Type.Optional(InterfaceName("Incoming interface the packet must come from.")),
    oif: Type.Optional(InterfaceName("Outgoing interface a locally sent packet is bound to.")),
    priority: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 32765,
        description:
          "Rule priority (lower is looked up first), between the local table's rule (0) and main's (32766); the kernel picks one when absent.",
      }),
    ),
    table: Table("Routing table to look the packet up in."),
  },
  { additionalProperties: false },
);

export type VirtualRoute = Type.Static<typeof VirtualRoute>;
export type VirtualRule = Type.Static<typeof VirtualRule>;

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
