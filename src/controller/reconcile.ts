// One reconcile of one VirtualRouter, as a pure function of what the caches hold: the status the
// controller owns (VRID, master, conditions), the finalizer, the Events to record. Level-triggered
// and idempotent: the same inputs give the same answer, and nothing depends on what came before
// except what the object itself records.
import { validateVirtualRouter } from "../api/virtual-router.ts";
import { agentLive } from "../cluster/agent-lease.ts";
import { assignMasters, syncGroupSplits, type SyncGroupSplit } from "../cluster/masters.ts";
import { allocateVrids, type VridAllocation } from "../cluster/routers.ts";
import { selectedNodes, type ClusterNode, type RouterObject } from "../cluster/routers.ts";
import {
  summarize,
  withTransitionTimes,
  type AgentLiveness,
  type Condition,
  type NodeEntry,
} from "../cluster/status.ts";
import { kubeTime } from "../base/time.ts";

export const FINALIZER = "vipkeeper.io/release";
/** How long a deleted router waits for live agents to report that they released it. */
export const RELEASE_TIMEOUT_MS = 60_000;
/**
 * ForeignSpeaker stays True this long after the last advert an agent dropped from outside the
 * cluster: agents refresh its time every 20 s while it goes on, and a write may wait on backoff.
 */
export const FOREIGN_SPEAKER_MS = 60_000;

export type RouterWithStatus = RouterObject & {
  status?: RouterObject["status"] & {
    master?: string;
    nodes?: NodeEntry[];
    conditions?: Condition[];
    observedGeneration?: number;
  };
};

/** The status fields the controller owns (applied with its own field manager). */
export interface ControllerStatus {
  vrid?: number;
  /** Given priority 200 by every agent (cluster/masters.ts spreads them). */
  preferredMaster?: string;
  master: string;
  conditions: Condition[];
  observedGeneration?: number;
}

export interface RouterActions {
  addFinalizer: boolean;
  removeFinalizer: boolean;
  /** Undefined when nothing the controller owns would change. */
  status?: ControllerStatus;
  events: { type: "Normal" | "Warning"; reason: string; message: string }[];
  recheckAfterMs?: number;
}

export interface World {
  routers: readonly RouterWithStatus[];
  nodes: readonly ClusterNode[];
  liveness: AgentLiveness;
  now: number;
}

/**
 * The routers' VRIDs, conflicts, preferred masters and the sync groups that cannot be given one
 * master (by router, why): computed once per pass over all routers (global).
 */
export type Allocation = VridAllocation & {
  masters: ReadonlyMap<string, string>;
  syncGroupSplits: ReadonlyMap<string, SyncGroupSplit>;
};

export function allocate(routers: readonly RouterWithStatus[], nodes: readonly ClusterNode[]): Allocation {
  const before = new Map(routers.map((r) => [r.metadata.name, r.status?.preferredMaster]));
  return {
    ...allocateVrids(routers, nodes),
    masters: assignMasters(routers, nodes, (r) => before.get(r)),
    syncGroupSplits: syncGroupSplits(routers, nodes),
  };
}

