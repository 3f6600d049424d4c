// A VirtualServer's status as the master director sees it (pure; time comes in as epoch ms): each
// real server's health from this node's checks, the servers taking traffic after quorum and
// hysteresis (the same rule the dataplanes follow, lb/model.ts), and the Ready / Invalid conditions.
import type Type from "typebox";
import type { FieldError } from "../api/field-errors.ts";
import type { Condition, VirtualServerStatus as VirtualServerStatusSchema } from "../api/status.ts";
import type { VirtualServer } from "../api/virtual-server.ts";
import { withTransitionTimes } from "../cluster/status.ts";
import { toVirtualService } from "../lb/from-api.ts";
import { desiredDestinations, serverKey, type VirtualService } from "../lb/model.ts";

export type VirtualServerStatus = Type.Static<typeof VirtualServerStatusSchema>;
type RealServerEntry = NonNullable<VirtualServerStatus["realServers"]>[number];

export interface ServerHealth {
  healthy: boolean;
  /** When it last changed on this node (epoch ms), or when its checks started. */
  since: number;
}

/** Condition messages stay readable (and far below the API's 32 kB) with thousands of errors. */
const MAX_MESSAGE = 2048;
const clip = (text: string) => (text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE - 3)}...` : text);

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

export const generationOf = (vs: VirtualServer): number | undefined =>
  (vs.metadata as { generation?: number }).generation;

/**
 * Health and quorum state of one programmed service on this node. A new dataplane starts every real
 * server healthy (the checks then learn); a server already healthy before keeps its `since`.
 */
export class ServiceHealth {
  readonly vs: VirtualServer;
  readonly svc: VirtualService;
  readonly servers = new Map<string, ServerHealth>();
  /** The previous quorum state, for hysteresis, as the dataplane keeps it. */
  quorumUp = true;

  constructor(vs: VirtualServer, now: number, before?: ServiceHealth) {
    this.vs = vs;
    this.svc = toVirtualService(vs);
    for (const r of this.svc.realServers) {
      const key = serverKey(r);
      const old = before?.servers.get(key);
      this.servers.set(key, old?.healthy ? old : { healthy: true, since: now });
    }
  }

  /** A check changed a server's health; false when it is not one of this service's or did not change. */
  set(server: string, healthy: boolean, now: number): boolean {
    const old = this.servers.get(server);
    if (!old || old.healthy === healthy) return false;
    this.servers.set(server, { healthy, since: now });
    // Step the quorum state on every change, as the dataplane does, so hysteresis agrees with it.
    this.quorumUp = this.serving().quorumUp;
    return true;
  }

  serving(): ReturnType<typeof desiredDestinations> {
    const health = new Map([...this.servers].map(([k, h]) => [k, h.healthy]));
    return desiredDestinations(this.svc, health, this.quorumUp);
  }
}

/** What this node knows of a VirtualServer. */
export type VirtualServerState =
  | { kind: "invalid"; errors: readonly FieldError[] }
  | { kind: "notProgrammed"; reason: string }
  | { kind: "programmed"; health: ServiceHealth };

type Bare = Omit<Condition, "lastTransitionTime">;
const condition = (type: string, ok: boolean, reason: string, message: string): Bare => ({
  type,
  status: ok ? "True" : "False",
  reason,
  message: clip(message),
});

/**
 * Why the dataplane does not have it. The node's services start as one dataplane, so one object the
 * backend cannot run keeps the others out too: say which case this is.
 */
function notProgrammedMessage(vs: VirtualServer, reason: string): string {
  const lines = reason.split("\n").filter(Boolean);
  const own = lines.filter((l) => l.startsWith(`VirtualServer ${vs.metadata.name}:`));
  return own.length > 0
    ? `the load balancer cannot run it: ${own.join("; ")}`
    : `the node's load balancer did not start: ${lines.join("; ")}`;
}

/**
 * The status to write. `previous` is the status last written (by this node, or by the master before
 * it): a condition keeps its lastTransitionTime while its status stands, and a real server its
 * `since` while its health stands, so a new master or a restarted agent does not reset them.
 */
export function virtualServerStatus(
  vs: VirtualServer,
  state: VirtualServerState,
  previous: VirtualServerStatus | undefined,
  now: number,
): VirtualServerStatus {
  const generation = generationOf(vs);
  const finish = (status: VirtualServerStatus, conditions: Bare[]): VirtualServerStatus => ({
    ...status,
    conditions: withTransitionTimes(conditions, previous?.conditions, iso(now), generation),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  });
  if (state.kind === "invalid") {
    const errors = state.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
    return finish({ active: 0 }, [
      condition("Ready", false, "Invalid", "not programmed: the spec is invalid (see Invalid)"),
      condition("Invalid", true, "InvalidSpec", errors),
    ]);
  }
  const valid = condition("Invalid", false, "Valid", "");
  if (state.kind === "notProgrammed")
    return finish({ active: 0 }, [
      condition("Ready", false, "NotProgrammed", notProgrammedMessage(vs, state.reason)),
      valid,
    ]);
  const { health } = state;
  const svc = health.svc;
  const realServers = svc.realServers.map((r): RealServerEntry => {
    const h = health.servers.get(serverKey(r)) ?? { healthy: true, since: now };
    const old = previous?.realServers?.find((p) => p.address === r.address && p.port === r.port);
    const since = old?.healthy === h.healthy && old.since ? old.since : iso(h.since);
    return { address: r.address, port: r.port, healthy: h.healthy, since };
  });
  const { destinations, quorumUp } = health.serving();
  const active = destinations.filter((d) => !d.sorry && d.weight > 0).length;
  const sorry = svc.sorryServer
    ? `the sorry server ${serverKey(svc.sorryServer)} serves`
    : "no server serves";
  const weight = svc.realServers
    .filter((r) => health.servers.get(serverKey(r))?.healthy !== false)
    .reduce((sum, r) => sum + r.weight, 0);
  const healthyCount = realServers.filter((r) => r.healthy).length;
  const ready = !quorumUp
    ? condition(
        "Ready",
        false,
        "QuorumLost",
        `healthy weight ${weight} is below quorum ${svc.quorum}${svc.hysteresis ? ` (hysteresis ${svc.hysteresis})` : ""}: ${sorry}`,
      )
    : active === 0
      ? condition(
          "Ready",
          false,
          "NoServerUp",
          `${healthyCount} of ${realServers.length} real servers healthy, none with weight: ${sorry}`,
        )
      : condition(
          "Ready",
          true,
          "Serving",
          `${active} of ${realServers.length} real servers take traffic (healthy weight ${weight}, quorum ${svc.quorum})`,
        );
  return finish({ active, realServers }, [ready, valid]);
}
