// The VirtualServer object (vipkeeper.io/v1alpha1, namespaced): keepalived's virtual_server, one
// TypeScript source for type, defaults, schema and validation, like VirtualRouter.
import Type from "typebox";
import { familyOf, type IpFamily } from "../base/ip.ts";
import { parseDuration } from "./duration.ts";
import { fromBig, toBig } from "./ranges.ts";
import { ADDRESS_MAX, API_VERSION, Duration, DURATION_PATTERN } from "./virtual-router.ts";
import { schemaErrors, type FieldError } from "./field-errors.ts";

const Port = Type.Integer({ minimum: 1, maximum: 65535 });
/** Most addresses a VirtualServer serves once its group's ranges are expanded. */
export const MAX_SERVED = 1024;
const Server = Type.Object(
  {
    address: Type.String({ maxLength: ADDRESS_MAX, description: "IPv4 or IPv6 address of the real server." }),
    port: Type.Optional({
      ...Port,
      description:
        "Port of the real server. Only a service selected by firewall marks alone may leave it out: the packet's own destination port is kept (keepalived's real_server without a port).",
    }),
    checkTargets: Type.Optional(
      Type.Array(
        Type.Object(
          {
            address: Type.String({ maxLength: ADDRESS_MAX, description: "Address the check connects to." }),
            port: Type.Optional({
              ...Port,
              description: "Port (default: the check's, else the real server's).",
            }),
          },
          { additionalProperties: false },
        ),
        {
          minItems: 1,
          maxItems: 16,
          description:
            "Check these instead of the real server's own address; every one must pass for the server to be healthy (keepalived's connect_ip, and SMTP_CHECK's host blocks). List the server's own address too if it is to be checked.",
        },
      ),
    ),
    weight: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 65535,
        default: 1,
        description: "Share of new connections (0: none).",
      }),
    ),
  },
  { additionalProperties: false },
);
const HttpGet = Type.Object(
  {
    path: Type.Optional(Type.String({ default: "/" })),
    port: Type.Optional(Port),
    host: Type.Optional(Type.String({ description: "Host header (and TLS server name)." })),
    statusCodes: Type.Optional(
      Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), { default: [200], minItems: 1 }),
    ),
    digest: Type.Optional(
      Type.String({ pattern: "^[0-9a-fA-F]{32}$", description: "MD5 of the body, as keepalived's digest." }),
    ),
    urls: Type.Optional(
      Type.Array(
        Type.Object(
          {
            path: Type.String({ minLength: 1, description: "Path of this URL." }),
            statusCodes: Type.Optional(
              Type.Array(Type.Integer({ minimum: 100, maximum: 599 }), {
                default: [200],
                minItems: 1,
                description: "Statuses that pass for this URL.",
              }),
            ),
            digest: Type.Optional(
              Type.String({ pattern: "^[0-9a-fA-F]{32}$", description: "MD5 of this URL's body." }),
            ),
          },
          { additionalProperties: false },
        ),
        {
          maxItems: 32,
          description:
            "Further URLs, each with its own path, status codes and digest, fetched after the first (path, statusCodes, digest above); the server is healthy only when every one passes (keepalived's HTTP_GET with several url blocks).",
        },
      ),
    ),
  },
  { additionalProperties: false },
);
const GroupEntry = Type.Object(
  {
    address: Type.Optional(
      Type.String({
        maxLength: 2 * ADDRESS_MAX + 1,
        description: "A virtual address, or a range of them written first-last (198.18.0.3-198.18.0.10).",
      }),
    ),
    port: Type.Optional({ ...Port, description: "The port served at address." }),
    fwmark: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 4_294_967_295,
        description: "A firewall mark, instead of address and port.",
      }),
    ),
  },
  { additionalProperties: false },
);

