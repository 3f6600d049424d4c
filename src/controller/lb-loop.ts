// The LoadBalancer provider in the controller: one pass over all Services and IPPools per change
// (lbprovider/provider.ts decides), then the writes: each changed Service's status, Events, the
// generated VirtualRouters (server-side apply under the provider's own field manager; the ones no
// longer wanted are deleted), and each pool's status (allocation counts, VRIDs per segment).
import type { V1EndpointSlice, V1Namespace, V1Service } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { IPPoolStatus } from "../api/status.ts";
import type { RouterObject } from "../cluster/routers.ts";
import { withTransitionTimes } from "../cluster/status.ts";
import { LbProvider } from "../lbprovider/provider.ts";
import { providerPool, type PoolObject } from "../lbprovider/pools.ts";
import { endpointNodes, LABEL_MANAGED, LABEL_POOL, MANAGER } from "../lbprovider/services.ts";
import { exhaustion, poolVrids, type RouterSeen } from "../lbprovider/vrids.ts";
import type { Cache } from "./controller.ts";
import { kubeTime } from "../base/time.ts";

export interface LbPorts {
  services: Cache<V1Service>;
  pools: Cache<PoolObject>;
  namespaces: Cache<V1Namespace>;
  routers: Cache<RouterSeen>;
  /** EndpointSlices: the nodes of externalTrafficPolicy: Local Services' endpoints. */
  slices: Cache<V1EndpointSlice>;
  writeServiceStatus(namespace: string, name: string, status: V1Service["status"]): Promise<void>;
  applyRouter(router: RouterObject): Promise<void>;
  deleteRouter(name: string): Promise<void>;
  writePoolStatus(name: string, status: IPPoolStatus): Promise<void>;
  event(service: V1Service, type: "Normal" | "Warning", reason: string, message: string): void;
  now?(): number;
}

export class LbProviderLoop {
  private readonly provider: LbProvider;
  private readonly ports: LbPorts;
  private readonly log: Logger;
  private lastRouters = new Map<string, string>();
  private lastPoolStatus = new Map<string, string>();
  /** Service and router pairs already told that the router has no VRID. */
  private toldExhausted = new Set<string>();

  constructor(ports: LbPorts, log: Logger, isDefaultProvider: boolean) {
    this.ports = ports;
    this.log = log;
    this.provider = new LbProvider(isDefaultProvider);
  }

  async reconcile(): Promise<void> {
    const nsLabels = new Map(
      this.ports.namespaces.list().map((n) => [n.metadata?.name ?? "", n.metadata?.labels ?? {}]),
    );
    const poolObjects = this.ports.pools.list().filter((p) => !p.metadata.deletionTimestamp);
    const pools = poolObjects.map((p) => providerPool(p, (ns) => nsLabels.get(ns)));
    const services = this.ports.services.list();
    const generated = this.ports.routers
      .list()
      .filter((r) => r.metadata.labels?.[LABEL_MANAGED] === MANAGER && !r.metadata.deletionTimestamp);
    const current = new Map<string, string>();
    for (const r of generated) for (const a of r.spec.addresses) current.set(a.address, r.metadata.name);
    const pass = this.provider.pass(services, pools, current, endpointNodes(this.ports.slices.list()));
    const byKey = new Map(services.map((s) => [`${s.metadata?.namespace}/${s.metadata?.name}`, s]));
    const event = (key: string, type: "Normal" | "Warning", reason: string, message: string) => {
      const s = byKey.get(key);
      if (s) this.ports.event(s, type, reason, message);
    };
    for (const e of pass.events) event(e.service, e.type, e.reason, e.message);
    // Status writes go out 16 at a time: a cold start publishes every Service at once.
    const writes = [...pass.ingress];
    const worker = async () => {
      for (let w = writes.shift(); w; w = writes.shift()) {
        const [key, ingress] = w;
        const [namespace, name] = key.split("/") as [string, string];
        await this.ports.writeServiceStatus(namespace, name, { loadBalancer: { ingress } });
        this.log.info({ service: key, addresses: ingress.map((i) => i.ip) }, "LoadBalancer status written");
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    // Routers: delete the generated ones no longer wanted, then apply what changed, those that take
    // an address from another router last, so an address is never on two routers at once (the
    // newer would be refused whole, AddressConflict) while a Service moves between node sets.
    const wanted = new Map(pass.routers.map((r) => [r.metadata.name, JSON.stringify(r.spec)]));
    for (const r of generated)
      if (!wanted.has(r.metadata.name)) {
        await this.ports.deleteRouter(r.metadata.name);
        this.log.info({ router: r.metadata.name }, "generated router deleted: no address left");
      }
    const takes = (r: RouterObject) =>
      r.spec.addresses.some((a) => {
        const now = current.get(a.address);
        return now !== undefined && now !== r.metadata.name && wanted.has(now);
      });
    const changed = pass.routers.filter(
      (r) => this.lastRouters.get(r.metadata.name) !== wanted.get(r.metadata.name),
    );
    for (const r of [...changed.filter((r) => !takes(r)), ...changed.filter(takes)])
      await this.ports.applyRouter(r);
    this.lastRouters = wanted;
    this.reportVrids(poolObjects, pass.members, event);
    const counts = new Map<string, { ipv4: number; ipv6: number }>(
      pools.map((p) => [p.pool.name, { ipv4: 0, ipv6: 0 }]),
    );
    for (const r of pass.routers) {
      const c = counts.get(r.metadata.labels?.[LABEL_POOL] ?? "");
      if (c) for (const a of r.spec.addresses) c[a.address.includes(":") ? "ipv6" : "ipv4"]++;
    }
    const now = kubeTime(this.ports.now?.() ?? Date.now());
    for (const p of poolObjects) {
      const name = p.metadata.name;
      const { segments, condition } = poolVrids(name, this.ports.routers.list());
      const sig = JSON.stringify([counts.get(name), segments, condition]);
      if (this.lastPoolStatus.get(name) === sig) continue;
      const status: IPPoolStatus = {
        allocated: counts.get(name)!,
        vrids: segments,
        conditions: withTransitionTimes([condition], p.status?.conditions, now, p.metadata.generation),
      };
      await this.ports.writePoolStatus(name, status);
      this.lastPoolStatus.set(name, sig);
      if (condition.status === "True")
        this.log.warn({ pool: name, message: condition.message }, "VRIDs exhausted");
    }
  }

  /** A Warning on each Service whose router got no VRID, once per Service and router. */
  private reportVrids(
    pools: readonly PoolObject[],
    members: ReadonlyMap<string, readonly string[]>,
    event: (key: string, type: "Normal" | "Warning", reason: string, message: string) => void,
  ): void {
    const ours = new Set(pools.map((p) => p.metadata.name));
    const told = new Set<string>();
    for (const r of this.ports.routers.list()) {
      if (r.metadata.labels?.[LABEL_MANAGED] !== MANAGER || !ours.has(r.metadata.labels?.[LABEL_POOL] ?? ""))
        continue;
      const why = exhaustion(r);
      if (why === undefined) continue;
      for (const key of members.get(r.metadata.name) ?? []) {
        const pair = `${key}\0${r.metadata.name}`;
        told.add(pair);
        if (!this.toldExhausted.has(pair))
          event(
            key,
            "Warning",
            "VRIDsExhausted",
            `its address is not announced: VirtualRouter ${r.metadata.name} has no VRID (${why})`,
          );
      }
    }
    this.toldExhausted = told;
  }
}
