// The schema pieces of the routes and policy rules a VirtualRouter's master adds (keepalived's
// virtual_routes and virtual_rules); their semantic checks are in ../routes.ts.
import Type from "typebox";

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