export const VirtualServerSpec = Type.Object(
  {
    address: Type.Optional(
      Type.String({
        maxLength: ADDRESS_MAX,
        description:
          "The virtual address (normally one of a VirtualRouter's). With port, it selects the traffic; the alternative is fwmark (give one or the other).",
      }),
    ),
    port: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 65535,
        description: "Virtual port, given with address (not with fwmark).",
      }),
    ),
    fwmark: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 4_294_967_295,
        description:
          "Firewall mark that selects the traffic instead of address and port (keepalived's virtual_server fwmark): packets that your own firewall rules mark with it are balanced, whatever their address, port and protocol. The family is the real servers'. Give fwmark or address and port, not both.",
      }),
    ),
    group: Type.Optional(
      Type.Array(GroupEntry, {
        minItems: 1,
        maxItems: 256,
        description:
          "Several addresses (or ranges first-last) with ports, and firewall marks, all served alike by these real servers, instead of address and port or fwmark (keepalived's virtual_server_group). One family. At most 1024 addresses in all.",
      }),
    ),
    protocol: Type.Optional(
      Type.Union([Type.Literal("TCP"), Type.Literal("UDP"), Type.Literal("SCTP")], { default: "TCP" }),
    ),
    routerRef: Type.Optional(
      Type.String({
        description:
          "The VirtualRouter that keeps the address alive. It must grant this namespace what the VirtualServer uses (its spec.virtualServers); otherwise nothing is programmed and Ready is False with reason NotPermitted.",
      }),
    ),
    scheduler: Type.Optional(
      Type.Union(
        ["rr", "wrr", "lc", "wlc", "sh", "mh"].map((s) => Type.Literal(s)),
        {
          default: "wrr",
          description: "rr, wrr, lc, wlc, sh (source hash), mh (Maglev hash). nftables runs lc/wlc as wrr.",
        },
      ),
    ),
    forwarding: Type.Optional(
      Type.Union([Type.Literal("NAT"), Type.Literal("DR"), Type.Literal("TUN")], { default: "NAT" }),
    ),
    realServers: Type.Array(Server, { minItems: 1, maxItems: 10_000 }),
    sorryServer: Type.Optional(
      Type.Object(
        { address: Type.String({ maxLength: ADDRESS_MAX }), port: Port },
        { additionalProperties: false, description: "Serves when no real server is up." },
      ),
    ),
    quorum: Type.Optional(
      Type.Integer({ minimum: 0, default: 1, description: "Minimum total weight of healthy servers." }),
    ),
    hysteresis: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
    inhibitOnFailure: Type.Optional(
      Type.Boolean({ default: false, description: "Keep a failed server at weight 0." }),
    ),
    persistence: Type.Optional(
      Type.Object(
        {
          timeout: Type.String({
            pattern: DURATION_PATTERN,
            description:
              "How long a client stays with its real server after its last packet (keepalived's persistence_timeout), e.g. 300s.",
          }),
          ipv4PrefixLength: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: 32,
              default: 32,
              description:
                "IPv4 clients that share this prefix share a real server (keepalived's persistence_granularity); 32: per address.",
            }),
          ),
          ipv6PrefixLength: Type.Optional(
            Type.Integer({
              minimum: 0,
              maximum: 128,
              default: 128,
              description: "IPv6 clients that share this prefix share a real server; 128: per address.",
            }),
          ),
        },
        {
          additionalProperties: false,
          description:
            "Session persistence: a client's new connections go to the real server it last used, while it keeps coming back within the timeout.",
        },
      ),
    ),
    healthCheck: Type.Optional(
      Type.Object(
        {
          httpGet: Type.Optional(HttpGet),
          httpsGet: Type.Optional(
            Type.Object(
              { ...HttpGet.properties, insecureSkipVerify: Type.Optional(Type.Boolean()) },
              { additionalProperties: false },
            ),
          ),
          tcp: Type.Optional(Type.Object({ port: Type.Optional(Port) }, { additionalProperties: false })),
          udp: Type.Optional(
            Type.Object(
              { port: Type.Optional(Port), payload: Type.Optional(Type.String()) },
              { additionalProperties: false },
            ),
          ),
          smtp: Type.Optional(
            Type.Object(
              {
                helo: Type.Optional(
                  Type.String({
                    minLength: 1,
                    default: "smtpchecker.keepalived.org",
                    description: "Name sent in HELO (keepalived's helo_name).",
                  }),
                ),
                port: Type.Optional(Port),
              },
              {
                additionalProperties: false,
                description:
                  "keepalived's SMTP_CHECK: a 220 banner, 250 to HELO, then QUIT. Port: the real server's unless given.",
              },
            ),
          ),
          ping: Type.Optional(
            Type.Object(
              {},
              {
                additionalProperties: false,
                description:
                  "keepalived's PING_CHECK: an ICMP (ICMPv6) echo request answered by an echo reply.",
              },
            ),
          ),
          dns: Type.Optional(
            Type.Object(
              {
                name: Type.String({ minLength: 1 }),
                type: Type.Optional(Type.Union([Type.Literal("A"), Type.Literal("AAAA")])),
                port: Type.Optional(Port),
              },
              { additionalProperties: false },
            ),
          ),
          exec: Type.Optional(
            Type.Object(
              {
                command: Type.String({
                  minLength: 1,
                  description:
                    "Shell command (bash -c, as root on every node of the router); $1 $2 are the server's address and port. In cluster mode only where the router grants it (spec.virtualServers.from[].allowExec) and the agent runs with --allow-scripts.",
                }),
              },
              { additionalProperties: false },
            ),
          ),
          timeout: Duration("One attempt's limit.", "3s"),
          retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 10, default: 1 })),
          delayBeforeRetry: Duration("Pause before a retry.", "1s"),
          interval: Duration("Time between rounds (keepalived's delay_loop).", "5s"),
          rise: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 1 })),
          fall: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 1 })),
        },
        { additionalProperties: false, description: "One check kind, run against every real server." },
      ),
    ),
  },
  { additionalProperties: false },
);

