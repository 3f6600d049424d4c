// VirtualRouter status: each agent's own entry of status.nodes (what it sees on the wire) and the
// controller's summary of them (master, conditions). Pure.

import type { Condition, InstanceEntry, NodeEntry } from "../api/status.ts";
import { agentLive } from "./agent-lease.ts";

export type { Condition, InstanceEntry, NodeEntry };
export type NodeState = NodeEntry["state"];
export type AdvertHeard = NonNullable<NodeEntry["lastAdvertHeard"]>;

export interface AgentLiveness {
  /** When this node's agent last renewed its Lease (epoch ms), if it has one. */
  renewedAt(node: string): number | undefined;
}

export interface RouterSummary {
  master: string;
  conditions: Omit<Condition, "lastTransitionTime">[];
  /** Re-evaluate after this many ms (a claim too fresh to judge). */
  recheckAfterMs?: number;
}

/** How long a second master claim may stand before it counts as split brain. */
export const SPLIT_BRAIN_AFTER_MS = 3000;

/**
 * The controller's view of a router from the agents' entries. The master is the live node whose
 * claim is newest (an older claim from an agent that stopped renewing is stale). Split brain: two
 * live agents both claim master, and the older claimant renewed its Lease well after the newer
 * claim, so it is alive and still says master.
 */
export function summarize(
  entries: readonly NodeEntry[],
  selected: ReadonlySet<string>,
  liveness: AgentLiveness,
  now: number,
  problems: { type: string; reason: string; message: string }[] = [],
): RouterSummary {
  const live = (n: string) => agentLive(liveness.renewedAt(n), now);
  const claims = entries
    .filter((e) => selected.has(e.name) && e.state === "Master" && live(e.name))
    .sort((a, b) => Date.parse(b.since ?? "") - Date.parse(a.since ?? ""));
  const master = claims[0]?.name ?? "";
  const conditions: RouterSummary["conditions"] = [];
  let recheckAfterMs: number | undefined;
  let split: string[] = [];
  if (claims.length > 1) {
    const newest = Date.parse(claims[0]!.since ?? "");
    split = claims
      .slice(1)
      .filter((c) => (liveness.renewedAt(c.name) ?? 0) - newest >= SPLIT_BRAIN_AFTER_MS)
      .map((c) => c.name);
    if (split.length === 0) recheckAfterMs = SPLIT_BRAIN_AFTER_MS;
  }
  conditions.push(
    split.length > 0
      ? {
          type: "SplitBrain",
          status: "True",
          reason: "SeveralMasters",
          message: `nodes ${[master, ...split].join(", ")} all claim to be master`,
        }
      : {
          type: "SplitBrain",
          status: "False",
          reason: "OneMaster",
          message: "at most one node claims to be master",
        },
  );
  for (const p of problems)
    conditions.push({ type: p.type, status: "True", reason: p.reason, message: p.message });
  const blocking = problems.find((p) => p.type === "VRIDConflict" || p.type === "AddressConflict");
  conditions.unshift(
    blocking
      ? { type: "Ready", status: "False", reason: blocking.type, message: blocking.message }
      : master
        ? { type: "Ready", status: "True", reason: "MasterElected", message: `${master} holds the addresses` }
        : {
            type: "Ready",
            status: "False",
            reason: "NoMaster",
            message:
              claims.length === 0 && entries.length === 0
                ? "no agent has reported yet"
                : "no live node is master",
          },
  );
  return { master, conditions, ...(recheckAfterMs !== undefined ? { recheckAfterMs } : {}) };
}

/** Conditions with lastTransitionTime kept while the status does not change (metav1.Condition rules). */
export function withTransitionTimes(
  next: readonly Omit<Condition, "lastTransitionTime">[],
  previous: readonly Condition[] | undefined,
  now: string,
  generation: number | undefined,
): Condition[] {
  return next.map((c) => {
    const old = previous?.find((p) => p.type === c.type);
    return {
      ...c,
      lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : now,
      ...(generation !== undefined ? { observedGeneration: generation } : {}),
    };
  });
}
