// Cluster mode, pure part: from the routers, the Nodes, this host's interfaces and the agent's own
// settings to the plan of each router this node runs (or why it does not run it).
import { validateVirtualRouter, type VirtualRouter } from "../api/virtual-router.ts";
import {
  inMaintenance,
  matchesSelector,
  resolveForNode,
  type ClusterNode,
  type RouterObject,
} from "../cluster/routers.ts";
import { familyOf, parseCidr, sameNetwork, type IpFamily } from "../base/ip.ts";
import { planForNode, type NodePlan, type SourceFilter } from "../plan/plan.ts";

export interface HostAddress {
  interfaceName: string;
  family: IpFamily;
  address: string;
  prefixLength: number;
}

export interface ClusterInputs {
  node: string;
  routers: readonly RouterObject[];
  nodes: readonly ClusterNode[];
  host: readonly HostAddress[];
  /** The admin allowed scripts in this agent's own configuration (never an object's say). */
  allowScripts: boolean;
  /** A Secret's key in the agent's namespace, decoded; undefined when absent. */
  secret(name: string, key: string): string | undefined;
}

export type RouterDecision =
  | { router: string; run: true; plan: NodePlan; notes: string[] }
  | { router: string; run: false; reason: string };

/**
 * Validation and planning of each resolved router, kept from one pass to the next by the resolved
 * router's JSON (the entries the last pass did not use go). They are most of a pass's work, and
 * a pass over 255 routers of which one changed would otherwise redo them all; at start, ~5 MB
 * allocated per pass.
 */
export class PlanCache {
  private last = new Map<string, { errors: string | undefined; plan: NodePlan }>();
  private next = new Map<string, { errors: string | undefined; plan: NodePlan }>();

  get(resolved: VirtualRouter, node: string): { errors: string | undefined; plan: NodePlan } {
    const key = JSON.stringify([node, resolved]);
    let hit = this.next.get(key) ?? this.last.get(key);
    if (!hit) {
      const errors = validateVirtualRouter(resolved);
      hit = {
        errors: errors.length > 0 ? errors.map((e) => `${e.field}: ${e.message}`).join("; ") : undefined,
        plan: errors.length > 0 ? { instances: [], skipped: [] } : planForNode([resolved], node),
      };
    }
    this.next.set(key, hit);
    return hit;
  }

  /** Plans held (for tests). */
  get size(): number {
    return this.last.size + this.next.size;
  }

  /** A pass ended: what it did not use is forgotten. */
  passed(): void {
    this.last = this.next;
    this.next = new Map();
  }
}

/** What this node does with every router that selects it (routers that do not select it are left out). */
export function decideRouters(inputs: ClusterInputs, cache = new PlanCache()): RouterDecision[] {
  const me = inputs.nodes.find((n) => n.name === inputs.node);
  if (!me) return [];
  const out: RouterDecision[] = [];
  for (const router of inputs.routers) {
    if (!matchesSelector(me.labels, router.spec.nodeSelector)) continue;
    out.push(decide(router, me, inputs, cache));
  }
  cache.passed();
  return out;
}

