// The VirtualRouter object's schema (vipkeeper.io/v1alpha1): one TypeScript source for its type,
// its defaults and its structural schema (the CRD's openAPIV3Schema). Its meaning is checked in
// ../virtual-router.ts; the agent checks the structure with the code generated from this
// (../generated/structural.ts) and never loads typebox for a valid object.
import Type from "typebox";
import { API_VERSION, ADDRESS_MAX, DURATION_PATTERN, INTERFACE_NAME_PATTERN } from "../constants.ts";
import { LabelSelectorSchema } from "./label-selector.ts";
import { VirtualRoute, VirtualRule } from "./routes.ts";

/** keepalived's notify_master / _backup / _fault / _stop and notify: one shell command each. */
function transitionScripts(
  words: Record<"master" | "backup" | "fault" | "stop" | "any", string>,
  description: string,
) {
  const one = (d: string) => Type.Optional(Type.String({ description: d }));
  return Type.Object(
    {
      master: one(words.master),
      backup: one(words.backup),
      fault: one(words.fault),
      stop: one(words.stop),
      any: one(words.any),
    },
    { additionalProperties: false, description },
  );
}

/** An optional duration field, with its default. */
export const Duration = (description: string, def: string) =>
  Type.Optional(Type.String({ description, default: def, pattern: DURATION_PATTERN }));

const Weight = Type.Optional(
  Type.Integer({
    minimum: -254,
    maximum: 254,
    description:
      "How the object moves the priority: a positive weight is added while it is healthy, a negative one subtracted while it has failed; 0 puts the router in Fault while it has failed.",
  }),
);

export const VirtualAddress = Type.Object(
  {
    address: Type.String({
      maxLength: ADDRESS_MAX,
      description:
        "IPv4 or IPv6 address with an optional prefix length, e.g. 198.18.0.50/24 or 2001:db8::50/64.",
    }),
    dev: Type.Optional(
      Type.String({ description: "Interface to bind the address on; defaults to spec.interface." }),
    ),
    label: Type.Optional(
      Type.String({
        description: "IPv4 address label (like keepalived's), starting with the interface name.",
      }),
    ),
  },
  { additionalProperties: false },
);

const GrantedPort = Type.Object(
  {
    port: Type.Integer({ minimum: 1, maximum: 65535, description: "First (or only) port." }),
    endPort: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 65535, description: "Last port of a range (inclusive)." }),
    ),
    protocol: Type.Optional(
      Type.Union([Type.Literal("TCP"), Type.Literal("UDP"), Type.Literal("SCTP")], {
        description: "TCP, UDP or SCTP; every protocol when absent.",
      }),
    ),
  },
  { additionalProperties: false },
);

/** What the admin lets the VirtualServers of some namespaces do with this router. */
export const VirtualServerGrant = Type.Object(
  {
    namespaceSelector: LabelSelectorSchema(
      "The namespaces this grant is for (Namespaces carry kubernetes.io/metadata.name: <name>); an empty selector picks every namespace.",
    ),
    addresses: Type.Optional(
      Type.Array(Type.String({ maxLength: ADDRESS_MAX }), {
        maxItems: 255,
        description:
          "Virtual addresses (or CIDRs) their VirtualServers may serve. This router's own addresses when absent.",
      }),
    ),
    ports: Type.Optional(
      Type.Array(GrantedPort, {
        maxItems: 64,
        description: "Virtual ports they may serve; every port when absent.",
      }),
    ),
    fwmarks: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1, maximum: 4_294_967_295 }), {
        maxItems: 64,
        description:
          "Firewall marks they may balance (spec.fwmark selects whatever traffic the admin's firewall marks); none when absent.",
      }),
    ),
    allowExec: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          "Allow exec health checks (a command run as root on every node of the router). Needs the agent's --allow-scripts too.",
      }),
    ),
    allowNodeLocal: Type.Optional(
      Type.Boolean({
        default: false,
        description:
          "Allow real servers (and sorry servers) on loopback, link-local or unspecified addresses, or on an address of a node or a virtual address: health checks and traffic would come from the host network to node-local ports.",
      }),
    ),
  },
  { additionalProperties: false },
);

