// The LoadBalancer provider in the controller: one pass over all Services and IPPools per change
// (lbprovider/provider.ts decides), then the writes: each changed Service's status, Events, the
// generated VirtualRouters (server-side apply under the provider's own field manager; the ones no
// longer wanted are deleted), and each pool's allocation counts.
import type { V1Namespace, V1Service } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { GROUP, VERSION } from "../api/virtual-router.ts";
import type { RouterObject } from "../cluster/routers.ts";
import { LbProvider } from "../lbprovider/provider.ts";
import { providerPool, type PoolObject } from "../lbprovider/pools.ts";
import { LABEL_MANAGED, MANAGER } from "../lbprovider/services.ts";
import type { Cache } from "./controller.ts";

export interface LbPorts {
  services: Cache<V1Service>;
  pools: Cache<PoolObject>;
  namespaces: Cache<V1Namespace>;
  routers: Cache<RouterObject>;
  writeServiceStatus(namespace: string, name: string, status: V1Service["status"]): Promise<void>;
  applyRouter(router: RouterObject): Promise<void>;
  deleteRouter(name: string): Promise<void>;
  writePoolStatus(name: string, allocated: { ipv4: number; ipv6: number }): Promise<void>;
  event(service: V1Service, type: "Normal" | "Warning", reason: string, message: string): void;
}

export class LbProviderLoop {
  private readonly provider: LbProvider;
  private readonly ports: LbPorts;
  private readonly log: Logger;
  private lastRouters = new Map<string, string>();
  private lastCounts = new Map<string, string>();

  constructor(ports: LbPorts, log: Logger, isDefaultProvider: boolean) {
    this.ports = ports;
    this.log = log;
    this.provider = new LbProvider(isDefaultProvider);
  }

  async reconcile(): Promise<void> {
    const nsLabels = new Map(
      this.ports.namespaces.list().map((n) => [n.metadata?.name ?? "", n.metadata?.labels ?? {}]),
    );
    const pools = this.ports.pools
      .list()
      .filter((p) => !p.metadata.deletionTimestamp)
      .map((p) => providerPool(p, (ns) => nsLabels.get(ns)));
    const services = this.ports.services.list();
    const current = new Map<string, string>();
    for (const r of this.ports.routers.list())
      if (r.metadata.labels?.[LABEL_MANAGED] === MANAGER && !r.metadata.deletionTimestamp)
        for (const a of r.spec.addresses) current.set(a.address, r.metadata.name);
    const pass = this.provider.pass(services, pools, current);
    const byKey = new Map(services.map((s) => [`${s.metadata?.namespace}/${s.metadata?.name}`, s]));
    for (const e of pass.events) {
      const s = byKey.get(e.service);
      if (s) this.ports.event(s, e.type, e.reason, e.message);
    }
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
    // Routers: apply what changed, delete the generated ones no longer wanted.
    const wanted = new Map(pass.routers.map((r) => [r.metadata.name, JSON.stringify(r.spec)]));
    for (const r of pass.routers)
      if (this.lastRouters.get(r.metadata.name) !== wanted.get(r.metadata.name))
        await this.ports.applyRouter(r);
    for (const r of this.ports.routers.list())
      if (
        r.metadata.labels?.[LABEL_MANAGED] === MANAGER &&
        !wanted.has(r.metadata.name) &&
        !r.metadata.deletionTimestamp // already being deleted (its finalizer holds it)
      ) {
        await this.ports.deleteRouter(r.metadata.name);
        this.log.info({ router: r.metadata.name }, "generated router deleted: no address left");
      }
    this.lastRouters = wanted;
    const counts = new Map<string, { ipv4: number; ipv6: number }>(
      pools.map((p) => [p.pool.name, { ipv4: 0, ipv6: 0 }]),
    );
    for (const r of pass.routers) {
      const c = counts.get(r.metadata.labels?.["vipkeeper.io/pool"] ?? "");
      if (c) for (const a of r.spec.addresses) c[a.address.includes(":") ? "ipv6" : "ipv4"]++;
    }
    for (const [pool, c] of counts)
      if (this.lastCounts.get(pool) !== JSON.stringify(c)) {
        await this.ports.writePoolStatus(pool, c);
        this.lastCounts.set(pool, JSON.stringify(c));
      }
  }
}

export const ROUTER_GVR = { group: GROUP, version: VERSION, plural: "virtualrouters" };
