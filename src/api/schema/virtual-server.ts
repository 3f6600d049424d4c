// The VirtualServer object's schema (vipkeeper.io/v1alpha1, namespaced): keepalived's
// virtual_server, its type, defaults and structural schema, like VirtualRouter's; its meaning is
// checked in ../virtual-server.ts.
import Type from "typebox";
import { ADDRESS_MAX, API_VERSION, DURATION_PATTERN } from "../constants.ts";
import { Duration } from "./virtual-router.ts";
const Port = Type.Integer({ minimum: 1, maximum: 65535 });
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
