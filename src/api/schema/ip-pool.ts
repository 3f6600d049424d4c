// The IPPool object's schema (vipkeeper.io/v1alpha1, cluster-scoped); its meaning is checked in
// ../ip-pool.ts.
import Type from "typebox";
import { ADDRESS_MAX, API_VERSION } from "../constants.ts";
import { LabelSelectorSchema } from "./label-selector.ts";
import { Duration, VirtualRouterSpec } from "./virtual-router.ts";

const LabelSelector = (description: string) => Type.Optional(LabelSelectorSchema(description));

export const IPPoolSpec = Type.Object(
  {
    addresses: Type.Array(
      Type.String({
        maxLength: 2 * ADDRESS_MAX + 3,
        description: "A CIDR (198.18.10.0/24, 2001:db8:10::/64) or a range (198.18.10.10-198.18.10.20).",
        "x-kubernetes-validations": [
          {
            rule: "isCIDR(self) || isIP(self) || self.matches('^[0-9a-fA-F:.]+ *- *[0-9a-fA-F:.]+$')",
            message: "must be a CIDR, an address or a range a-b",
          },
        ],
      }),
      { minItems: 1, maxItems: 64, description: "The pool's addresses, IPv4 and IPv6." },
    ),
    autoAssign: Type.Optional(
      Type.Boolean({ default: true, description: "Give addresses to Services that do not name a pool." }),
    ),
    avoidBuggyIPs: Type.Optional(
      Type.Boolean({ default: false, description: "Skip IPv4 addresses ending in .0 and .255." }),
    ),
    crossNamespaceSharing: Type.Optional(
      Type.Boolean({
        default: true,
        description:
          "Services of different namespaces may share an address when both carry the same vipkeeper.io/sharing-key and each names the other's namespace in vipkeeper.io/sharing-cross-namespace; false forbids it in this pool.",
      }),
    ),
    serviceSelector: LabelSelector("Services that may use the pool (all when empty)."),
    namespaceSelector: LabelSelector("Namespaces whose Services may use the pool (all when empty)."),
    announce: Type.Optional(
      Type.Object(
        {
          routers: Type.Optional(
            Type.Integer({
              minimum: 1,
              maximum: 32,
              default: 2,
              description:
                "How many VirtualRouters the pool's Services are spread over (their masters spread over nodes).",
            }),
          ),
          nodeSelector: Type.Optional(
            Type.Record(Type.String(), Type.String(), { description: "Nodes that may hold the addresses." }),
          ),
          interface: Type.Optional(
            Type.String({ description: "Interface for the addresses (default: the one on their subnet)." }),
          ),
          // The VRRP settings of the generated routers, the same fields as a VirtualRouter's.
          version: VirtualRouterSpec.properties.version,
          advertInterval: Duration("VRRP advertisement interval of the generated routers.", "1s"),
          preempt: VirtualRouterSpec.properties.preempt,
          preemptDelay: VirtualRouterSpec.properties.preemptDelay,
          track: VirtualRouterSpec.properties.track,
          unicast: Type.Optional(
            Type.Boolean({ description: "Send adverts to the nodes' addresses instead of multicast." }),
          ),
          garpRefresh: Duration(
            "Repeat gratuitous ARP / NA this often while master (keeps switch tables fresh).",
            "10s",
          ),
        },
        { additionalProperties: false, description: "How the pool's addresses are kept alive with VRRP." },
      ),
    ),
  },
  { additionalProperties: false },
);

export const IPPool = Type.Object({
  apiVersion: Type.Literal(API_VERSION),
  kind: Type.Literal("IPPool"),
  metadata: Type.Object({ name: Type.String({ minLength: 1 }) }),
  spec: IPPoolSpec,
});

export type IPPoolSpec = Type.Static<typeof IPPoolSpec>;
export type IPPool = Type.Static<typeof IPPool>;
