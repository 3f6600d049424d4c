// Which node each router prefers as master, so masters spread over the nodes (keepalived's
// dual-master setup, done for the user). Pure: the controller publishes the choice in
// status.preferredMaster and every agent gives that node PREFERRED_PRIORITY (cluster/routers.ts).
//
// The routers of one spec.syncGroup are spread as one unit: they become master only together, on
// one node, so they get one preferred master, chosen among the nodes every one of them may use.
// (Their other nodes' priorities come from the group's name, cluster/routers.ts priorityKey, so
// they also agree on the order after it.) A unit weighs as many masters as it has members, since
// each member's addresses and traffic land on that node. A group whose members share no usable
// node cannot be honoured: its members are spread one by one and syncGroupSplits says why.
//
// Balanced: a unit's master never sits on a node whose load exceeds that of a node the unit could
// use instead by more than the unit's weight. For a lone router (weight 1) that is "no gap of two":
// no node masters two routers while an eligible node masters none. A group of k may leave up to k
// on one node, which moving it would only turn around. Stable: a unit keeps the master it had while
// that node is still eligible and the balance holds; a new unit goes to the least loaded node; a
// new node takes only as many units as the balance needs, the youngest first.
import {
  fnv1a,
  inMaintenance,
  priorityKey,
  selectedNodes,
  type ClusterNode,
  type RouterObject,
} from "./routers.ts";

/** The nodes a router may be master on: selected and not in maintenance. */
function eligibleNodes(router: RouterObject, nodes: readonly ClusterNode[]): string[] {
  return selectedNodes(router, nodes)
    .filter((n) => !inMaintenance(n))
    .map((n) => n.name)
    .sort();
}

/** The master an admin chose with spec.priorities (the highest named node), which counts as load. */
function chosenMaster(router: RouterObject, nodes: readonly ClusterNode[]): string | undefined {
  const selected = new Set(selectedNodes(router, nodes).map((n) => n.name));
  const named = (router.spec.priorities ?? []).filter((p) => selected.has(p.node));
  return named.sort((a, b) => b.priority - a.priority || a.node.localeCompare(b.node))[0]?.node;
}

const age = (r: RouterObject) => r.metadata.creationTimestamp ?? "";

/** Routers that get one preferred master together: a lone router, or the members of a sync group. */
interface Unit {
  /** What ties are broken by: the router's name, or its group's (priorityKey). */
  key: string;
  /** Oldest first. */
  members: string[];
  /** Nodes every member may use, sorted. */
  eligible: string[];
}

export interface SyncGroupSplit {
  reason: "NoCommonNode" | "PrioritiesDiffer";
  /** Names the group, its routers and (NoCommonNode) each one's usable nodes. */
  message: string;
}

interface Plan {
  /** Oldest first (by the oldest member). */
  units: Unit[];
  /** Masters an admin chose with spec.priorities: one load each. */
  chosen: string[];
  /** Why a router's sync group is not given one preferred master, by router. */
  splits: Map<string, SyncGroupSplit>;
}

