// Status of the vipkeeper objects: one source for the CRDs' status schemas and the TypeScript
// types the controller and agents write. Conditions have metav1.Condition's shape.
import Type from "typebox";

const Time = (description: string) => Type.String({ description: `${description} (RFC 3339).` });
const State = Type.Union(
  [
    Type.Literal("Init"),
    Type.Literal("Backup"),
    Type.Literal("Master"),
    Type.Literal("Fault"),
    Type.Literal("Stopped"),
  ],
  {
    description:
      "VRRP state of the node's instance as seen on this node; Stopped when it does not run the router.",
  },
);

export const Condition = Type.Object({
  type: Type.String({ description: "Condition type (the kinds' types are listed under conditions)." }),
  status: Type.Union([Type.Literal("True"), Type.Literal("False"), Type.Literal("Unknown")], {
    description: "True, False or Unknown.",
  }),
  reason: Type.String({ description: "CamelCase reason for the last transition." }),
  message: Type.String({ description: "Human-readable detail." }),
  lastTransitionTime: Time("When the status last changed"),
  observedGeneration: Type.Optional(
    Type.Integer({ description: "The generation this condition was computed for." }),
  ),
});

const AdvertHeard = Type.Object(
  {
    from: Type.String({ description: "Source address of the advert." }),
    priority: Type.Integer({ description: "Priority it carried." }),
    at: Time("When it was heard"),
  },
  { description: "The last VRRP advert this node heard for the router (who the master is, seen from here)." },
);

const ForeignAdvert = Type.Object(
  {
    from: Type.String({ description: "Source address of the advert." }),
    priority: Type.Integer({ description: "Priority it carried." }),
    at: Time("When it was last heard (refreshed at most every 20 s while it goes on)"),
  },
  {
    description:
      "The last advert for the router's VRID this node dropped because its source is not a cluster node (the controller's ForeignSpeaker).",
  },
);

export const InstanceEntry = Type.Object({
  family: Type.Union([Type.Literal("IPv4"), Type.Literal("IPv6")], {
    description: "Address family of the instance.",
  }),
  state: State,
  effectivePriority: Type.Integer({ description: "Priority after tracking weights." }),
  since: Time("When the state was entered"),
  lastAdvertHeard: Type.Optional(AdvertHeard),
});

export const NodeEntry = Type.Object({
  name: Type.String({ description: "Node name; each node's agent writes only its own entry." }),
  state: State,
  priority: Type.Optional(Type.Integer({ description: "Configured priority on this node." })),
  effectivePriority: Type.Optional(Type.Integer({ description: "Priority after tracking weights." })),
  interface: Type.Optional(Type.String({ description: "Interface the node speaks VRRP on." })),
  since: Type.Optional(Time("When the state was entered")),
  lastAdvertHeard: Type.Optional(AdvertHeard),
  lastForeignAdvert: Type.Optional(ForeignAdvert),
  lastGratuitousArp: Type.Optional(Time("Last gratuitous ARP / unsolicited neighbour advertisement sent")),
  message: Type.Optional(
    Type.String({ description: "Why the node does not run the router, or a note on how it runs it." }),
  ),
  checks: Type.Optional(
    Type.Object(
      {
        total: Type.Integer({ minimum: 0, description: "Tracked objects (spec.track) on this node." }),
        failing: Type.Array(Type.String({ description: "Kind and name, e.g. interface/eth1." }), {
          maxItems: 64,
          description: "The tracked objects failing now (the first 64).",
        }),
      },
      { description: "Health of this node's tracked objects, which move its priority or put it in Fault." },
    ),
  ),
  instances: Type.Optional(
    Type.Array(InstanceEntry, {
      description:
        "Per address family, when the router has IPv4 and IPv6 addresses (each runs its own instance).",
    }),
  ),
});

const Conditions = (types: string) =>
  Type.Array(Condition, {
    description: `Standard conditions (metav1.Condition), one per type. ${types}`,
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["type"],
  });

const ROUTER_CONDITIONS = [
  "Ready: True while a live node is master and holds the addresses; False with the blocking reason otherwise (NoMaster, VRIDConflict, AddressConflict).",
  "SplitBrain: True when more than one live node claims master for longer than an advert exchange should take.",
  "VRIDConflict: the VRID is already used on the segment by another VirtualRouter (or none is left); this one does not run.",
  "AddressConflict: another VirtualRouter already holds one of the addresses; this one does not run.",
  "ForeignSpeaker: adverts for this VRID come from an address that is not a cluster node (a keepalived or router outside the cluster); agents drop them, and it stays True until a minute after the last.",
  "NoNodes: spec.nodeSelector selects no node.",
  "SyncGroupSplit: the members of spec.syncGroup cannot be master together: they can share no node (NoCommonNode: each is given a master of its own) or some set spec.priorities and some do not (PrioritiesDiffer); the message names them.",
  "Invalid: the spec breaks a rule the schema cannot express; the message names the fields.",
].join(" ");

