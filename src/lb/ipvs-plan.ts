// The IPVS dataplane's plan: the services and destinations IPVS should have, and the difference
// from what it has as the fewest commands. A health flip changes one destination, so its plan is
// one SET_DEST (inhibit: weight 0) or one DEL_DEST / NEW_DEST: the cost follows the change, not
// the table. Services that are not ours are never in a plan: only keys we own (the ownership file
// lists them) or desire are ever touched. Pure.
import { desiredDestinations, serverKey, type Destination, type VirtualService } from "./model.ts";
import {
  destKey,
  serviceIdKey,
  IP_VS_SVC_F_PERSISTENT,
  type IpvsDest,
  type IpvsService,
} from "./ipvs-netlink.ts";

export type IpvsOp =
  | { op: "add-service" | "edit-service" | "delete-service"; service: IpvsService }
  | { op: "add-dest" | "edit-dest" | "delete-dest"; service: IpvsService; dest: IpvsDest };

export interface KernelService {
  service: IpvsService;
  dests: IpvsDest[];
}

/** The IPVS service for a virtual service (by address and port, or by firewall mark). */
export function ipvsService(svc: VirtualService): IpvsService {
  const p = svc.persistence;
  return {
    id:
      svc.fwmark !== undefined
        ? { family: svc.family, fwmark: svc.fwmark }
        : { family: svc.family, protocol: svc.protocol, address: svc.address, port: svc.port },
    scheduler: svc.scheduler,
    flags: p ? IP_VS_SVC_F_PERSISTENT : 0,
    // IPVS counts persistence in whole seconds; the API refuses less than 1 s.
    timeout: p ? Math.max(1, Math.round(p.timeoutMs / 1000)) : 0,
    prefixLength: svc.family === 6 ? (p?.ipv6PrefixLength ?? 128) : (p?.ipv4PrefixLength ?? 32),
  };
}

export function ipvsDest(svc: VirtualService, d: Destination): IpvsDest {
  return {
    family: d.address.includes(":") ? 6 : 4,
    address: d.address,
    port: d.port,
    forwarding: svc.forwarding,
    weight: d.weight,
    upperThreshold: 0,
    lowerThreshold: 0,
  };
}

const sameService = (a: IpvsService, b: IpvsService) =>
  a.scheduler === b.scheduler &&
  (a.flags & IP_VS_SVC_F_PERSISTENT) === (b.flags & IP_VS_SVC_F_PERSISTENT) &&
  // Timeout and netmask mean something only for a persistent service (the kernel keeps them anyway).
  (!(a.flags & IP_VS_SVC_F_PERSISTENT) || (a.timeout === b.timeout && a.prefixLength === b.prefixLength));

const sameDest = (a: IpvsDest, b: IpvsDest) =>
  a.forwarding === b.forwarding &&
  a.weight === b.weight &&
  a.upperThreshold === b.upperThreshold &&
  a.lowerThreshold === b.lowerThreshold;

/**
 * One service's destinations from `have` to `want`: edits in place where only the weight or the
 * forwarding changed (IPVS keeps the dest's connections and counters), adds and deletes otherwise.
 * Deletes come first, so a re-added dest never collides.
 */
export function diffDests(
  service: IpvsService,
  have: readonly IpvsDest[],
  want: readonly IpvsDest[],
): IpvsOp[] {
  const had = new Map(have.map((d) => [destKey(d), d]));
  const wanted = new Map(want.map((d) => [destKey(d), d]));
  const ops: IpvsOp[] = [];
  for (const [k, d] of had) if (!wanted.has(k)) ops.push({ op: "delete-dest", service, dest: d });
  for (const [k, d] of wanted) {
    const old = had.get(k);
    if (!old) ops.push({ op: "add-dest", service, dest: d });
    else if (!sameDest(old, d)) ops.push({ op: "edit-dest", service, dest: d });
  }
  return ops;
}

/**
 * From the kernel's services to the desired ones. `owned`: the keys vipkeeper created earlier (the
 * ownership file); a kernel service neither desired nor owned is foreign and left alone. An owned
 * service no longer desired is deleted. A desired service already in the kernel is adopted as it
 * is, changed only where it differs: no delete and recreate, so connections and counters survive.
 */
