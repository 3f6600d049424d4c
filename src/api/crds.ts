// The CRDs, generated from the same typebox schemas that type and validate the objects: the
// typebox JSON Schema is turned into a Kubernetes structural schema (types everywhere, enums for
// literal unions, additionalProperties for records, no additionalProperties: false — unknown
// fields are pruned), with CEL rules for what a schema can say and printer columns.
// `vipkeeper crds` prints them; crds/ holds them, and a test fails when it is out of date.
import { stringify } from "yaml";
import { GROUP, VERSION } from "./constants.ts";
import { IPPoolSpec } from "./schema/ip-pool.ts";
import { IPPoolStatus, VirtualRouterStatus, VirtualServerStatus } from "./schema/status.ts";
import { VirtualRouterSpec } from "./schema/virtual-router.ts";
import { VirtualServerSpec } from "./schema/virtual-server.ts";

type Json = Record<string, unknown>;

const KEEP = [
  "description",
  "default",
  "minimum",
  "maximum",
  "minLength",
  "maxLength",
  "minItems",
  "maxItems",
  "pattern",
  "x-kubernetes-validations",
  "x-kubernetes-list-type",
  "x-kubernetes-list-map-keys",
];

/** A typebox (JSON Schema) node as a structural schema node. */
export function structural(node: Json): Json {
  const out: Json = {};
  for (const k of KEEP) if (node[k] !== undefined) out[k] = node[k];
  const anyOf = node.anyOf as Json[] | undefined;
  if (anyOf) {
    if (anyOf.every((a) => "const" in a)) {
      const values = anyOf.map((a) => a.const);
      out.type = values.every((v) => Number.isInteger(v)) ? "integer" : typeof values[0];
      out.enum = values;
    } else if (anyOf.some((a) => a.type === "integer") && anyOf.some((a) => a.type === "string"))
      out["x-kubernetes-int-or-string"] = true;
    else throw new Error(`a union of ${JSON.stringify(anyOf)} has no structural form`);
    return out;
  }
  if ("const" in node) {
    out.type = Number.isInteger(node.const) ? "integer" : typeof node.const;
    out.enum = [node.const];
    return out;
  }
  out.type = node.type;
  if (node.type === "object") {
    const props = node.properties as Record<string, Json> | undefined;
    const pattern = node.patternProperties as Record<string, Json> | undefined;
    if (props) out.properties = Object.fromEntries(Object.entries(props).map(([k, v]) => [k, structural(v)]));
    if (pattern) out.additionalProperties = structural(Object.values(pattern)[0]!);
    const required = node.required as string[] | undefined;
    if (required?.length) out.required = required;
    if (!props && !pattern) out["x-kubernetes-preserve-unknown-fields"] = true;
  }
  if (node.type === "array") out.items = structural(node.items as Json);
  return out;
}

/**
 * Descriptions for `kubectl explain` where the typebox source leaves them out (mostly small
 * structural fields whose meaning is their parent's).
 */