export const VirtualRouterSpec = Type.Object(
  {
    vrid: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 255,
        description: "Virtual Router ID, unique per segment. Allocated by the controller when left out.",
      }),
    ),
    version: Type.Optional(
      Type.Union([Type.Literal(2), Type.Literal(3)], {
        default: 3,
        description: "VRRP version: 3 (RFC 9568) or 2 (RFC 3768, IPv4 only).",
      }),
    ),
    addresses: Type.Array(VirtualAddress, {
      minItems: 1,
      maxItems: 255,
      description:
        "The virtual addresses. IPv4 and IPv6 addresses each run their own VRRP instance with the same VRID.",
    }),
    interface: Type.Optional(
      Type.String({ description: "Interface that speaks VRRP and holds the addresses (e.g. eth0)." }),
    ),
    virtualMAC: Type.Optional(
      Type.Object(
        {
          interface: Type.Optional(
            Type.String({
              pattern: INTERFACE_NAME_PATTERN,
              maxLength: 15,
              description:
                "Name of the macvlan interface that carries the virtual MAC. When absent: vrrp.<vrid>, as keepalived names it, and vrrp6.<vrid> for the IPv6 instance of a router with addresses of both families. Only for routers whose addresses are all of one family.",
            }),
          ),
          advertsOnParent: Type.Optional(
            Type.Boolean({
              default: false,
              description:
                "Send and receive adverts on spec.interface with its own MAC instead of on the virtual MAC's interface (keepalived's vmac_xmit_base); announcements still come from the virtual MAC.",
            }),
          ),
        },
        {
          additionalProperties: false,
          description:
            "Use RFC 5798's virtual MAC (00:00:5e:00:01:<vrid> for IPv4, 00:00:5e:00:02:<vrid> for IPv6) on a macvlan of spec.interface, as keepalived's use_vmac: each node creates the macvlan (private mode) when the router starts and removes it when it stops, binds the addresses without a dev of their own on it while master, and announces them from it, so the addresses' MAC moves with the master and neighbours with a stale ARP or ND entry keep reaching it. The parent interface is set to answer ARP only for its own addresses (arp_ignore 1, arp_filter 1, arp_announce 2).",
        },
      ),
    ),
    routes: Type.Optional(
      Type.Array(VirtualRoute, {
        maxItems: 255,
        description:
          "Routes the master adds when it becomes master and removes when it leaves (keepalived's virtual_routes), marked as vipkeeper's (protocol 112) so that only they are removed. One already there that is not vipkeeper's is left as it is.",
      }),
    ),
    rules: Type.Optional(
      Type.Array(VirtualRule, {
        maxItems: 255,
        description:
          "Policy routing rules the master adds when it becomes master and removes when it leaves (keepalived's virtual_rules), marked as vipkeeper's (protocol 112). A rule without from or to is added for each family of the addresses.",
      }),
    ),
    nodeSelector: Type.Optional(
      Type.Record(Type.String(), Type.String(), {
        description: "Nodes that take part (label selector); all when empty.",
      }),
    ),
    priorities: Type.Optional(
      Type.Array(
        Type.Object(
          {
            node: Type.String({ maxLength: 253, description: "Node name." }),
            priority: Type.Integer({
              minimum: 1,
              maximum: 255,
              description: "1..254, or 255 for the node that owns the addresses.",
            }),
          },
          { additionalProperties: false },
        ),
        {
          maxItems: 1000,
          description:
            "Per-node priorities; the highest priority alive is master. At most one node has 255 (the address owner).",
        },
      ),
    ),
    advertInterval: Duration(
      "Advertisement interval: v3 from 10ms to 40.95s in 10ms steps, v2 whole seconds.",
      "1s",
    ),
    preempt: Type.Optional(
      Type.Boolean({
        default: true,
        description: "A higher priority takes mastership back from a lower one.",
      }),
    ),
    preemptDelay: Duration(
      "How long to wait after seeing a lower-priority master before preempting it.",
      "0s",
    ),
    syncGroup: Type.Optional(
      Type.String({
        pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        maxLength: 63,
        description:
          "Routers with the same syncGroup move together (keepalived's vrrp_sync_group): one in Fault puts all in Fault, one that leaves Master takes the others out of Master, and they become Master only together. Honoured in file mode and in cluster mode, where one engine per node runs all of that node's routers and the controller gives a group's members one preferred master, on a node they all select, and the same priority on every node (it spreads the group as one unit, weighing as many masters as it has members). Members that can share no node (nodeSelector, maintenance), or some with spec.priorities and some without, cannot be master together: their status gets the condition SyncGroupSplit. Give every member the same spec.priorities, or none.",
      }),
    ),
    accept: Type.Optional(
      Type.Boolean({
        default: true,
        description:
          "The master accepts traffic to the addresses (keepalived's behaviour unless vrrp_strict; RFC 9568 Accept_Mode).",
      }),
    ),
    unicast: Type.Optional(
      Type.Object(
        {
          peers: Type.Optional(
            Type.Array(Type.String({ maxLength: ADDRESS_MAX }), {
              maxItems: 64,
              description: "Peer addresses to send adverts to instead of multicast.",
            }),
          ),
        },
        { additionalProperties: false, description: "Unicast adverts, for networks that block multicast." },
      ),
    ),
    authentication: Type.Optional(
      Type.Object(
        {
          type: Type.Literal("PASS", {
            description: "VRRPv2 simple password (keepalived's auth_type PASS).",
          }),
          password: Type.Optional(
            Type.String({ maxLength: 8, description: "Up to 8 characters (file mode)." }),
          ),
          secretRef: Type.Optional(
            Type.Object(
              { name: Type.String(), key: Type.String() },
              { additionalProperties: false, description: "Secret holding the password (cluster mode)." },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    track: Type.Optional(
      Type.Object(
        {
          interfaces: Type.Optional(
            Type.Array(
              Type.Object({ name: Type.String(), weight: Weight }, { additionalProperties: false }),
              {
                description:
                  "Interfaces whose link state moves the priority (weight) or puts the router in Fault (weight 0).",
              },
            ),
          ),
          files: Type.Optional(
            Type.Array(
              Type.Object({ path: Type.String(), weight: Weight }, { additionalProperties: false }),
              {
                description: "Files whose presence means failure (keepalived's maintenance-file check).",
              },
            ),
          ),
          endpoints: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  namespace: Type.String({ minLength: 1, description: "The Service's namespace." }),
                  service: Type.String({ minLength: 1, description: "The Service's name." }),
                  weight: Weight,
                },
                { additionalProperties: false },
              ),
              {
                description:
                  "Services whose ready endpoints on this node count as healthy (cluster mode); none ready is a failure. With weight 0 a node without a local endpoint cannot be master (externalTrafficPolicy: Local).",
              },
            ),
          ),
          pods: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  namespace: Type.String({ minLength: 1, description: "The pods' namespace." }),
                  matchLabels: Type.Record(Type.String(), Type.String(), {
                    description: "Labels the pods must all have.",
                  }),
                  minReady: Type.Optional(
                    Type.Integer({ minimum: 1, default: 1, description: "Ready pods needed on this node." }),
                  ),
                  weight: Weight,
                },
                { additionalProperties: false },
              ),
              {
                description:
                  "Pods on this node (cluster mode): fewer ready than minReady is a failure (e.g. an ingress controller that must run where the address is).",
              },
            ),
          ),
          scripts: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  name: Type.String({ minLength: 1, description: "A name for logs and status." }),
                  command: Type.String({
                    minLength: 1,
                    description:
                      "Shell command (bash -c); exit status 0 is healthy. Runs only where the agent's own configuration allows scripts.",
                  }),
                  interval: Duration("Time between runs.", "1s"),
                  timeout: Duration("A run that takes longer has failed (and is killed).", "0s"),
                  rise: Type.Optional(
                    Type.Integer({
                      minimum: 1,
                      maximum: 1000,
                      default: 1,
                      description: "Successes in a row that make it healthy.",
                    }),
                  ),
                  fall: Type.Optional(
                    Type.Integer({
                      minimum: 1,
                      maximum: 1000,
                      default: 1,
                      description: "Failures in a row that make it failed.",
                    }),
                  ),
                  weight: Weight,
                },
                { additionalProperties: false },
              ),
              { description: "Commands run periodically (keepalived's vrrp_script / track_script)." },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    notify: Type.Optional(
      Type.Object(
        {
          scripts: Type.Optional(
            transitionScripts(
              {
                master: "Run on becoming master.",
                backup: "Run on becoming backup.",
                fault: "Run on entering Fault.",
                stop: "Run when the instance stops.",
                any: "Run on every transition with keepalived's arguments appended: INSTANCE <name> MASTER|BACKUP|FAULT|STOP <priority>.",
              },
              "Shell commands (bash -c) run on transitions, as keepalived's notify_* do; never waited for by VRRP. Run only where the agent's own configuration allows scripts.",
            ),
          ),
          syncGroupScripts: Type.Optional(
            transitionScripts(
              {
                master: "Run when every member is master.",
                backup: "Run when the group is backup.",
                fault: "Run when a member is in Fault.",
                stop: "Run when the group stops.",
                any: "Run on every change of the group's state with keepalived's arguments appended: GROUP <syncGroup> MASTER|BACKUP|FAULT|STOP.",
              },
              "The sync group's own scripts (keepalived's vrrp_sync_group notify_*), run on the node once per change of the group's state (master: every member master; fault: any member in Fault; backup otherwise). Needs spec.syncGroup; set them on one member (where several do, the first by name is run). Run only where the agent's own configuration allows scripts.",
            ),
          ),
          webhooks: Type.Optional(
            Type.Array(
              Type.Object(
                {
                  url: Type.String({
                    pattern: "^https?://",
                    description: "Receives a JSON POST per transition.",
                  }),
                  timeout: Duration("Per attempt.", "5s"),
                  retries: Type.Optional(
                    Type.Integer({
                      minimum: 0,
                      maximum: 10,
                      default: 3,
                      description: "Attempts after the first.",
                    }),
                  ),
                },
                { additionalProperties: false },
              ),
            ),
          ),
          mail: Type.Optional(
            Type.Object(
              {
                to: Type.Array(Type.String({ minLength: 3 }), { minItems: 1 }),
                from: Type.String({ minLength: 3 }),
                server: Type.String({ description: "SMTP server, HOST or HOST:PORT (port 25 by default)." }),
                connectTimeout: Duration("keepalived's smtp_connect_timeout.", "30s"),
                routerId: Type.Optional(
                  Type.String({ description: "Names this node in subjects (keepalived's router_id)." }),
                ),
              },
              {
                additionalProperties: false,
                description: "Mail on each transition, as keepalived's smtp_alert.",
              },
            ),
          ),
        },
        { additionalProperties: false, description: "What to tell, and whom, on each transition." },
      ),
    ),
    garp: Type.Optional(
      Type.Object(
        {
          delay: Duration("When to send the second burst of announcements after becoming master.", "5s"),
          repeat: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 100, default: 5, description: "Announcements per burst." }),
          ),
          interval: Duration("Pause between the announcements of a burst.", "0s"),
          refresh: Duration("Repeat a burst this often while master (0: never).", "0s"),
          refreshRepeat: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 100, default: 1, description: "Announcements per refresh." }),
          ),
        },
        {
          additionalProperties: false,
          description: "Gratuitous ARP / unsolicited neighbour advertisements.",
        },
      ),
    ),
    virtualServers: Type.Optional(
      Type.Object(
        {
          from: Type.Array(VirtualServerGrant, {
            maxItems: 100,
            description:
              "Grants, each to the namespaces its selector picks. A VirtualServer is programmed when one grant that picks its namespace allows all of it.",
          }),
        },
        {
          additionalProperties: false,
          description:
            "Which namespaces may attach VirtualServers to this router (their spec.routerRef), and what those may use. None may when absent: a VirtualServer is namespaced, its router is the admin's, and every node of the router programs it as root.",
        },
      ),
    ),
    v3Ipv4Checksum: Type.Optional(
      Type.Union([Type.Literal("PseudoHeader"), Type.Literal("Plain")], {
        default: "PseudoHeader",
        description:
          "VRRPv3 over IPv4: include the IPv4 pseudo-header in the checksum (keepalived's default) or not (RFC 9568, keepalived's v3_checksum_as_v2). Both are accepted on receipt.",
      }),
    ),
  },
  { additionalProperties: false },
);

export const VirtualRouter = Type.Object({
  apiVersion: Type.Literal(API_VERSION),
  kind: Type.Literal("VirtualRouter"),
  metadata: Type.Object({
    name: Type.String({ minLength: 1 }),
    annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
  }),
  spec: VirtualRouterSpec,
});

export type VirtualAddress = Type.Static<typeof VirtualAddress>;
export type VirtualRouterSpec = Type.Static<typeof VirtualRouterSpec>;
export type VirtualRouter = Type.Static<typeof VirtualRouter>;
