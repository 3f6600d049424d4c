// Which node each router prefers as master, so masters spread over the nodes (keepalived's
// dual-master setup, done for the user). Pure: the controller publishes the choice in
// status.preferredMaster and every agent gives that node PREFERRED_PRIORITY (cluster/routers.ts).
//
// Balanced: a router's master never sits on a node that masters two or more routers more than a
// node it could use instead ("no node masters two routers while an eligible node masters none",
// and more generally no gap of two). Stable: a router keeps the master it had while that node is
// still eligible and the balance holds; a new router goes to the least loaded node; a new node takes
// only as many routers as the balance needs, the youngest first.
import { fnv1a, inMaintenance, selectedNodes, type ClusterNode, type RouterObject } from "./routers.ts";

/** A router that takes part: no spec.priorities (an admin's own choice stands), and some node. */
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

/**
 * The preferred master of every router that has none chosen by spec.priorities. `previous` gives
 * each router's last choice (status.preferredMaster), kept where the rules allow.
 */
export function assignMasters(
  routers: readonly RouterObject[],
  nodes: readonly ClusterNode[],
  previous: (router: string) => string | undefined = () => undefined,
): Map<string, string> {
  const load = new Map<string, number>(nodes.map((n) => [n.name, 0]));
  const add = (node: string, d: number) => load.set(node, (load.get(node) ?? 0) + d);
  // Oldest first: older routers keep their masters, younger ones move when something must.
  const ordered = [...routers]
    .filter((r) => !r.metadata.deletionTimestamp)
    .sort((a, b) => age(a).localeCompare(age(b)) || a.metadata.name.localeCompare(b.metadata.name));
  const free: { name: string; eligible: string[] }[] = [];
  for (const r of ordered) {
    if (r.spec.priorities?.length) {
      const m = chosenMaster(r, nodes);
      if (m) add(m, 1);
      continue;
    }
    const eligible = eligibleNodes(r, nodes);
    if (eligible.length > 0) free.push({ name: r.metadata.name, eligible });
  }
  const out = new Map<string, string>();
  // Keep what each had while still eligible.
  for (const r of free) {
    const before = previous(r.name);
    if (before !== undefined && r.eligible.includes(before)) {
      out.set(r.name, before);
      add(before, 1);
    }
  }
  // Newcomers (or routers whose master left) go to their least loaded node.
  for (const r of free) {
    if (out.has(r.name)) continue;
    const node = leastLoaded(r.eligible, load, r.name);
    out.set(r.name, node);
    add(node, 1);
  }
  // Rebalance: move the youngest router off a node two or more above one it could use.
  for (let moved = true; moved;) {
    moved = false;
    for (const r of [...free].reverse()) {
      const at = out.get(r.name)!;
      const to = leastLoaded(r.eligible, load, r.name);
      if ((load.get(at) ?? 0) - (load.get(to) ?? 0) >= 2) {
        out.set(r.name, to);
        add(at, -1);
        add(to, 1);
        moved = true;
        break;
      }
    }
  }
  return out;
}

/** The eligible node with the fewest masters; ties broken by a hash of router and node, so routers differ. */
function leastLoaded(eligible: readonly string[], load: ReadonlyMap<string, number>, router: string): string {
  let best = eligible[0]!;
  for (const n of eligible.slice(1)) {
    const d = (load.get(n) ?? 0) - (load.get(best) ?? 0);
    if (d < 0 || (d === 0 && tieBreak(router, n) > tieBreak(router, best))) best = n;
  }
  return best;
}

function tieBreak(router: string, node: string): number {
  return fnv1a(`${router}/${node}`);
}