const DESCRIBE: Record<string, string> = {
  "VirtualRouter.spec.authentication": "VRRPv2 authentication (keepalived's authentication block).",
  "VirtualRouter.spec.authentication.secretRef.name": "Secret in the agents' namespace.",
  "VirtualRouter.spec.authentication.secretRef.key": "Key of the Secret holding the password.",
  "VirtualRouter.spec.track": "What moves this node's priority or puts it in Fault (keepalived's track_*).",
  "VirtualRouter.spec.track.interfaces[].name": "Interface name.",
  "VirtualRouter.spec.track.files[].path": "File path on the node.",
  "VirtualRouter.spec.notify.webhooks": "URLs that receive a JSON POST per transition.",
  "VirtualRouter.spec.notify.mail.to": "Recipients (keepalived's notification_email).",
  "VirtualRouter.spec.notify.mail.from": "Sender (keepalived's notification_email_from).",
  "VirtualServer.spec":
    "The virtual service: address, port, scheduler, forwarding, real servers and their health check.",
  "VirtualServer.spec.port": "Virtual port.",
  "VirtualServer.spec.protocol": "TCP, UDP or SCTP.",
  "VirtualServer.spec.forwarding": "NAT (masquerading), DR (direct routing) or TUN (IP-in-IP).",
  "VirtualServer.spec.realServers": "The servers behind the virtual address (keepalived's real_server).",
  "VirtualServer.spec.realServers[].port": "Real server port.",
  "VirtualServer.spec.sorryServer.address": "Sorry server address.",
  "VirtualServer.spec.sorryServer.port": "Sorry server port.",
  "VirtualServer.spec.hysteresis": "Weight margin around quorum before the service goes up or down again.",
  "VirtualServer.spec.healthCheck.httpGet": "HTTP GET check (keepalived's HTTP_GET).",
  "VirtualServer.spec.healthCheck.httpGet.path": "URL path.",
  "VirtualServer.spec.healthCheck.httpGet.port": "Port to check (default: the real server's).",
  "VirtualServer.spec.healthCheck.httpGet.statusCodes": "Status codes that mean healthy.",
  "VirtualServer.spec.healthCheck.httpsGet": "HTTPS GET check (keepalived's SSL_GET).",
  "VirtualServer.spec.healthCheck.httpsGet.path": "URL path.",
  "VirtualServer.spec.healthCheck.httpsGet.port": "Port to check (default: the real server's).",
  "VirtualServer.spec.healthCheck.httpsGet.statusCodes": "Status codes that mean healthy.",
  "VirtualServer.spec.healthCheck.httpsGet.insecureSkipVerify": "Accept any certificate.",
  "VirtualServer.spec.healthCheck.tcp": "TCP connect check (keepalived's TCP_CHECK).",
  "VirtualServer.spec.healthCheck.tcp.port": "Port to connect to (default: the real server's).",
  "VirtualServer.spec.healthCheck.udp": "UDP check: a datagram out, an answer (not an ICMP error) back.",
  "VirtualServer.spec.healthCheck.udp.port": "Port (default: the real server's).",
  "VirtualServer.spec.healthCheck.udp.payload": "Datagram to send.",
  "VirtualServer.spec.healthCheck.dns": "DNS query check (keepalived's DNS_CHECK).",
  "VirtualServer.spec.healthCheck.dns.name": "Name to resolve.",
  "VirtualServer.spec.healthCheck.dns.type": "A or AAAA.",
  "VirtualServer.spec.healthCheck.dns.port": "Port (default 53).",
  "VirtualServer.spec.healthCheck.smtp.port": "Port (default: the real server's).",
  "VirtualServer.spec.healthCheck.exec":
    "Command check (keepalived's MISC_CHECK). It runs as root on every node of the router, so only where the router grants it to this namespace (spec.virtualServers.from[].allowExec) and the agent runs with --allow-scripts; otherwise the VirtualServer is not programmed (Ready False, NotPermitted).",
  "VirtualServer.spec.healthCheck.retries": "Attempts after a failure before the server counts as failed.",
  "VirtualServer.spec.healthCheck.rise": "Successes in a row that make a server healthy.",
  "VirtualServer.spec.healthCheck.fall": "Failures in a row that make a server failed.",
  "IPPool.spec": "The pool's addresses, who may use them, and how they are announced.",
};

/** Fields that reuse another kind's schema piece take its descriptions too. */
const SAME_AS: [string, string][] = [["IPPool.spec.announce.track", "VirtualRouter.spec.track"]];

function describedAs(path: string): string | undefined {
  if (DESCRIBE[path]) return DESCRIBE[path];
  const alias = SAME_AS.find(
    ([from]) => path === from || path.startsWith(`${from}.`) || path.startsWith(`${from}[`),
  );
  return alias ? DESCRIBE[alias[1] + path.slice(alias[0].length)] : undefined;
}

function describe(node: Json, path: string): void {
  const props = node.properties as Record<string, Json> | undefined;
  for (const [k, v] of Object.entries(props ?? {})) {
    const p = `${path}.${k}`;
    const described = v.description ?? describedAs(p);
    if (described) v.description = described;
    describe(v, p);
  }
  if (node.items) describe(node.items as Json, `${path}[]`);
}

/** Adds CEL rules and list types at the given property path of a structural schema. */
function at(schema: Json, path: string[], extra: Json): void {
  let node = schema;
  for (const p of path)
    node = p === "[]" ? (node.items as Json) : ((node.properties as Record<string, Json>)[p] as Json);
  Object.assign(node, extra);
}

