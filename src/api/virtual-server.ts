// The VirtualServer object (vipkeeper.io/v1alpha1, namespaced): keepalived's virtual_server, one
// TypeScript source for type, defaults, schema and validation, like VirtualRouter.
import Type from "typebox";
import { familyOf } from "../vrrp/address.ts";
import { parseDuration } from "./duration.ts";
import { ADDRESS_MAX, API_VERSION, Duration, DURATION_PATTERN } from "./virtual-router.ts";
import { schemaErrors, type FieldError } from "./field-errors.ts";

const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const Server = Type.Object(
  {
    address: Type.String({ maxLength: ADDRESS_MAX, description: "IPv4 or IPv6 address of the real server." }),
    port: Port,
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

const CHECK_KINDS = ["httpGet", "httpsGet", "tcp", "udp", "dns", "exec"] as const;

export function validateVirtualServer(obj: unknown): FieldError[] {
  const structural = schemaErrors(VirtualServer, obj);
  if (structural.length > 0) return structural;
  const { spec } = obj as VirtualServer;
  const errors: FieldError[] = [];
  const err = (field: string, message: string) => errors.push({ field: `spec.${field}`, message });
  // Traffic is selected by address and port, or by fwmark; with fwmark the family is the real servers'.
  if (spec.fwmark !== undefined) {
    if (spec.address !== undefined || spec.port !== undefined)
      err("fwmark", "give fwmark, or address and port, not both");
  } else {
    if (spec.address === undefined)
      err("address", "is required (or spec.fwmark instead of address and port)");
    if (spec.port === undefined) err("port", "is required with spec.address");
  }
  const fromAddress = spec.address !== undefined;
  const family = fromAddress ? familyOf(spec.address!) : familyOf(spec.realServers[0]!.address);
  if (fromAddress && !family) err("address", `'${spec.address}' is not an IPv4 or IPv6 address`);
  const whose = fromAddress ? "the virtual address" : "spec.realServers[0]";
  const seen = new Map<string, number>();
  spec.realServers.forEach((s, i) => {
    const f = familyOf(s.address);
    if (!f) err(`realServers[${i}].address`, `'${s.address}' is not an IP address`);
    else if (family && f !== family)
      err(`realServers[${i}].address`, `IPv${f}, but ${whose} is IPv${family}`);
    const key = `${s.address}|${s.port}`;
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