export function diffServices(
  kernel: readonly KernelService[],
  desired: readonly KernelService[],
  owned: ReadonlySet<string>,
): { ops: IpvsOp[]; adopted: string[]; foreignTakenOver: string[] } {
  const have = new Map(kernel.map((k) => [serviceIdKey(k.service.id), k]));
  const want = new Map(desired.map((d) => [serviceIdKey(d.service.id), d]));
  const ops: IpvsOp[] = [];
  const adopted: string[] = [];
  const foreignTakenOver: string[] = [];
  for (const [k, h] of have)
    if (!want.has(k) && owned.has(k)) ops.push({ op: "delete-service", service: h.service });
  for (const [k, w] of want) {
    const h = have.get(k);
    if (!h) {
      ops.push({ op: "add-service", service: w.service });
      for (const dest of w.dests) ops.push({ op: "add-dest", service: w.service, dest });
      continue;
    }
    (owned.has(k) ? adopted : foreignTakenOver).push(k);
    if (!sameService(h.service, w.service)) ops.push({ op: "edit-service", service: w.service });
    ops.push(...diffDests(w.service, h.dests, w.dests));
  }
  return { ops, adopted, foreignTakenOver };
}

interface ServiceState {
  svc: VirtualService;
  service: IpvsService;
  quorumUp: boolean;
  /** The dests IPVS should have, by destKey. */
  dests: Map<string, IpvsDest>;
  /** Health by serverKey (absent: healthy), kept so a flip need not rebuild it. */
  health: Map<string, boolean>;
  /** Total weight of the healthy servers, and how many of them have a weight above 0. */
  aliveWeight: number;
  alivePositive: number;
  /** Quorum up and a server to send to: the dests are exactly the live servers (no sorry server). */
  normal: boolean;
}

/** The desired IPVS state, kept in step with health. */
export class IpvsPlan {
  private readonly state = new Map<string, ServiceState>();

  constructor(services: readonly VirtualService[]) {
    for (const svc of services) {
      const s: ServiceState = {
        svc,
        service: ipvsService(svc),
        quorumUp: true,
        dests: new Map(),
        health: new Map(),
        aliveWeight: 0,
        alivePositive: 0,
        normal: false,
      };
      this.recompute(s);
      this.state.set(svc.key, s);
    }
  }

  /** Every service as IPVS should have it now. */
  desired(): KernelService[] {
    return [...this.state.values()].map((s) => ({ service: s.service, dests: [...s.dests.values()] }));
  }

  /** The ownership keys of the desired services. */
  keys(): string[] {
    return [...this.state.values()].map((s) => serviceIdKey(s.service.id));
  }

  /**
   * One real server's health changed: the commands that take the service there. While the service
   * stays above quorum with someone to serve (the usual case) that is one dest, found without
   * walking the service's servers; a quorum or sorry-server transition recomputes the service.
   */
  setHealth(serviceKey: string, server: string, healthy: boolean): IpvsOp[] {
    const s = this.state.get(serviceKey);
    if (!s) return [];
    const was = s.health.get(server) !== false;
    if (was === healthy) return [];
    const rs = s.svc.realServers.find((r) => serverKey(r) === server);
    s.health.set(server, healthy);
    if (!rs) return [];
    const sign = healthy ? 1 : -1;
    const aliveWeight = s.aliveWeight + sign * rs.weight;
    const alivePositive = s.alivePositive + (rs.weight > 0 ? sign : 0);
    const up = s.quorumUp
      ? aliveWeight >= s.svc.quorum - s.svc.hysteresis
      : aliveWeight >= s.svc.quorum + s.svc.hysteresis;
    if (s.normal && up && alivePositive > 0) {
      s.aliveWeight = aliveWeight;
      s.alivePositive = alivePositive;
      s.quorumUp = true;
      const key = destKey(rs);
      if (s.svc.inhibitOnFailure) {
        const dest = { ...ipvsDest(s.svc, rs), weight: healthy ? rs.weight : 0 };
        s.dests.set(key, dest);
        return [{ op: "edit-dest", service: s.service, dest }];
      }
      if (healthy) {
        const dest = ipvsDest(s.svc, rs);
        s.dests.set(key, dest);
        return [{ op: "add-dest", service: s.service, dest }];
      }
      const dest = s.dests.get(key);
      s.dests.delete(key);
      return dest ? [{ op: "delete-dest", service: s.service, dest }] : [];
    }
    const before = [...s.dests.values()];
    this.recompute(s);
    return diffDests(s.service, before, [...s.dests.values()]);
  }

  private recompute(s: ServiceState): void {
    const healthy = (r: { address: string; port: number }) => s.health.get(serverKey(r)) !== false;
    const next = desiredDestinations(s.svc, s.health, s.quorumUp);
    s.dests = new Map(next.destinations.map((d) => [destKey(d), ipvsDest(s.svc, d)]));
    s.quorumUp = next.quorumUp;
    const alive = s.svc.realServers.filter(healthy);
    s.aliveWeight = alive.reduce((sum, r) => sum + r.weight, 0);
    s.alivePositive = alive.filter((r) => r.weight > 0).length;
    s.normal = next.quorumUp && !next.destinations.some((d) => d.sorry) && s.alivePositive > 0;
  }

  destinations(serviceKey: string): readonly IpvsDest[] {
    return [...(this.state.get(serviceKey)?.dests.values() ?? [])];
  }
}