function plan(routers: readonly RouterObject[], nodes: readonly ClusterNode[]): Plan {
  // Oldest first: older routers keep their masters, younger ones move when something must.
  const ordered = [...routers]
    .filter((r) => !r.metadata.deletionTimestamp)
    .sort((a, b) => age(a).localeCompare(age(b)) || a.metadata.name.localeCompare(b.metadata.name));
  const chosen: string[] = [];
  const groups = new Map<string, { free: RouterObject[]; fixed: RouterObject[] }>();
  const slots: (RouterObject | string)[] = []; // a lone router, or a group's name at its oldest member
  for (const r of ordered) {
    if (r.spec.priorities?.length) {
      const m = chosenMaster(r, nodes);
      if (m) chosen.push(m);
    }
    const g = r.spec.syncGroup;
    if (g === undefined) {
      if (!r.spec.priorities?.length) slots.push(r);
      continue;
    }
    let group = groups.get(g);
    if (!group) {
      group = { free: [], fixed: [] };
      groups.set(g, group);
      slots.push(g);
    }
    (r.spec.priorities?.length ? group.fixed : group.free).push(r);
  }

  const units: Unit[] = [];
  const splits = new Map<string, SyncGroupSplit>();
  const alone = (r: RouterObject): Unit[] => {
    const eligible = eligibleNodes(r, nodes);
    return eligible.length > 0 ? [{ key: r.metadata.name, members: [r.metadata.name], eligible }] : [];
  };
  for (const slot of slots) {
    if (typeof slot !== "string") {
      units.push(...alone(slot));
      continue;
    }
    const { free, fixed } = groups.get(slot)!;
    const names = (rs: RouterObject[]) => rs.map((r) => r.metadata.name).join(", ");
    if (fixed.length > 0 && free.length > 0) {
      // The admin's order for some and the controller's for others need not agree.
      const message = `syncGroup ${slot}: ${names(fixed)} set spec.priorities and ${names(free)} do not, so their priorities need not agree and the group may never be master together; give every member the same spec.priorities, or none`;
      for (const r of [...fixed, ...free])
        splits.set(r.metadata.name, { reason: "PrioritiesDiffer", message });
    }
    // A member that may run nowhere (no node selected, or all in maintenance) cannot be master.
    const running = free
      .map((r) => ({ r, eligible: eligibleNodes(r, nodes) }))
      .filter((m) => m.eligible.length > 0);
    if (running.length === 0) continue;
    const shared = running.reduce(
      (acc, m) => acc.filter((n) => m.eligible.includes(n)),
      running[0]!.eligible,
    );
    if (shared.length > 0) {
      units.push({
        key: priorityKey(running[0]!.r),
        members: running.map((m) => m.r.metadata.name),
        eligible: shared,
      });
      continue;
    }
    const selectedShared = running.reduce<string[]>(
      (acc, m) => acc.filter((n) => selectedNodes(m.r, nodes).some((s) => s.name === n)),
      selectedNodes(running[0]!.r, nodes).map((n) => n.name),
    );
    const why =
      selectedShared.length > 0
        ? `the nodes they share (${selectedShared.join(", ")}) are in maintenance`
        : "no node is selected by all of them";
    const message = `syncGroup ${slot}: ${running.map((m) => `${m.r.metadata.name} (${m.eligible.join(", ")})`).join(", ")} can be master on no common node, as ${why}; their masters are spread one by one and the group cannot be master together`;
    for (const m of running) {
      if (!splits.has(m.r.metadata.name)) splits.set(m.r.metadata.name, { reason: "NoCommonNode", message });
      units.push({ key: m.r.metadata.name, members: [m.r.metadata.name], eligible: m.eligible });
    }
  }
  return { units, chosen, splits };
}

/**
 * The preferred master of every router that has none chosen by spec.priorities. `previous` gives
 * each router's last choice (status.preferredMaster), kept where the rules allow. Members of one
 * sync group get the same node unless syncGroupSplits names them.
 */
export function assignMasters(
  routers: readonly RouterObject[],
  nodes: readonly ClusterNode[],
  previous: (router: string) => string | undefined = () => undefined,
): Map<string, string> {
  const { units, chosen } = plan(routers, nodes);
  const load = new Map<string, number>(nodes.map((n) => [n.name, 0]));
  const add = (node: string, d: number) => load.set(node, (load.get(node) ?? 0) + d);
  for (const m of chosen) add(m, 1);
  const at = new Map<Unit, string>();
  const weight = (u: Unit) => u.members.length;
  // Keep what each had while still eligible; a group keeps its oldest member's that still fits.
  for (const u of units) {
    const before = u.members.map(previous).find((p) => p !== undefined && u.eligible.includes(p));
    if (before !== undefined) {
      at.set(u, before);
      add(before, weight(u));
    }
  }
  // Newcomers (or units whose master left) go to their least loaded node.
  for (const u of units) {
    if (at.has(u)) continue;
    const node = leastLoaded(u.eligible, load, u.key);
    at.set(u, node);
    add(node, weight(u));
  }
  // Rebalance: move the youngest unit off a node more than its weight above one it could use. Each
  // move lowers the sum of squared loads, so this ends.
  for (let moved = true; moved;) {
    moved = false;
    for (const u of [...units].reverse()) {
      const from = at.get(u)!;
      const to = leastLoaded(u.eligible, load, u.key);
      if ((load.get(from) ?? 0) - (load.get(to) ?? 0) > weight(u)) {
        at.set(u, to);
        add(from, -weight(u));
        add(to, weight(u));
        moved = true;
        break;
      }
    }
  }
  const out = new Map<string, string>();
  for (const u of units) for (const m of u.members) out.set(m, at.get(u)!);
  return out;
}

/**
 * Routers whose spec.syncGroup the controller cannot honour, with why (the SyncGroupSplit
 * condition): members that share no usable node, or a group mixing spec.priorities with none.
 */
export function syncGroupSplits(
  routers: readonly RouterObject[],
  nodes: readonly ClusterNode[],
): Map<string, SyncGroupSplit> {
  return plan(routers, nodes).splits;
}

/** The eligible node with the fewest masters; ties broken by a hash of unit and node, so units differ. */
function leastLoaded(eligible: readonly string[], load: ReadonlyMap<string, number>, key: string): string {
  let best = eligible[0]!;
  for (const n of eligible.slice(1)) {
    const d = (load.get(n) ?? 0) - (load.get(best) ?? 0);
    if (d < 0 || (d === 0 && tieBreak(key, n) > tieBreak(key, best))) best = n;
  }
  return best;
}

function tieBreak(key: string, node: string): number {
  return fnv1a(`${key}/${node}`);
}
