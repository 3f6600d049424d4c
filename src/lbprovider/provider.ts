// The LoadBalancer provider's pass over all Services: release the gone, adopt what Services already
// publish (oldest first), allocate the rest, and derive the status to publish, the Events to
// record and the VirtualRouters that announce the addresses. The allocator lives across passes;
// each pass is idempotent.
import type { V1LoadBalancerIngress, V1Service } from "@kubernetes/client-node";
import type { RouterObject } from "../cluster/routers.ts";
import { Allocator, type Assignment, type Pool } from "./allocator.ts";
import {
  ingressFor,
  isOurs,
  publishedAddresses,
  routersForPool,
  serviceKey,
  serviceRequest,
  type PoolAnnouncement,
} from "./services.ts";

export interface ProviderPool {
  pool: Pool;
  announce: PoolAnnouncement;
}

export interface ProviderEvent {
  service: string;
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

export interface ProviderPass {
  /** Services whose status.loadBalancer.ingress must change, with the new value. */
  ingress: Map<string, V1LoadBalancerIngress[]>;
  events: ProviderEvent[];
  /** The generated VirtualRouters as they should be (the caller creates, updates and deletes). */
  routers: RouterObject[];
  /** The Services (keys) each generated router announces an address of. */
  members: Map<string, string[]>;
}

export class LbProvider {
  private readonly allocator = new Allocator([]);
  private readonly known = new Set<string>();
  /** The last problem reported per Service, so a repeated pass does not repeat its Event. */
  private readonly reported = new Map<string, string>();
  /** Local Services told they wait for an endpoint (told again only after they had one). */
  private readonly waiting = new Set<string>();
  private readonly isDefaultProvider: boolean;

  constructor(isDefaultProvider: boolean) {
    this.isDefaultProvider = isDefaultProvider;
  }

  /**
   * `current`: each address's generated router now (addresses stay where they are). `endpoints`:
   * the nodes each Service's endpoints lie on (`endpointNodes`), for externalTrafficPolicy: Local.
   */
  pass(
    services: readonly V1Service[],
    pools: readonly ProviderPool[],
    current: ReadonlyMap<string, string> = new Map(),
    endpoints: ReadonlyMap<string, readonly string[]> = new Map(),
  ): ProviderPass {
    this.allocator.setPools(pools.map((p) => p.pool));
    const out: ProviderPass = { ingress: new Map(), events: [], routers: [], members: new Map() };
    const ours = services
      .filter((s) => isOurs(s, this.isDefaultProvider) && !s.metadata?.deletionTimestamp)
      .sort(
        (a, b) =>
          String(a.metadata?.creationTimestamp ?? "").localeCompare(
            String(b.metadata?.creationTimestamp ?? ""),
          ) || serviceKey(a).localeCompare(serviceKey(b)),
      );
    const present = new Set(ours.map(serviceKey));
    for (const key of [...this.known])
      if (!present.has(key)) {
        this.allocator.release(key);
        this.known.delete(key);
        this.reported.delete(key);
        this.waiting.delete(key);
      }
    // Adopt first: Services that publish addresses keep them before anyone is given a new one.
    const withAddresses = ours.filter((s) => publishedAddresses(s).length > 0);
    const without = ours.filter((s) => publishedAddresses(s).length === 0);
    for (const s of [...withAddresses, ...without]) this.serve(s, out);
    const assignments = new Map<string, Assignment>();
    for (const key of this.known) {
      const a = this.allocator.assignmentOf(key);
      if (a) assignments.set(key, a);
    }
    const local = new Map(
      ours
        .filter((s) => s.spec?.externalTrafficPolicy === "Local")
        .map((s) => [serviceKey(s), endpoints.get(serviceKey(s)) ?? []] as const),
    );
    for (const p of pools) out.routers.push(...routersForPool(p.announce, assignments, local, current));
    const routerOf = new Map(
      out.routers.flatMap((r) => r.spec.addresses.map((a) => [a.address, r.metadata.name] as const)),
    );
    for (const [key, a] of assignments)
      for (const name of new Set(
        a.addresses.map((addr) => routerOf.get(addr)).filter((n) => n !== undefined),
      ))
        out.members.set(name, [...(out.members.get(name) ?? []), key].sort());
    // A Local Service with no endpoint node has no router: say so once, until it has one.
    for (const [key, nodes] of local) {
      const unannounced =
        nodes.length === 0 && !!assignments.get(key)?.addresses.some((a) => !routerOf.has(a));
      if (unannounced && !this.waiting.has(key))
        out.events.push({
          service: key,
          type: "Normal",
          reason: "WaitingForEndpoints",
          message:
            "externalTrafficPolicy is Local and no node has an endpoint of this Service: its address is announced once one has",
        });
      if (unannounced) this.waiting.add(key);
      else this.waiting.delete(key);
    }
    return out;
  }

  private serve(s: V1Service, out: ProviderPass): void {
    const key = serviceKey(s);
    this.known.add(key);
    const parsed = serviceRequest(s);
    const report = (type: "Normal" | "Warning", reason: string, message: string) => {
      const sig = `${reason}:${message}`;
      if (this.reported.get(key) === sig) return;
      this.reported.set(key, sig);
      out.events.push({ service: key, type, reason, message });
    };
    for (const w of parsed.warnings)
      out.events.push({ service: key, type: "Warning", reason: "Deprecated", message: w });
    const published = publishedAddresses(s);
    let ingress: V1LoadBalancerIngress[];
    if (!parsed.request) {
      this.allocator.release(key);
      report("Warning", "InvalidRequest", parsed.error ?? "invalid request");
      ingress = [];
    } else {
      const before = this.allocator.assignmentOf(key);
      const r = this.allocator.assign(parsed.request, published);
      if (r.ok) {
        ingress = ingressFor(r.assignment);
        if (!before || before.addresses.join() !== r.assignment.addresses.join())
          report(
            "Normal",
            "AddressAssigned",
            `${r.assignment.addresses.join(", ")} from IPPool ${r.assignment.pool}`,
          );
      } else {
        report("Warning", r.reason, r.message);
        ingress = [];
      }
    }
    const now = (s.status?.loadBalancer?.ingress ?? []).map((i) => `${i.ip}/${i.ipMode ?? ""}`).join();
    if (now !== ingress.map((i) => `${i.ip}/${i.ipMode}`).join()) out.ingress.set(key, ingress);
  }
}
