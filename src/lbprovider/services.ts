// LoadBalancer Services, pure part: which Services are ours, what each asks for, the status we
// publish, and the VirtualRouters that keep the addresses alive (several per pool, so masters
// spread over nodes as in keepalived's dual-master pattern).
import type { V1EndpointSlice, V1LoadBalancerIngress, V1Service } from "@kubernetes/client-node";
import { API_VERSION, type VirtualRouterSpec } from "../api/virtual-router.ts";
import { namespaceByName } from "../cluster/grants.ts";
import { fnv1a, type RouterObject } from "../cluster/routers.ts";
import { canonicalAddress, familyOf, type IpFamily } from "../base/ip.ts";
import type { Assignment, ServiceRequest } from "./allocator.ts";

export const LB_CLASS = "vipkeeper.io/vrrp";
export const ANNOTATION_ADDRESSES = "vipkeeper.io/addresses";
export const ANNOTATION_POOL = "vipkeeper.io/pool";
export const ANNOTATION_SHARING_KEY = "vipkeeper.io/sharing-key";
/** Namespaces (comma-separated, or *) whose Services may share this one's address (Cilium's model). */
export const ANNOTATION_SHARING_NAMESPACES = "vipkeeper.io/sharing-cross-namespace";
/** Labels on the VirtualRouters the provider generates. */
export const LABEL_POOL = "vipkeeper.io/pool";
export const LABEL_MANAGED = "app.kubernetes.io/managed-by";
export const MANAGER = "vipkeeper-lb-provider";
type VirtualServerGrants = NonNullable<VirtualRouterSpec["virtualServers"]>;

export const serviceKey = (s: V1Service) => `${s.metadata?.namespace ?? "default"}/${s.metadata?.name ?? ""}`;

/** Ours: type LoadBalancer with our class, or with no class when vipkeeper is the default provider. */
export function isOurs(s: V1Service, isDefaultProvider: boolean): boolean {
  if (s.spec?.type !== "LoadBalancer") return false;
  const cls = s.spec.loadBalancerClass;
  return cls === LB_CLASS || (cls === undefined && isDefaultProvider);
}

export interface ParsedRequest {
  request?: ServiceRequest;
  /** Problems worth an Event (the request may still be usable). */
  warnings: string[];
  error?: string;
}

export function serviceRequest(s: V1Service): ParsedRequest {
  const warnings: string[] = [];
  const ann = s.metadata?.annotations ?? {};
  const families: IpFamily[] = (s.spec?.ipFamilies?.length ? s.spec.ipFamilies : ["IPv4"]).map((f) =>
    f === "IPv6" ? 6 : 4,
  );
  let requested: string[] | undefined;
  if (ann[ANNOTATION_ADDRESSES]) {
    requested = ann[ANNOTATION_ADDRESSES].split(",")
      .map((a) => a.trim())
      .filter(Boolean);
    const bad = requested.find((a) => !familyOf(a));
    if (bad) return { warnings, error: `annotation ${ANNOTATION_ADDRESSES}: '${bad}' is not an IP address` };
    requested = requested.map(canonicalAddress);
    const fams = requested.map((a) => familyOf(a)!);
    if (fams.length !== families.length || !families.every((f) => fams.includes(f)))
      return {
        warnings,
        error: `annotation ${ANNOTATION_ADDRESSES}: asks for ${fams.map((f) => `IPv${f}`).join("+")}, but spec.ipFamilies is ${families.map((f) => `IPv${f}`).join("+")}`,
      };
  } else if (s.spec?.loadBalancerIP) {
    warnings.push(
      `spec.loadBalancerIP is deprecated and cannot say dual-stack; use the annotation ${ANNOTATION_ADDRESSES}`,
    );
    if (!familyOf(s.spec.loadBalancerIP))
      return { warnings, error: `spec.loadBalancerIP: '${s.spec.loadBalancerIP}' is not an IP address` };
    requested = [canonicalAddress(s.spec.loadBalancerIP)];
  }
  const request: ServiceRequest = {
    key: serviceKey(s),
    families,
    ports: (s.spec?.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol ?? "TCP" })),
    ...(s.metadata?.labels ? { labels: s.metadata.labels } : {}),
    ...(requested ? { requested } : {}),
    ...(ann[ANNOTATION_POOL] ? { pool: ann[ANNOTATION_POOL] } : {}),
    ...(ann[ANNOTATION_SHARING_KEY] ? { sharingKey: ann[ANNOTATION_SHARING_KEY] } : {}),
    ...(ann[ANNOTATION_SHARING_NAMESPACES]
      ? {
          sharingNamespaces: ann[ANNOTATION_SHARING_NAMESPACES].split(",")
            .map((n) => n.trim())
            .filter(Boolean),
        }
      : {}),
  };
  return { request, warnings };
}