export const VirtualServer = Type.Object({
  apiVersion: Type.Literal(API_VERSION),
  kind: Type.Literal("VirtualServer"),
  metadata: Type.Object({ name: Type.String({ minLength: 1 }), namespace: Type.Optional(Type.String()) }),
  spec: VirtualServerSpec,
});

export type VirtualServerSpec = Type.Static<typeof VirtualServerSpec>;
export type VirtualServer = Type.Static<typeof VirtualServer>;

const CHECK_KINDS = ["httpGet", "httpsGet", "tcp", "udp", "dns", "exec", "smtp", "ping"] as const;

type Protocol = NonNullable<VirtualServerSpec["protocol"]>;
/** One thing a VirtualServer serves: an address and port, or a firewall mark. */
export type ServedEndpoint =
  | { address: string; port: number; protocol: Protocol; fwmark?: undefined }
  | { fwmark: number; protocol: Protocol; address?: undefined; port?: undefined };

/** A group entry's address: one address, or first-last. Undefined when it is neither. */
export function groupAddresses(
  text: string,
): { first: string; family: IpFamily; count: number; all(): string[] } | undefined {
  const dash = text.indexOf("-");
  const a = dash < 0 ? text : text.slice(0, dash).trim();
  const b = dash < 0 ? text : text.slice(dash + 1).trim();
  const fa = familyOf(a);
  if (!fa || familyOf(b) !== fa) return undefined;
  const first = toBig(a);
  const last = toBig(b);
  if (last < first) return undefined;
  const n = last - first + 1n;
  const count = n > BigInt(MAX_SERVED + 1) ? MAX_SERVED + 1 : Number(n);
  return {
    first: a,
    family: fa,
    count,
    all: () => Array.from({ length: Math.min(count, MAX_SERVED) }, (_, i) => fromBig(first + BigInt(i), fa)),
  };
}

/**
 * Everything a VirtualServer serves: its address and port, its fwmark, or every entry of its group
 * (ranges expanded). The one answer for the dataplane, the importer and admission checks.
 */
export function servedEndpoints(spec: VirtualServerSpec): ServedEndpoint[] {
  const protocol = spec.protocol ?? "TCP";
  if (spec.group) {
    return spec.group.flatMap((g): ServedEndpoint[] => {
      if (g.fwmark !== undefined) return [{ fwmark: g.fwmark, protocol }];
      if (g.address === undefined || g.port === undefined) return [];
      const port = g.port;
      return (groupAddresses(g.address)?.all() ?? []).map((address) => ({ address, port, protocol }));
    });
  }
  if (spec.fwmark !== undefined) return [{ fwmark: spec.fwmark, protocol }];
  if (spec.address !== undefined && spec.port !== undefined)
    return [{ address: spec.address, port: spec.port, protocol }];
  return [];
}

/** A VirtualServer that selects its traffic by firewall marks only (its real servers may leave out the port). */
export function marksOnly(spec: VirtualServerSpec): boolean {
  return spec.group ? spec.group.every((g) => g.fwmark !== undefined) : spec.fwmark !== undefined;
}