function routerSchema(): Json {
  const spec = structural(VirtualRouterSpec as unknown as Json);
  spec.description =
    "How the virtual addresses are kept alive: VRRP settings, the nodes that take part, tracking and notifications.";
  at(spec, ["addresses", "[]", "address"], {
    "x-kubernetes-validations": [
      {
        rule: "isIP(self) || isCIDR(self)",
        message: "must be an IPv4 or IPv6 address with an optional /prefix",
      },
    ],
  });
  at(spec, ["unicast", "peers", "[]"], {
    "x-kubernetes-validations": [{ rule: "isIP(self)", message: "must be an IP address" }],
  });
  at(spec, ["virtualServers", "from", "[]", "addresses", "[]"], {
    "x-kubernetes-validations": [
      { rule: "isIP(self) || isCIDR(self)", message: "must be an IPv4 or IPv6 address or CIDR" },
    ],
  });
  at(spec, ["virtualServers", "from", "[]", "ports", "[]"], {
    "x-kubernetes-validations": [
      { rule: "!has(self.endPort) || self.endPort >= self.port", message: "endPort must not be below port" },
    ],
  });
  at(spec, ["routes", "[]", "to"], {
    "x-kubernetes-validations": [{ rule: "isCIDR(self)", message: "must be an IPv4 or IPv6 prefix (CIDR)" }],
  });
  for (const field of ["via", "src"])
    at(spec, ["routes", "[]", field], {
      "x-kubernetes-validations": [{ rule: "isIP(self)", message: "must be an IP address" }],
    });
  for (const field of ["from", "to"])
    at(spec, ["rules", "[]", field], {
      "x-kubernetes-validations": [
        { rule: "isIP(self) || isCIDR(self)", message: "must be an IPv4 or IPv6 address or prefix" },
      ],
    });
  for (const list of ["routes", "rules"])
    at(spec, [list, "[]", "table"], {
      "x-kubernetes-validations": [{ rule: "self != 255", message: "255 is the kernel's local table" }],
    });
  at(spec, ["priorities"], {
    "x-kubernetes-list-type": "map",
    "x-kubernetes-list-map-keys": ["node"],
    "x-kubernetes-validations": [
      {
        rule: "self.filter(p, p.priority == 255).size() <= 1",
        message: "255 is for the one address owner: at most one node may have it",
      },
    ],
  });
  spec["x-kubernetes-validations"] = [
    {
      rule: "!has(self.authentication) || self.version == 2",
      message: "PASS authentication exists in VRRPv2 only (set spec.version: 2)",
      fieldPath: ".authentication",
    },
    {
      rule: "self.version == 3 || self.addresses.all(a, !a.address.contains(':'))",
      message: "VRRPv2 is IPv4 only",
      fieldPath: ".version",
    },
    {
      rule: "self.addresses.all(a, self.addresses.exists_one(b, b.address == a.address))",
      message: "addresses must be unique",
      fieldPath: ".addresses",
    },
    {
      rule: "!has(self.virtualMAC) || !has(self.virtualMAC.interface) || self.addresses.all(a, a.address.contains(':')) || self.addresses.all(a, !a.address.contains(':'))",
      message:
        "virtualMAC.interface names one interface, but IPv4 and IPv6 run as two instances each with its own virtual MAC: leave it out",
      fieldPath: ".virtualMAC.interface",
    },
    {
      rule: "!has(self.notify) || !has(self.notify.syncGroupScripts) || has(self.syncGroup)",
      message: "runs on a sync group's transitions: set spec.syncGroup too",
      fieldPath: ".notify.syncGroupScripts",
    },
  ];
  return spec;
}

function serverSchema(): Json {
  const spec = structural(VirtualServerSpec as unknown as Json);
  const ip = {
    "x-kubernetes-validations": [{ rule: "isIP(self)", message: "must be an IPv4 or IPv6 address" }],
  };
  at(spec, ["address"], ip);
  at(spec, ["realServers", "[]", "address"], ip);
  at(spec, ["sorryServer", "address"], ip);
  at(spec, ["realServers", "[]", "checkTargets", "[]", "address"], ip);
  at(spec, ["group", "[]"], {
    "x-kubernetes-validations": [
      {
        rule: "has(self.fwmark) ? !has(self.address) && !has(self.port) : has(self.address) && has(self.port)",
        message: "give either fwmark or address and port",
      },
    ],
  });
  spec["x-kubernetes-validations"] = [
    {
      rule: "has(self.group) ? !has(self.fwmark) && !has(self.address) && !has(self.port) : has(self.fwmark) ? !has(self.address) && !has(self.port) : has(self.address) && has(self.port)",
      message: "give one of group, fwmark, or address and port",
      fieldPath: ".fwmark",
    },
    {
      rule: "self.realServers.all(r, has(r.port)) || (has(self.group) ? self.group.all(g, has(g.fwmark)) : has(self.fwmark))",
      message: "real servers need a port unless the service is selected by firewall marks only",
      fieldPath: ".realServers",
    },
  ];
  return spec;
}