/** The addresses the Service publishes now (to adopt them after a restart). */
export function publishedAddresses(s: V1Service): string[] {
  return (s.status?.loadBalancer?.ingress ?? [])
    .map((i) => i.ip)
    .filter((ip): ip is string => !!ip && !!familyOf(ip))
    .map(canonicalAddress);
}

/**
 * The nodes each Service's endpoints lie on (key namespace/name), from its EndpointSlices. Ready or
 * not: readiness is the agents' tracking's business, on the spot, so a flapping probe moves no
 * address between routers; a terminating endpoint no longer counts, its node is on its way out.
 */
export function endpointNodes(slices: readonly V1EndpointSlice[]): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  for (const s of slices) {
    const service = s.metadata?.labels?.["kubernetes.io/service-name"];
    if (!service) continue;
    const key = `${s.metadata?.namespace ?? "default"}/${service}`;
    const nodes = out.get(key) ?? out.set(key, new Set()).get(key)!;
    for (const e of s.endpoints ?? [])
      if (e.nodeName && e.conditions?.terminating !== true) nodes.add(e.nodeName);
  }
  return new Map([...out].map(([k, v]) => [k, nodeSet(v)]));
}

/** ipMode VIP: traffic to the address is delivered to the node with the destination unchanged. */
export function ingressFor(a: Assignment | undefined): V1LoadBalancerIngress[] {
  return (a?.addresses ?? []).map((ip) => ({ ip, ipMode: "VIP" }));
}

export interface PoolAnnouncement {
  pool: string;
  /** How many routers the pool's Services are spread over. */
  routers: number;
  template: Omit<VirtualRouterSpec, "addresses" | "vrid">;
}

/** Which of the pool's routers announces a Service: stable, from the key alone. */
export function routerIndex(key: string, routers: number): number {
  return fnv1a(key) % Math.max(1, routers);
}

export const routerName = (pool: string, i: number) => `lb-${pool}-${i}`;

/** A VirtualRouter holds at most this many addresses (spec.addresses; an advert counts them in a byte). */
export const ROUTER_ADDRESSES_MAX = 255;

/** A router's k-th extra router, for the addresses beyond ROUTER_ADDRESSES_MAX (k >= 1). */
const overflowName = (base: string, k: number) => `${base}-more${k}`;
const isOverflowOf = (name: string, base: string) =>
  name.startsWith(`${base}-more`) && /^[1-9]\d*$/.test(name.slice(base.length + 5));

/** Whether `name` is one of the pool's shared routers (or their extras) that still exists. */
function isSharedRouter(name: string, announce: PoolAnnouncement): boolean {
  const prefix = `lb-${announce.pool}-`;
  if (!name.startsWith(prefix)) return false;
  const m = /^(\d+)(?:-more[1-9]\d*)?$/.exec(name.slice(prefix.length));
  return !!m && Number(m[1]) < announce.routers;
}

/** Annotation on a Local router: the nodes its Services' endpoints lie on. */
export const ANNOTATION_ENDPOINT_NODES = "vipkeeper.io/endpoint-nodes";

/** A node set in one canonical form: sorted, without repeats. */
export const nodeSet = (nodes: Iterable<string>): string[] => [...new Set(nodes)].sort();

/**
 * The router of the externalTrafficPolicy: Local Services whose endpoints lie on `nodes`: pool,
 * then 64 bits of hash of the sorted node set, so the name is the same after any restart and two
 * node sets of one pool do not meet in practice.
 */
export function localRouterName(pool: string, nodes: Iterable<string>): string {
  const text = nodeSet(nodes).join("\n");
  const part = (h: number) => h.toString(36).padStart(7, "0");
  return `lb-${pool}-local-${part(fnv1a(text))}${part(fnv1a(`${text}\n`))}`;
}

/**
 * The VirtualRouters that announce a pool's assigned addresses; routers with no address are left
 * out (the caller deletes them). A shared address belongs to the router of the first Service that
 * holds it, so one address is never announced twice. A Service's addresses go to its router by a
 * hash of its key; a full router (ROUTER_ADDRESSES_MAX) spills into extra routers. `current` (each
 * address's router now) keeps an address where it is while that router stands: moving it would be
 * an election, and an outage, for nothing.
 *
 * `local`: the externalTrafficPolicy: Local Services, each with the nodes its endpoints lie on.
 * Those of one node set share one router (`localRouterName`) that tracks each one's endpoints with
 * weight 0, so only a node that serves them all without a hop may be master; a Service whose node
 * set changes goes to the router of the new set. One with no endpoint node gets no router (no node
 * could be master of it) until it has one.
 */