export function validateVirtualServer(obj: unknown): FieldError[] {
  const structural = schemaErrors(VirtualServer, obj);
  if (structural.length > 0) return structural;
  const { spec } = obj as VirtualServer;
  const errors: FieldError[] = [];
  const err = (field: string, message: string) => errors.push({ field: `spec.${field}`, message });
  // Traffic is selected by address and port, by fwmark, or by a group of them; with marks only
  // the family is the real servers'.
  let family: IpFamily | undefined;
  if (spec.group !== undefined) {
    if (spec.fwmark !== undefined || spec.address !== undefined || spec.port !== undefined)
      err("group", "give group, or fwmark, or address and port: one of them");
    let total = 0;
    spec.group.forEach((g, i) => {
      if (g.fwmark !== undefined) {
        if (g.address !== undefined || g.port !== undefined)
          err(`group[${i}]`, "give fwmark, or address and port, not both");
        return;
      }
      if (g.address === undefined || g.port === undefined) {
        err(`group[${i}]`, "needs address and port, or fwmark");
        return;
      }
      const range = groupAddresses(g.address);
      if (!range) {
        err(`group[${i}].address`, `'${g.address}' is not an address or a range first-last of one family`);
        return;
      }
      total += range.count;
      if (family && range.family !== family)
        err(`group[${i}].address`, `IPv${range.family}, but the group's first address is IPv${family}`);
      family ??= range.family;
    });
    if (total > MAX_SERVED) err("group", `serves more than ${MAX_SERVED} addresses`);
    const seen = new Map<string, number>();
    servedEndpoints(spec).forEach((e) => {
      const key = e.fwmark !== undefined ? `fwmark ${e.fwmark}` : `${e.address} ${e.port}`;
      if (seen.has(key)) err("group", `${key} is served twice`);
      seen.set(key, 1);
    });
  } else if (spec.fwmark !== undefined) {
    if (spec.address !== undefined || spec.port !== undefined)
      err("fwmark", "give fwmark, or address and port, not both");
  } else {
    if (spec.address === undefined)
      err("address", "is required (or spec.fwmark or spec.group instead of address and port)");
    if (spec.port === undefined) err("port", "is required with spec.address");
  }
  const fromAddress = spec.address !== undefined || family !== undefined;
  if (spec.address !== undefined) {
    family = familyOf(spec.address);
    if (!family) err("address", `'${spec.address}' is not an IPv4 or IPv6 address`);
  }
  if (!fromAddress) family = familyOf(spec.realServers[0]!.address);
  const marks = marksOnly(spec);
  const whose = fromAddress ? "the virtual address" : "spec.realServers[0]";
  const hc = spec.healthCheck;
  const checkPort =
    hc?.tcp?.port ??
    hc?.udp?.port ??
    hc?.dns?.port ??
    hc?.smtp?.port ??
    hc?.httpGet?.port ??
    hc?.httpsGet?.port;
  const portless =
    hc !== undefined && hc.ping === undefined && hc.exec === undefined && checkPort === undefined;
  const seen = new Map<string, number>();
  spec.realServers.forEach((s, i) => {
    const f = familyOf(s.address);
    if (!f) err(`realServers[${i}].address`, `'${s.address}' is not an IP address`);
    else if (family && f !== family)
      err(`realServers[${i}].address`, `IPv${f}, but ${whose} is IPv${family}`);
    if (s.port === undefined && !marks)
      err(`realServers[${i}].port`, "is required unless the service is selected by firewall marks only");
    else if (s.port === undefined && portless && !s.checkTargets?.every((t) => t.port !== undefined))
      err(`realServers[${i}].port`, "a real server without a port needs a port in its health check");
    s.checkTargets?.forEach((t, j) => {
      if (!familyOf(t.address))
        err(`realServers[${i}].checkTargets[${j}].address`, `'${t.address}' is not an IP address`);
    });
    const key = `${s.address}|${s.port ?? 0}`;
    const first = seen.get(key);
    if (first !== undefined) err(`realServers[${i}]`, `the same server as spec.realServers[${first}]`);
    else seen.set(key, i);
  });
  if (spec.sorryServer && familyOf(spec.sorryServer.address) !== family)
    err("sorryServer.address", `'${spec.sorryServer.address}' is not an address of ${whose}'s family`);
  const persistMs = spec.persistence ? parseDuration(spec.persistence.timeout) : undefined;
  if (persistMs !== undefined && persistMs < 1000)
    err(
      "persistence.timeout",
      `'${spec.persistence!.timeout}' is under 1s (IPVS counts persistence in seconds)`,
    );
  const kinds = CHECK_KINDS.filter((k) => spec.healthCheck?.[k] !== undefined);
  if (spec.healthCheck && kinds.length !== 1)
    err(
      "healthCheck",
      `needs exactly one of ${CHECK_KINDS.join(", ")}; has ${kinds.length ? kinds.join(", ") : "none"}`,
    );
  return errors;
}