interface Kind {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: "Cluster" | "Namespaced";
  spec: Json;
  status: Json;
  description: string;
  columns: { name: string; type: string; jsonPath: string; description: string; priority?: number }[];
}

const READY = '.status.conditions[?(@.type=="Ready")].status';

const KINDS: Kind[] = [
  {
    kind: "VirtualRouter",
    plural: "virtualrouters",
    singular: "virtualrouter",
    shortNames: ["vr"],
    scope: "Cluster",
    spec: routerSchema(),
    status: structural(VirtualRouterStatus as unknown as Json),
    description:
      "Virtual IP addresses kept alive by VRRP on the nodes it selects, keepalived's vrrp_instance.",
    columns: [
      { name: "VRID", type: "integer", jsonPath: ".status.vrid", description: "Virtual Router ID in use." },
      // kube-apiserver prints only the first value a column's JSONPath finds, so [*] would show
      // one address under a plural heading: say which one it is.
      {
        name: "VIP",
        type: "string",
        jsonPath: ".spec.addresses[0].address",
        description: "The first virtual address (spec.addresses has them all).",
      },
      {
        name: "Master",
        type: "string",
        jsonPath: ".status.master",
        description: "Node holding the addresses.",
      },
      { name: "Ready", type: "string", jsonPath: READY, description: "A master holds the addresses." },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp", description: "Age." },
    ],
  },
  {
    kind: "VirtualServer",
    plural: "virtualservers",
    singular: "virtualserver",
    shortNames: ["vs"],
    scope: "Namespaced",
    spec: serverSchema(),
    status: structural(VirtualServerStatus as unknown as Json),
    description:
      "A load-balanced service on a virtual address with health-checked real servers, keepalived's virtual_server.",
    columns: [
      { name: "Address", type: "string", jsonPath: ".spec.address", description: "Virtual address." },
      { name: "Port", type: "integer", jsonPath: ".spec.port", description: "Virtual port." },
      {
        name: "Fwmark",
        type: "integer",
        jsonPath: ".spec.fwmark",
        description: "Firewall mark.",
        priority: 1,
      },
      {
        name: "Active",
        type: "integer",
        jsonPath: ".status.active",
        description: "Real servers taking traffic.",
      },
      { name: "Ready", type: "string", jsonPath: READY, description: "Serving." },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp", description: "Age." },
    ],
  },
  {
    kind: "IPPool",
    plural: "ippools",
    singular: "ippool",
    shortNames: ["ipp"],
    scope: "Cluster",
    spec: structural(IPPoolSpec as unknown as Json),
    status: structural(IPPoolStatus as unknown as Json),
    description: "Addresses for Services of type LoadBalancer, and how they are announced.",
    columns: [
      { name: "Addresses", type: "string", jsonPath: ".spec.addresses", description: "Ranges." },
      { name: "IPv4", type: "integer", jsonPath: ".status.allocated.ipv4", description: "IPv4 in use." },
      { name: "IPv6", type: "integer", jsonPath: ".status.allocated.ipv6", description: "IPv6 in use." },
      { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp", description: "Age." },
    ],
  },
];

export function crds(): Json[] {
  return KINDS.map((k) => {
    const root: Json = {
      type: "object",
      description: k.description,
      required: ["spec"],
      properties: {
        apiVersion: { type: "string", description: "vipkeeper.io/v1alpha1" },
        kind: { type: "string", description: k.kind },
        metadata: { type: "object" },
        spec: k.spec,
        status: { ...k.status, description: "What the controller and the agents observe." },
      },
    };
    describe(root, k.kind);
    return crd(k, root);
  });
}

function crd(k: Kind, openAPIV3Schema: Json): Json {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${k.plural}.${GROUP}`, labels: { "app.kubernetes.io/name": "vipkeeper" } },
    spec: {
      group: GROUP,
      scope: k.scope,
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.singular,
        shortNames: k.shortNames,
        categories: ["vipkeeper"],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: k.columns,
          schema: { openAPIV3Schema },
        },
      ],
    },
  };
}

/** One file per CRD, as in crds/. */
export function crdFiles(): Map<string, string> {
  const header =
    "# Generated by `vipkeeper crds` from src/api (do not edit; a test checks it).\n" +
    "# Needs Kubernetes 1.31 or later: the validation rules use the CEL IP/CIDR library (isIP, isCIDR).\n";
  return new Map(
    crds().map((c) => [
      `${(c.metadata as Json).name as string}.yaml`,
      header + stringify(c, { lineWidth: 0, aliasDuplicateObjects: false }),
    ]),
  );
}