export function routersForPool(
  announce: PoolAnnouncement,
  assignments: ReadonlyMap<string, Assignment>,
  local: ReadonlyMap<string, readonly string[]> = new Map(),
  current: ReadonlyMap<string, string> = new Map(),
): RouterObject[] {
  const byRouter = new Map<string, Set<string>>();
  /** Which router announces each address. */
  const placed = new Map<string, string>();
  /** The node set of each Local router's group, by the group's first router's name. */
  const localNodes = new Map<string, string[]>();
  /** Addresses to place, with their home router and whether they may stay where they are. */
  const pending: { addr: string; home: string; local: boolean }[] = [];
  const keys = [...assignments.keys()].sort().filter((k) => assignments.get(k)!.pool === announce.pool);
  for (const key of keys) {
    const a = assignments.get(key)!;
    const fresh = a.addresses.filter((addr) => !placed.has(addr));
    if (fresh.length === 0) continue;
    let home: string;
    const nodes = local.get(key);
    if (nodes) {
      if (nodes.length === 0) continue;
      home = localRouterName(announce.pool, nodes);
      localNodes.set(home, nodeSet(nodes));
    } else home = routerName(announce.pool, routerIndex(key, announce.routers));
    for (const addr of fresh) {
      placed.set(addr, "");
      pending.push({ addr, home, local: !!nodes });
    }
  }
  const place = (addr: string, name: string) => {
    placed.set(addr, name);
    byRouter.set(name, (byRouter.get(name) ?? new Set()).add(addr));
  };
  const hasRoom = (name: string) => (byRouter.get(name)?.size ?? 0) < ROUTER_ADDRESSES_MAX;
  // A shared address may stay on any of the pool's shared routers; a Local one only on its node
  // set's router (or that router's extras), whose tracking is right for it.
  const mayStay = (now: string, p: (typeof pending)[number]) =>
    p.local ? now === p.home || isOverflowOf(now, p.home) : isSharedRouter(now, announce);
  // Addresses stay on the router that has them, then the rest fill their home router and its extras.
  const unplaced = pending.filter((p) => {
    const now = current.get(p.addr);
    if (now === undefined || !mayStay(now, p) || !hasRoom(now)) return true;
    place(p.addr, now);
    return false;
  });
  for (const { addr, home } of unplaced) {
    let name = home;
    for (let k = 1; !hasRoom(name); k++) name = overflowName(home, k);
    place(addr, name);
  }
  // Each router grants VirtualServers exactly its Services' namespaces, each its own addresses; a
  // Local router tracks the endpoints of each Local Service with an address on it.
  const baseOf = (name: string) => name.replace(/-more[1-9]\d*$/, "");
  const grants = new Map<string, Map<string, Set<string>>>();
  const tracked = new Map<string, Set<string>>();
  for (const key of keys) {
    const namespace = key.split("/")[0]!;
    for (const addr of assignments.get(key)!.addresses) {
      const router = placed.get(addr);
      if (!router) continue;
      const byNs = grants.get(router) ?? grants.set(router, new Map()).get(router)!;
      byNs.set(namespace, (byNs.get(namespace) ?? new Set()).add(addr));
      // Only on its own node set's router: one address shared with a Service of another node set
      // stays where the first holder put it, and tracking both there would leave no node eligible.
      const nodes = local.get(key);
      if (nodes?.length && baseOf(router) === localRouterName(announce.pool, nodes))
        tracked.set(router, (tracked.get(router) ?? new Set()).add(key));
    }
  }
  return [...byRouter.entries()]
    .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))
    .map(([name, addrs]): RouterObject => {
      const nodes = localNodes.get(baseOf(name));
      const router: RouterObject = {
        apiVersion: API_VERSION,
        kind: "VirtualRouter",
        metadata: {
          name,
          labels: { [LABEL_POOL]: announce.pool, [LABEL_MANAGED]: MANAGER },
        },
        spec: {
          // Keep neighbour caches and switch tables fresh (MetalLB #2910: 15-minute black holes).
          garp: { refresh: "10s" },
          ...announce.template,
          addresses: [...addrs].sort().map((address) => ({ address })),
          virtualServers: virtualServerGrants(grants.get(name)!),
        },
      };
      if (nodes) {
        router.metadata.annotations = { [ANNOTATION_ENDPOINT_NODES]: nodes.join(",") };
        router.spec.track = {
          ...announce.template.track,
          endpoints: [...(tracked.get(name) ?? [])].sort().map((key) => {
            const [namespace, service] = key.split("/") as [string, string];
            return { namespace, service, weight: 0 };
          }),
        };
      }
      return router;
    });
}

/** One grant per namespace, for the addresses its Services hold on the router. */
function virtualServerGrants(byNamespace: ReadonlyMap<string, ReadonlySet<string>>): VirtualServerGrants {
  return {
    from: [...byNamespace.keys()].sort().map((ns) => ({
      namespaceSelector: namespaceByName(ns),
      addresses: [...byNamespace.get(ns)!].sort(),
    })),
  };
}