export const VirtualRouterStatus = Type.Object({
  vrid: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 255,
      description: "The VRID the router runs with (spec.vrid, or allocated by the controller).",
    }),
  ),
  preferredMaster: Type.Optional(
    Type.String({
      description:
        "The node the controller gives priority 200 so masters spread over nodes (when spec.priorities is empty): the same router keeps it while it can, routers of one set of nodes get different ones, and the members of a spec.syncGroup get the same one.",
    }),
  ),
  master: Type.Optional(Type.String({ description: "The node that holds the addresses now (empty: none)." })),
  nodes: Type.Optional(
    Type.Array(NodeEntry, {
      description: "Each selected node's view, written by that node's agent.",
      "x-kubernetes-list-type": "map",
      "x-kubernetes-list-map-keys": ["name"],
    }),
  ),
  conditions: Type.Optional(Conditions(ROUTER_CONDITIONS)),
  observedGeneration: Type.Optional(
    Type.Integer({ description: "The generation the controller last acted on." }),
  ),
});

export const VirtualServerStatus = Type.Object({
  active: Type.Optional(Type.Integer({ description: "Real servers taking traffic on the master." })),
  realServers: Type.Optional(
    Type.Array(
      Type.Object({
        address: Type.String({ description: "Real server address." }),
        port: Type.Integer({ description: "Real server port." }),
        healthy: Type.Boolean({ description: "Passing its health check." }),
        since: Type.Optional(Time("When it last changed")),
      }),
      { description: "Health of each real server, as the master director sees it." },
    ),
  ),
  conditions: Type.Optional(
    Conditions(
      "Ready: True while the service is programmed and its healthy servers' weight meets spec.quorum (the sorry server serves otherwise). Invalid: the spec breaks a rule the schema cannot express.",
    ),
  ),
  observedGeneration: Type.Optional(Type.Integer({ description: "The generation last acted on." })),
});

export const IPPoolStatus = Type.Object({
  allocated: Type.Optional(
    Type.Object(
      {
        ipv4: Type.Optional(Type.Integer({ description: "IPv4 addresses held by Services." })),
        ipv6: Type.Optional(Type.Integer({ description: "IPv6 addresses held by Services." })),
      },
      { description: "Addresses in use." },
    ),
  ),
  available: Type.Optional(
    Type.Object(
      {
        ipv4: Type.Optional(Type.Integer({ minimum: 0, description: "IPv4 addresses left to allocate." })),
        ipv6: Type.Optional(
          Type.Integer({
            minimum: 0,
            description: `IPv6 addresses left to allocate, capped at ${Number.MAX_SAFE_INTEGER} (a /64 holds more).`,
          }),
        ),
      },
      { description: "Addresses left, after avoidBuggyIPs." },
    ),
  ),
  vrids: Type.Optional(
    Type.Array(
      Type.Object({
        segment: Type.String({
          description:
            "The network the pool's generated routers speak on, with the interface when they name one (198.18.0.0/24 on eth0).",
        }),
        used: Type.Integer({
          minimum: 0,
          maximum: 255,
          description: "VRIDs in use on it, by any VirtualRouter.",
        }),
        free: Type.Integer({ minimum: 0, maximum: 255, description: "VRIDs left on it (255 - used)." }),
        routers: Type.Integer({ minimum: 0, description: "The pool's generated routers on it." }),
        waiting: Type.Integer({
          minimum: 0,
          description: "Of those, the ones without a VRID because none was left (see VRIDsExhausted).",
        }),
      }),
      {
        description:
          "VRID use on each segment of the pool's generated routers: a segment has 255 VRIDs, and every generated router needs one.",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["segment"],
      },
    ),
  ),
  conditions: Type.Optional(
    Conditions(
      "Ready: the pool is valid and has addresses left. Exhausted: every address is allocated (Services wait). VRIDsExhausted: True while a generated router of the pool has no VRID because its segment has none left; the message names the segment and how many more were needed, and those routers' Services get a VRIDsExhausted Event. Invalid: the spec breaks a rule the schema cannot express (e.g. overlapping ranges).",
    ),
  ),
  observedGeneration: Type.Optional(Type.Integer({ description: "The generation last acted on." })),
});

export type Condition = Type.Static<typeof Condition>;
export type NodeEntry = Type.Static<typeof NodeEntry>;
export type InstanceEntry = Type.Static<typeof InstanceEntry>;
export type VirtualRouterStatus = Type.Static<typeof VirtualRouterStatus>;
export type IPPoolStatus = Type.Static<typeof IPPoolStatus>;
