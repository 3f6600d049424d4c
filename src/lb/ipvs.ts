// The IPVS dataplane: programs virtual services through generic netlink (no ipvsadm), adopting
// what the kernel already has (a restarted agent diffs against the live table: no gap, no
// recreate), and applies each health change as the one or two commands it needs.
import { existsSync } from "node:fs";
import type { VirtualService } from "./model.ts";
import { serviceIdKey, type IpvsDest, type IpvsService } from "./ipvs-netlink.ts";
import { diffServices, IpvsPlan, type IpvsOp, type KernelService } from "./ipvs-plan.ts";
import { DEFAULT_OWNER_FILE, readOwned, writeOwned } from "./ipvs-owner.ts";
import { IpvsNetlink } from "./ipvs-socket.ts";

/** Commands in flight at once: enough to hide the round trip, few enough for the receive buffer. */
const WINDOW = 64;

/** kube-proxy in IPVS mode binds its service addresses to this dummy interface. */
export const KUBE_IPVS_INTERFACE = "kube-ipvs0";

export function kubeProxyIpvsPresent(sysClassNet = "/sys/class/net"): boolean {
  return existsSync(`${sysClassNet}/${KUBE_IPVS_INTERFACE}`);
}

export async function runOps(nl: IpvsNetlink, ops: readonly IpvsOp[]): Promise<void> {
  const one = (o: IpvsOp): Promise<void> => {
    switch (o.op) {
      case "add-service":
        return nl.addService(o.service);
      case "edit-service":
        return nl.editService(o.service);
      case "delete-service":
        return nl.deleteService(o.service);
      case "add-dest":
        return nl.addDest(o.service, o.dest);
      case "edit-dest":
        return nl.editDest(o.service, o.dest);
      case "delete-dest":
        return nl.deleteDest(o.service, o.dest);
    }
  };
  // Service-level commands in order (a dest needs its service); dests of one batch in a window.
  let batch: Promise<void>[] = [];
  for (const o of ops) {
    if (o.op.endsWith("-service")) {
      await Promise.all(batch);
      batch = [];
      await one(o);
      continue;
    }
    batch.push(one(o));
    if (batch.length >= WINDOW) {
      await Promise.all(batch);
      batch = [];
    }
  }
  await Promise.all(batch);
}

/** What IPVS has, services with their dests. */
export async function readKernel(nl: IpvsNetlink): Promise<KernelService[]> {
  const services: IpvsService[] = await nl.services();
  const out: KernelService[] = [];
  for (const service of services) {
    const dests: IpvsDest[] = await nl.dests(service.id);
    out.push({ service, dests });
  }
  return out;
}

export interface IpvsStartReport {
  adopted: string[];
  foreignTakenOver: string[];
  /** Commands the start-up needed (0 when the kernel already matched). */
  commands: number;
  kubeProxy: boolean;
}

export class IpvsDataplane {
  readonly name = "ipvs" as const;
  private readonly nl: IpvsNetlink;
  private readonly plan: IpvsPlan;
  private readonly ownerFile: string;
  private queue: Promise<void> = Promise.resolve();

  private constructor(nl: IpvsNetlink, plan: IpvsPlan, ownerFile: string) {
    this.nl = nl;
    this.plan = plan;
    this.ownerFile = ownerFile;
  }

  /** Opens IPVS and brings it to the desired state; throws when the kernel has no IPVS. */
  static async start(
    services: readonly VirtualService[],
    ownerFile = DEFAULT_OWNER_FILE,
  ): Promise<{ dataplane: IpvsDataplane; report: IpvsStartReport }> {
    const nl = await IpvsNetlink.open();
    if (!nl)
      throw new Error("the kernel has no IPVS (generic netlink family IPVS not found; modprobe ip_vs)");
    const dp = new IpvsDataplane(nl, new IpvsPlan(services), ownerFile);
    try {
      const report = await dp.reconcile();
      return { dataplane: dp, report };
    } catch (err) {
      nl.close();
      throw err;
    }
  }

  /**
   * Diff the kernel against the plan and apply the difference. At start, and again whenever
   * called (the agent does so periodically), which restores what someone else deleted.
   */
  reconcile(): Promise<IpvsStartReport> {
    const run = async (): Promise<IpvsStartReport> => {
      const owned = readOwned(this.ownerFile);
      const kernel = await readKernel(this.nl);
      const { ops, adopted, foreignTakenOver } = diffServices(kernel, this.plan.desired(), owned);
      // Claim first: a crash after creating a service must still know it is ours.
      writeOwned(this.ownerFile, [...owned, ...this.plan.keys()]);
      await runOps(this.nl, ops);
      writeOwned(this.ownerFile, this.plan.keys());
      return { adopted, foreignTakenOver, commands: ops.length, kubeProxy: kubeProxyIpvsPresent() };
    };
    const result = this.queue.then(run);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /** One real server's health: the commands it needs, applied in order with earlier changes. */
  setHealth(serviceKey: string, server: string, healthy: boolean): Promise<number> {
    const ops = this.plan.setHealth(serviceKey, server, healthy);
    const result = this.queue.then(() => runOps(this.nl, ops)).then(() => ops.length);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  destinations(serviceKey: string): readonly IpvsDest[] {
    return this.plan.destinations(serviceKey);
  }

  /** Leaves the services in place: a restarted agent adopts them. */
  stop(): void {
    this.nl.close();
  }

  get netlink(): IpvsNetlink {
    return this.nl;
  }
}

export { serviceIdKey };
