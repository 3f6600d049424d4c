// What a VirtualRouter means in a cluster: which nodes take part, each node's priority, the VRID
// the controller allocates, the unicast peers taken from Nodes, and the conflicts between routers.
// Pure: the controller plans with it, and each agent resolves its own share with the same rules.
import type { V1Node } from "@kubernetes/client-node";
import { parseCidr } from "../base/ip.ts";
import type { VirtualRouter } from "../api/virtual-router.ts";
import { familyOf, addressToBytes, bytesToAddress, type IpFamily } from "../base/ip.ts";

/** The facts about a Node that planning needs. */
export interface ClusterNode {
  name: string;
  labels: Readonly<Record<string, string>>;
  /** InternalIP addresses (then ExternalIP if none), canonical. */
  addresses: readonly string[];
}

/** A Node object's facts, as the controller and the agents both read them. */
export function toClusterNode(n: V1Node): ClusterNode {
  const all = n.status?.addresses ?? [];
  const internal = all.filter((a) => a.type === "InternalIP").map((a) => a.address);
  const addresses =
    internal.length > 0 ? internal : all.filter((a) => a.type === "ExternalIP").map((a) => a.address);
  return { name: n.metadata?.name ?? "", labels: n.metadata?.labels ?? {}, addresses };
}

/** A VirtualRouter as read from the API: metadata and the controller's share of status. */
export type RouterObject = Omit<VirtualRouter, "metadata"> & {
  metadata: VirtualRouter["metadata"] & {
    uid?: string;
    creationTimestamp?: string;
    generation?: number;
    deletionTimestamp?: string;
    finalizers?: string[];
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  status?: { vrid?: number; preferredMaster?: string };
};

/** Labels that put a node in maintenance: its instances stop and hand over (keepalived's down file). */
export const MAINTENANCE_LABEL = "vipkeeper.io/maintenance";

export function inMaintenance(node: Pick<ClusterNode, "labels">): boolean {
  const v = node.labels[MAINTENANCE_LABEL];
  return v !== undefined && v !== "false";
}

export function matchesSelector(
  labels: Readonly<Record<string, string>>,
  selector: Readonly<Record<string, string>> | undefined,
): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

/** The nodes that run the router: those its nodeSelector matches (every node when it has none). */
export function selectedNodes(router: RouterObject, nodes: readonly ClusterNode[]): ClusterNode[] {
  return nodes.filter((n) => matchesSelector(n.labels, router.spec.nodeSelector));
}

/**
 * A node's priority when spec.priorities does not name it: 100..199 from a hash of the router's
 * priorityKey (its name, or its sync group's) and node.
 * It depends on nothing else, so a node joining or leaving never changes another node's priority
 * (which would make the master move), and different routers get different masters.
 */
export function defaultPriority(router: string, node: string): number {
  return 100 + (fnv1a(`${router}/${node}`) % 100);
}

/** The priority of the node the controller prefers as master (status.preferredMaster): above every default. */
export const PREFERRED_PRIORITY = 200;

/**
 * What a router's default priorities are hashed from: its name, or its spec.syncGroup's, so the
 * members of a group rank every node alike (they become master only together, so a member that
 * preferred another node than the rest would hold the group in Backup). `:` is in no object name.
 */
export function priorityKey(router: RouterObject): string {
  return router.spec.syncGroup !== undefined ? `syncGroup:${router.spec.syncGroup}` : router.metadata.name;
}

/** spec.priorities, else PREFERRED_PRIORITY for the preferred master, else the default. */
export function priorityOf(router: RouterObject, node: string): number {
  const named = router.spec.priorities?.find((p) => p.node === node)?.priority;
  if (named !== undefined) return named;
  if (!router.spec.priorities?.length && router.status?.preferredMaster === node) return PREFERRED_PRIORITY;
  return defaultPriority(priorityKey(router), node);
}

/**
 * The segments a router speaks on, as keys: its interface (when named) and each address's network.
 * A bare address stands for its /24 (IPv4) or /64 (IPv6), the usual subnet of a VIP.
 */
export function segmentKeys(router: RouterObject): string[] {
  const keys = new Set<string>();
  for (const a of router.spec.addresses) {
    const cidr = parseCidr(a.address);
    if (!cidr) continue;
    const max = cidr.family === 4 ? 32 : 128;
    const prefix = cidr.prefixLength === max ? (cidr.family === 4 ? 24 : 64) : cidr.prefixLength;
    keys.add(`${a.dev ?? router.spec.interface ?? "*"}|${network(cidr.address, prefix)}/${prefix}`);
  }
  return [...keys];
}

export interface RouterConflict {
  router: string;
  kind: "VRIDConflict" | "AddressConflict";
  /** The condition's reason when it is not the kind itself. */
  reason?: typeof VRIDS_EXHAUSTED;
  message: string;
}

/** The reason of a VRIDConflict that is no clash but a segment with no VRID left. */
export const VRIDS_EXHAUSTED = "VRIDsExhausted";

/** A segment key for people: "198.18.0.0/24", or "198.18.0.0/24 on eth0" when an interface is named. */
export function segmentText(key: string): string {
  const [dev, net] = key.split("|") as [string, string];
  return dev === "*" ? net : `${net} on ${dev}`;
}

export interface VridAllocation {
  /** The VRID each router runs with; absent for a router that must not run (see conflicts). */
  vrids: Map<string, number>;
  conflicts: RouterConflict[];
}

/**
 * VRIDs for every router: spec.vrid when given, else the one allocated before (status.vrid) while
 * it is still free, else the lowest free one among routers that share a segment and a node. Older
 * routers keep theirs: a newcomer never takes a VRID in use. Two routers claiming one VRID on a
 * segment, or one address, are conflicts: the newer one does not run.
 */
export function allocateVrids(
  routers: readonly RouterObject[],
  nodes: readonly ClusterNode[],
): VridAllocation {
  const ordered = [...routers]
    .filter((r) => !r.metadata.deletionTimestamp)
    .sort((a, b) => age(a).localeCompare(age(b)) || a.metadata.name.localeCompare(b.metadata.name));
  const conflicts: RouterConflict[] = [];
  const vrids = new Map<string, number>();
  // Placed routers by segment, so a router is checked only against those it shares a segment with.
  const placed = new Map<string, { name: string; vrid: number; nodes: Set<string> }[]>();
  const owners = new Map<string, string>();

  const blocked = new Set<string>();
  for (const r of ordered) {
    for (const a of r.spec.addresses) {
      const address = parseCidr(a.address)?.address ?? a.address;
      const owner = owners.get(address);
      if (owner === undefined) owners.set(address, r.metadata.name);
      else {
        blocked.add(r.metadata.name);
        conflicts.push({
          router: r.metadata.name,
          kind: "AddressConflict",
          message: `address ${address} is already held by VirtualRouter ${owner}`,
        });
        conflicts.push({
          router: owner,
          kind: "AddressConflict",
          message: `VirtualRouter ${r.metadata.name} also claims ${address}; it does not run`,
        });
      }
    }
  }

  const taken = (segments: string[], members: Set<string>): Map<number, string> => {
    const used = new Map<number, string>();
    for (const s of segments)
      for (const p of placed.get(s) ?? [])
        if (!used.has(p.vrid) && [...p.nodes].some((n) => members.has(n))) used.set(p.vrid, p.name);
    return used;
  };
  const place = (r: RouterObject, vrid: number, segments: string[], members: Set<string>) => {
    for (const s of segments) {
      const list = placed.get(s) ?? [];
      list.push({ name: r.metadata.name, vrid, nodes: members });
      placed.set(s, list);
    }
    vrids.set(r.metadata.name, vrid);
  };

  const candidates = ordered.filter((r) => !blocked.has(r.metadata.name));
  const info = (r: RouterObject) => ({
    segments: segmentKeys(r),
    members: new Set(selectedNodes(r, nodes).map((n) => n.name)),
  });
  // Explicit VRIDs first, then those allocated before, then the new ones.
  const explicit = candidates.filter((r) => r.spec.vrid !== undefined);
  const previous = candidates.filter((r) => r.spec.vrid === undefined && r.status?.vrid !== undefined);
  const fresh = candidates.filter((r) => r.spec.vrid === undefined && r.status?.vrid === undefined);
  for (const r of explicit) {
    const { segments, members } = info(r);
    const holder = taken(segments, members).get(r.spec.vrid!);
    if (holder !== undefined) {
      conflicts.push({
        router: r.metadata.name,
        kind: "VRIDConflict",
        message: `VRID ${r.spec.vrid} is already used on this segment by VirtualRouter ${holder}`,
      });
      conflicts.push({
        router: holder,
        kind: "VRIDConflict",
        message: `VirtualRouter ${r.metadata.name} asks for the same VRID ${r.spec.vrid} on this segment; it does not run`,
      });
      continue;
    }
    place(r, r.spec.vrid!, segments, members);
  }
  for (const r of [...previous, ...fresh]) {
    const { segments, members } = info(r);
    const used = taken(segments, members);
    const kept = r.status?.vrid;
    const vrid = kept !== undefined && !used.has(kept) ? kept : [...range(1, 255)].find((v) => !used.has(v));
    if (vrid === undefined) {
      conflicts.push({
        router: r.metadata.name,
        kind: "VRIDConflict",
        reason: VRIDS_EXHAUSTED,
        message: `every VRID (1-255) is in use on ${segments.map(segmentText).join(", ")}; this router does not run`,
      });
      continue;
    }
    place(r, vrid, segments, members);
  }
  return { vrids, conflicts };
}

/**
 * Unicast peers: the list given, or, when spec.unicast is present without peers, the addresses of
 * the selected nodes in the families the router uses (each agent leaves out its own).
 */
export function unicastPeers(router: RouterObject, nodes: readonly ClusterNode[]): string[] {
  const unicast = router.spec.unicast;
  if (!unicast) return [];
  if (unicast.peers && unicast.peers.length > 0) return [...unicast.peers];
  const families = new Set(
    router.spec.addresses.map((a) => parseCidr(a.address)?.family).filter((f): f is IpFamily => !!f),
  );
  return selectedNodes(router, nodes)
    .flatMap((n) => n.addresses)
    .filter((a) => families.has(familyOf(a)!));
}

/**
 * The router as this node runs it (the file-mode shape planForNode takes): the VRID, this node's
 * priority, the interface found on this host, and the unicast peers filled in.
 */
export function resolveForNode(
  router: RouterObject,
  nodes: readonly ClusterNode[],
  node: string,
  vrid: number,
  interfaceName: string,
): VirtualRouter {
  const peers = unicastPeers(router, nodes);
  return {
    apiVersion: router.apiVersion,
    kind: router.kind,
    metadata: { name: router.metadata.name },
    spec: {
      ...router.spec,
      vrid,
      interface: interfaceName,
      priorities: [{ node, priority: priorityOf(router, node) }],
      ...(router.spec.unicast ? { unicast: { peers } } : {}),
    },
  };
}

const age = (r: RouterObject) => r.metadata.creationTimestamp ?? "";

function* range(from: number, to: number): Generator<number> {
  for (let i = from; i <= to; i++) yield i;
}

function network(address: string, prefix: number): string {
  const bytes = addressToBytes(address);
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    bytes[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return bytesToAddress(bytes);
}

/** FNV-1a, 32 bits: a small stable hash (not for security). */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(text, "utf8")) {
    h ^= c;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
