// A VirtualServer's status as the master director sees it (pure; time comes in as epoch ms): each
// real server's health from this node's checks, the servers taking traffic after quorum and
// hysteresis (desiredDestinations' rule in lb/model.ts, which the dataplanes follow; the tests check
// the two agree), and the Ready / Invalid conditions.
import type Type from "typebox";
import type { FieldError } from "../api/field-errors.ts";
import type { Condition } from "../api/status.ts";
import type { VirtualServerStatus as VirtualServerStatusSchema } from "../api/schema/status.ts";
import type { VirtualServer } from "../api/virtual-server.ts";
import type { Refusal } from "../cluster/grants.ts";
import { withTransitionTimes } from "../cluster/status.ts";
import { toVirtualService } from "../lb/from-api.ts";
import { serverKey, type RealServer, type VirtualService } from "../lb/model.ts";
import { kubeTime } from "../base/time.ts";

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

export const generationOf = (vs: VirtualServer): number | undefined =>
  (vs.metadata as { generation?: number }).generation;

/**
 * Health and quorum state of one programmed service on this node. A new dataplane starts every real
 * server healthy (the checks then learn); a server already healthy before keeps its `since`.
 */
export class ServiceHealth {
  readonly vs: VirtualServer;
  readonly svc: VirtualService;
  /** Every real server in the spec's order (the status lists them so), each also found by key. */
  readonly list: (RealServer & ServerHealth)[];
  readonly servers = new Map<string, RealServer & ServerHealth>();
  /** The previous quorum state, for hysteresis, as the dataplane keeps it. */
  quorumUp = true;
  /** Total weight of the healthy servers, kept as they change (a flip costs O(1), not O(servers)). */
  aliveWeight = 0;

  constructor(vs: VirtualServer, now: number, before?: ServiceHealth) {
    this.vs = vs;
    this.svc = toVirtualService(vs);
    this.list = this.svc.realServers.map((r) => {
      const key = serverKey(r);
      const old = before?.servers.get(key);
      const entry = { ...r, healthy: true, since: old?.healthy ? old.since : now };
      this.servers.set(key, entry);
      this.aliveWeight += r.weight;
      return entry;
    });
    this.stepQuorum();
  }

  /** A check changed a server's health; false when it is not one of this service's or did not change. */
  set(server: string, healthy: boolean, now: number): boolean {
    const entry = this.servers.get(server);
    if (!entry || entry.healthy === healthy) return false;
    entry.healthy = healthy;
    entry.since = now;
    this.aliveWeight += (healthy ? 1 : -1) * entry.weight;
    this.stepQuorum();
    return true;
  }

  /**
   * Real servers taking traffic: the healthy ones with weight, while quorum holds (otherwise the
   * sorry server, or nothing). The same outcome as desiredDestinations, without building it.
   */
  active(): number {
    if (!this.quorumUp) return 0;
    let n = 0;
    for (const s of this.list) if (s.healthy && s.weight > 0) n++;
    return n;
  }

  /** desiredDestinations' quorum rule, stepped on every change as the dataplane steps it, so hysteresis agrees. */
  private stepQuorum(): void {
    const { quorum, hysteresis } = this.svc;
    this.quorumUp = this.quorumUp
      ? this.aliveWeight >= quorum - hysteresis
      : this.aliveWeight >= quorum + hysteresis;
  }
}

/** What this node knows of a VirtualServer. */
export type VirtualServerState =
  | { kind: "invalid"; errors: readonly FieldError[] }
  | { kind: "notProgrammed"; reason: string }
  | { kind: "refused"; refusal: Refusal }
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
    conditions: withTransitionTimes(conditions, previous?.conditions, kubeTime(now), generation),
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
  if (state.kind === "refused")
    return finish({ active: 0 }, [
      condition("Ready", false, "NotPermitted", `not programmed: ${state.refusal.message}`),
      valid,
    ]);
  if (state.kind === "notProgrammed")
    return finish({ active: 0 }, [
      condition("Ready", false, "NotProgrammed", notProgrammedMessage(vs, state.reason)),
      valid,
    ]);
  const { health } = state;
  const svc = health.svc;
  // The previous list is normally in the same order: look by position first, by key otherwise.
  const prior = previous?.realServers ?? [];
  let byKey: Map<string, RealServerEntry> | undefined;
  const priorOf = (i: number, r: RealServer) => {
    const p = prior[i];
    if (p?.address === r.address && p.port === r.port) return p;
    byKey ??= new Map(prior.map((x) => [serverKey(x), x]));
    return byKey.get(serverKey(r));
  };
  const realServers = health.list.map((h, i): RealServerEntry => {
    const old = priorOf(i, h);
    const since = old?.healthy === h.healthy && old.since ? old.since : kubeTime(h.since);
    return { address: h.address, port: h.port, healthy: h.healthy, since };
  });
  const { quorumUp, aliveWeight: weight } = health;
  const active = health.active();
  const sorry = svc.sorryServer
    ? `the sorry server ${serverKey(svc.sorryServer)} serves`
    : "no server serves";
  const healthyCount = realServers.filter((r) => r.healthy).length;
  const ready = !quorumUp
    ? condition(
        "Ready",
        false,
        "QuorumLost",
        svc.hysteresis
          ? `healthy weight ${weight}: quorum ${svc.quorum} lost (down below ${svc.quorum - svc.hysteresis}, up again at ${svc.quorum + svc.hysteresis}): ${sorry}`
          : `healthy weight ${weight} is below quorum ${svc.quorum}: ${sorry}`,
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
