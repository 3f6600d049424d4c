// LoadBalancer Services, pure part: which Services are ours, what each asks for, the status we
// publish, and the VirtualRouters that keep the addresses alive (several per pool, so masters
// spread over nodes as in keepalived's dual-master pattern).
import type { V1LoadBalancerIngress, V1Service } from "@kubernetes/client-node";
import { API_VERSION, type VirtualRouterSpec } from "../api/virtual-router.ts";
import { namespaceByName } from "../cluster/grants.ts";
import { fnv1a, type RouterObject } from "../cluster/routers.ts";
import { canonicalAddress, familyOf, type IpFamily } from "../vrrp/address.ts";
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

/** Router i's k-th extra router, for the addresses beyond ROUTER_ADDRESSES_MAX (k >= 1). */
const overflowName = (pool: string, i: number, k: number) => `${routerName(pool, i)}-more${k}`;

/** Whether `name` is one of the pool's shared routers (or their extras) that still exists. */
function isSharedRouter(name: string, announce: PoolAnnouncement): boolean {
  const prefix = `lb-${announce.pool}-`;
  if (!name.startsWith(prefix)) return false;
  const m = /^(\d+)(?:-more[1-9]\d*)?$/.exec(name.slice(prefix.length));
  return !!m && Number(m[1]) < announce.routers;
}

/**
 * The VirtualRouters that announce a pool's assigned addresses; routers with no address are left
 * out (the caller deletes them). A shared address belongs to the router of the first Service that
 * holds it, so one address is never announced twice. A Service's addresses go to its router by a
 * hash of its key; a full router (ROUTER_ADDRESSES_MAX) spills into extra routers. `current` (each
 * address's router now) keeps an address where it is while that router stands: moving it would be
 * an election, and an outage, for nothing.
 */
export function routersForPool(
  announce: PoolAnnouncement,
  assignments: ReadonlyMap<string, Assignment>,
  local: ReadonlySet<string> = new Set(),
  current: ReadonlyMap<string, string> = new Map(),
): RouterObject[] {
  const byRouter = new Map<string, Set<string>>();
  /** Which router announces each address (a shared router's name, or a dedicated router). */
  const placed = new Map<string, string | RouterObject>();
  const dedicated: RouterObject[] = [];
  /** Shared addresses to place, with the router their Service hashes to. */
  const pending: { addr: string; home: number }[] = [];
  const keys = [...assignments.keys()].sort().filter((k) => assignments.get(k)!.pool === announce.pool);
  for (const key of keys) {
    const a = assignments.get(key)!;
    const fresh = a.addresses.filter((addr) => !placed.has(addr));
    if (fresh.length === 0) continue;
    if (local.has(key)) {
      // externalTrafficPolicy: Local: a router of its own, whose master must have a ready endpoint.
      const router = localRouter(announce, key, fresh);
      fresh.forEach((addr) => placed.set(addr, router));
      dedicated.push(router);
      continue;
    }
    const home = routerIndex(key, announce.routers);
    for (const addr of fresh) {
      placed.set(addr, "");
      pending.push({ addr, home });
    }
  }
  const place = (addr: string, name: string) => {
    placed.set(addr, name);
    byRouter.set(name, (byRouter.get(name) ?? new Set()).add(addr));
  };
  const hasRoom = (name: string) => (byRouter.get(name)?.size ?? 0) < ROUTER_ADDRESSES_MAX;
  // Addresses stay on the router that has them, then the rest fill their home router and its extras.
  const unplaced = pending.filter(({ addr }) => {
    const now = current.get(addr);
    if (now === undefined || !isSharedRouter(now, announce) || !hasRoom(now)) return true;
    place(addr, now);
    return false;
  });
  for (const { addr, home } of unplaced) {
    let name = routerName(announce.pool, home);
    for (let k = 1; !hasRoom(name); k++) name = overflowName(announce.pool, home, k);
    place(addr, name);
  }
  // Each router grants VirtualServers exactly its Services' namespaces, each its own addresses.
  const grants = new Map<string | RouterObject, Map<string, Set<string>>>();
  for (const key of keys) {
    const namespace = key.split("/")[0]!;
    for (const addr of assignments.get(key)!.addresses) {
      const router = placed.get(addr)!;
      const byNs = grants.get(router) ?? grants.set(router, new Map()).get(router)!;
      byNs.set(namespace, (byNs.get(namespace) ?? new Set()).add(addr));
    }
  }
  for (const router of dedicated) router.spec.virtualServers = virtualServerGrants(grants.get(router)!);
  return [
    ...[...byRouter.entries()]
      .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))
      .map(([name, addrs]): RouterObject => ({
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
      })),
    ...dedicated,
  ];
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

/** The router of one externalTrafficPolicy: Local Service (its name: pool, then a hash of the key). */
function localRouter(announce: PoolAnnouncement, key: string, addresses: string[]): RouterObject {
  const [namespace, service] = key.split("/") as [string, string];
  return {
    apiVersion: API_VERSION,
    kind: "VirtualRouter",
    metadata: {
      name: `lb-${announce.pool}-local-${routerIndex(key, 0xffffffff).toString(36)}`,
      labels: {
        [LABEL_POOL]: announce.pool,
        [LABEL_MANAGED]: MANAGER,
        "vipkeeper.io/service": `${namespace}.${service}`,
      },
    },
    spec: {
      garp: { refresh: "10s" },
      ...announce.template,
      addresses: [...addresses].sort().map((address) => ({ address })),
      track: { ...announce.template.track, endpoints: [{ namespace, service, weight: 0 }] },
    },
  };
}