function decide(
  router: RouterObject,
  me: ClusterNode,
  inputs: ClusterInputs,
  cache: PlanCache,
): RouterDecision {
  const name = router.metadata.name;
  const no = (reason: string): RouterDecision => ({ router: name, run: false, reason });
  if (router.metadata.deletionTimestamp) return no("the router is being deleted");
  if (inMaintenance(me)) return no("the node is in maintenance (label vipkeeper.io/maintenance)");
  const vrid = router.status?.vrid;
  if (vrid === undefined) return no("waiting for the controller to assign a VRID (status.vrid)");
  if (router.spec.vrid !== undefined && router.spec.vrid !== vrid)
    return no(`waiting for the controller: spec.vrid ${router.spec.vrid}, status.vrid ${vrid}`);
  if (router.spec.track?.scripts?.length && !inputs.allowScripts)
    return no("spec.track.scripts: this agent does not run scripts (start it with --allow-scripts)");
  const iface = router.spec.interface ?? interfaceFor(router, inputs.host);
  if (!iface) return no(`no interface of this node is on the subnet of ${router.spec.addresses[0]?.address}`);
  const notes: string[] = [];
  let spec = router.spec;
  if ((spec.notify?.scripts || spec.notify?.syncGroupScripts) && !inputs.allowScripts) {
    const dropped = [spec.notify.scripts && "scripts", spec.notify.syncGroupScripts && "syncGroupScripts"]
      .filter(Boolean)
      .map((f) => `spec.notify.${f}`);
    notes.push(`${dropped.join(" and ")} are not run: this agent does not run scripts`);
    const { scripts: _s, syncGroupScripts: _g, ...rest } = spec.notify;
    spec = { ...spec, notify: rest };
  }
  const auth = spec.authentication;
  if (auth?.secretRef && !auth.password) {
    const password = inputs.secret(auth.secretRef.name, auth.secretRef.key);
    if (password === undefined)
      return no(
        `spec.authentication.secretRef: Secret ${auth.secretRef.name} has no key ${auth.secretRef.key} here`,
      );
    spec = { ...spec, authentication: { type: "PASS", password } };
  }
  const resolved: VirtualRouter = resolveForNode({ ...router, spec }, inputs.nodes, me.name, vrid, iface);
  const planned = cache.get(resolved, me.name);
  if (planned.errors) return no(planned.errors);
  // The instances are copied: their sources are this pass's, and the cached plan is shared.
  const plan: NodePlan = {
    instances: planned.plan.instances.map((i) => ({ ...i })),
    skipped: planned.plan.skipped,
  };
  if (plan.instances.length === 0) return no(plan.skipped.map((s) => s.reason).join("; "));
  for (const i of plan.instances) {
    const sources = clusterSources(i.family, inputs.nodes);
    // Our own adverts leave from an address of the interface: when none of them is our Node's
    // address, the other nodes' adverts likely leave from addresses their Nodes do not list
    // either (another network than the InternalIP's), and the filter would split the router.
    const own = inputs.host.filter((h) => h.interfaceName === iface && h.family === 4).map((h) => h.address);
    if (sources.kind === "nodes" && !own.some((a) => me.addresses.includes(a))) {
      notes.push(
        `adverts from any source on ${iface} are obeyed: none of its addresses (${own.join(", ") || "none"}) is this Node's address (${me.addresses.join(", ")}), so the Node addresses cannot say who the nodes are there; use unicast, or make the Node's InternalIP an address of ${iface}`,
      );
      continue;
    }
    i.sources = sources;
  }
  return { router: router.metadata.name, run: true, plan, notes };
}

/**
 * Whom a multicast instance obeys in a cluster: the agent obeys only cluster nodes (DESIGN.md,
 * Security rules). IPv4: the Nodes' addresses, every Node's (a node the router does not select
 * may still be resigning it). IPv6: adverts come from link-local sources, which Node objects do
 * not list, so any link-local source with hop limit 255 (on the link, GTSM); `unicast: {}` is
 * what filters IPv6 to the nodes. (An instance with unicast peers obeys the peers only.) The
 * caller leaves IPv4 unfiltered, with a note, where this node's own VRRP interface has no Node
 * address.
 */
export function clusterSources(family: IpFamily, nodes: readonly ClusterNode[]): SourceFilter {
  if (family === 6) return { kind: "link-local" };
  const addresses = new Set(nodes.flatMap((n) => n.addresses).filter((a) => familyOf(a) === 4));
  return { kind: "nodes", addresses: [...addresses].sort() };
}

/** The interface holding an address on the same subnet as the router's first address. */
export function interfaceFor(router: RouterObject, host: readonly HostAddress[]): string | undefined {
  // Not the router's own addresses, held while master: on a virtual MAC's macvlan they would name it.
  const own = new Set(router.spec.addresses.map((a) => parseCidr(a.address)?.address));
  for (const a of router.spec.addresses) {
    const vip = parseCidr(a.address);
    if (!vip) continue;
    const hit = host.find(
      (h) =>
        h.family === vip.family &&
        !own.has(h.address) &&
        h.prefixLength < (vip.family === 4 ? 32 : 128) &&
        !h.address.startsWith("fe80:") &&
        sameNetwork(h.address, vip.address, h.prefixLength),
    );
    if (hit) return hit.interfaceName;
  }
  return undefined;
}