export function reconcileRouter(
  router: RouterWithStatus,
  world: World,
  allocation: Allocation,
): RouterActions {
  const name = router.metadata.name;
  const actions: RouterActions = { addFinalizer: false, removeFinalizer: false, events: [] };
  const finalizers = router.metadata.finalizers ?? [];
  const selected = new Set(selectedNodes(router, world.nodes).map((n) => n.name));
  const entries = router.status?.nodes ?? [];

  if (router.metadata.deletionTimestamp) {
    if (!finalizers.includes(FINALIZER)) return actions;
    const holding = entries.filter((e) => {
      if (e.state === "Stopped") return false;
      // An agent that stopped renewing cannot answer; its node is gone or its agent is.
      return agentLive(world.liveness.renewedAt(e.name), world.now);
    });
    const waited = world.now - Date.parse(router.metadata.deletionTimestamp);
    if (holding.length === 0 || waited >= RELEASE_TIMEOUT_MS) {
      actions.removeFinalizer = true;
      if (holding.length > 0)
        actions.events.push({
          type: "Warning",
          reason: "ReleaseTimedOut",
          message: `deleted without confirmation from ${holding.map((e) => e.name).join(", ")}`,
        });
    } else actions.recheckAfterMs = Math.max(1000, Math.min(5000, RELEASE_TIMEOUT_MS - waited));
    return actions;
  }
  if (!finalizers.includes(FINALIZER)) actions.addFinalizer = true;

  const problems: { type: string; reason: string; message: string }[] = [];
  const invalid = validateVirtualRouter(stripForValidation(router));
  if (invalid.length > 0)
    problems.push({
      type: "Invalid",
      reason: "InvalidSpec",
      message: invalid.map((e) => `${e.field}: ${e.message}`).join("; "),
    });
  for (const c of allocation.conflicts.filter((c) => c.router === name))
    problems.push({ type: c.kind, reason: c.reason ?? c.kind, message: c.message });
  const nodeAddresses = new Set(world.nodes.flatMap((n) => n.addresses));
  // Agents in cluster mode drop adverts from outside the cluster and report the last one
  // (lastForeignAdvert); an advert heard and obeyed from outside (a unicast peer listed by hand
  // that is no node) counts too.
  const dropped = entries
    .filter((e) => selected.has(e.name))
    .map((e) => e.lastForeignAdvert)
    .filter((f) => f !== undefined && world.now - Date.parse(f.at) < FOREIGN_SPEAKER_MS);
  const foreign = [
    ...new Set([
      ...dropped.map((f) => f!.from),
      ...entries
        .filter((e) => selected.has(e.name))
        .flatMap((e) => [e.lastAdvertHeard, ...(e.instances ?? []).map((i) => i.lastAdvertHeard)])
        .map((h) => h?.from)
        .filter((from): from is string => !!from && !from.startsWith("fe80:") && !nodeAddresses.has(from)),
    ]),
  ];
  if (foreign.length > 0)
    problems.push({
      type: "ForeignSpeaker",
      reason: "AdvertFromOutside",
      message: `adverts for this VRID come from ${foreign.join(", ")}, which is not a cluster node`,
    });
  const split = allocation.syncGroupSplits.get(name);
  if (split !== undefined) problems.push({ type: "SyncGroupSplit", ...split });
  if (selected.size === 0)
    problems.push({
      type: "NoNodes",
      reason: "NoNodeSelected",
      message: "spec.nodeSelector matches no node",
    });

  const summary = summarize(entries, selected, world.liveness, world.now, problems);
  if (summary.recheckAfterMs !== undefined) actions.recheckAfterMs = summary.recheckAfterMs;
  // ForeignSpeaker ends a while after the last foreign advert: look again then.
  const foreignEnds = Math.min(...dropped.map((f) => Date.parse(f!.at) + FOREIGN_SPEAKER_MS - world.now));
  if (Number.isFinite(foreignEnds))
    actions.recheckAfterMs = Math.min(actions.recheckAfterMs ?? Infinity, Math.max(1000, foreignEnds));
  const vrid = allocation.vrids.get(name);
  const preferredMaster = allocation.masters.get(name);
  const old = router.status;
  const now = kubeTime(world.now);
  const conditions = withTransitionTimes(
    summary.conditions,
    old?.conditions,
    now,
    router.metadata.generation,
  );
  const next: ControllerStatus = {
    master: summary.master,
    conditions,
    ...(vrid !== undefined ? { vrid } : {}),
    ...(preferredMaster !== undefined ? { preferredMaster } : {}),
    ...(router.metadata.generation !== undefined ? { observedGeneration: router.metadata.generation } : {}),
  };
  if (!sameStatus(next, old)) actions.status = next;

  const before = old?.master ?? "";
  if (summary.master !== before && (summary.master || before))
    actions.events.push(
      summary.master
        ? {
            type: "Normal",
            reason: "MasterChanged",
            message: before ? `${summary.master} is master (was ${before})` : `${summary.master} is master`,
          }
        : { type: "Warning", reason: "NoMaster", message: `no node is master (was ${before})` },
    );
  for (const c of conditions) {
    const was = old?.conditions?.find((o) => o.type === c.type);
    const bad = c.type === "Ready" ? c.status === "False" : c.status === "True";
    if (bad && was?.status !== c.status && c.reason !== "NoMaster")
      actions.events.push({ type: "Warning", reason: c.reason, message: c.message });
  }
  return actions;
}

/** The object as validateVirtualRouter knows it: API metadata and status are not its business. */
function stripForValidation(router: RouterWithStatus): unknown {
  return {
    apiVersion: router.apiVersion,
    kind: router.kind,
    metadata: { name: router.metadata.name },
    spec: router.spec,
  };
}

function sameStatus(next: ControllerStatus, old: RouterWithStatus["status"]): boolean {
  if (!old) return false;
  if ((old.master ?? "") !== next.master || old.vrid !== next.vrid) return false;
  if (old.preferredMaster !== next.preferredMaster) return false;
  if (old.observedGeneration !== next.observedGeneration) return false;
  const key = (cs: readonly Condition[] | undefined) =>
    JSON.stringify(
      (cs ?? [])
        .map((c) => [c.type, c.status, c.reason, c.message, c.lastTransitionTime, c.observedGeneration])
        .sort(),
    );
  return key(old.conditions) === key(next.conditions);
}
