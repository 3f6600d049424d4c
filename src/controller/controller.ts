// The controller's loop: routers, Nodes and agent Leases come in through caches, router names go
// through a rate-limited queue, and each is reconciled (reconcile.ts) into status, finalizer and
// Event writes; the agents' DaemonSet is kept on the union of the nodes that routers select.
import type { V1Lease, V1Node } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { selectedNodes, toClusterNode, type ClusterNode } from "../cluster/routers.ts";
import { agentLive } from "../cluster/agent-lease.ts";
import {
  allocate,
  FINALIZER,
  reconcileRouter,
  type Allocation,
  type ControllerStatus,
  type RouterWithStatus,
} from "./reconcile.ts";

export interface Cache<T> {
  list(): readonly T[];
}

export interface Queue {
  add(key: string): void;
  addAfter(key: string, ms: number): void;
}

export interface ControllerPorts {
  routers: Cache<RouterWithStatus>;
  nodes: Cache<V1Node>;
  leases: Cache<V1Lease>;
  writeStatus(router: string, status: ControllerStatus): Promise<void>;
  setFinalizers(router: RouterWithStatus, finalizers: string[]): Promise<void>;
  event(router: RouterWithStatus, type: "Normal" | "Warning", reason: string, message: string): void;
  /** Keeps the agents' DaemonSet on exactly these nodes. */
  applyAgents(nodeNames: readonly string[]): Promise<void>;
  now(): number;
}

/** The key that stands for the agents' DaemonSet in the queue. */
export const AGENTS_KEY = "\0agents";

export class RouterController {
  private allocation: Allocation | undefined;
  private readonly signatures = new Map<string, string>();
  /** When each agent's Lease was last seen to change, on this process's clock (not the remote renewTime). */
  private readonly leaseSeen = new Map<string, { version: string; at: number }>();
  private readonly ports: ControllerPorts;
  private readonly log: Logger;
  readonly stats = { reconciles: 0, errors: 0 };

  constructor(ports: ControllerPorts, log: Logger) {
    this.ports = ports;
    this.log = log;
  }

  /**
   * A router changed. Only a change of what allocation reads (spec, the VRID it holds, deletion)
   * affects the others; a status change from agents concerns that router alone. Without this
   * distinction every status write would re-plan every router: O(n²) at start.
   */
  routerChanged(queue: Queue, router: RouterWithStatus | undefined): void {
    if (!router) return this.invalidate(queue);
    const name = router.metadata.name;
    const sig = JSON.stringify([router.spec, router.metadata.deletionTimestamp ?? null]);
    const exists = this.ports.routers.list().some((r) => r.metadata.name === name);
    // Our own status.vrid and preferredMaster writes agree with the allocation: nothing to re-plan.
    const agrees =
      (router.status?.vrid === undefined || this.allocation?.vrids.get(name) === router.status.vrid) &&
      (router.status?.preferredMaster === undefined ||
        this.allocation?.masters.get(name) === router.status.preferredMaster);
    if (exists && this.signatures.get(name) === sig && agrees) return queue.add(name);
    if (exists) this.signatures.set(name, sig);
    else this.signatures.delete(name);
    this.invalidate(queue, name);
  }

  /** Something changed: every router may be affected (VRIDs are allocated across routers). */
  invalidate(queue: Queue, routerName?: string): void {
    this.allocation = undefined;
    if (routerName !== undefined) queue.add(routerName);
    for (const r of this.ports.routers.list()) queue.add(r.metadata.name);
    queue.add(AGENTS_KEY);
  }

  /** A Lease changed: only the routers the agent's node takes part in need a look. */
  leaseChanged(queue: Queue, lease: V1Lease): void {
    const node = lease.spec?.holderIdentity;
    if (!node) return;
    this.observeLease(lease);
    for (const r of this.ports.routers.list())
      if (r.status?.nodes?.some((e) => e.name === node)) queue.add(r.metadata.name);
  }

  async reconcile(key: string, queue: Queue): Promise<void> {
    this.stats.reconciles++;
    if (key === AGENTS_KEY) return this.reconcileAgents();
    const router = this.ports.routers.list().find((r) => r.metadata.name === key);
    if (!router) return;
    const nodes = this.clusterNodes();
    const now = this.ports.now();
    this.allocation ??= allocate(this.ports.routers.list(), nodes);
    const actions = reconcileRouter(
      router,
      {
        routers: this.ports.routers.list(),
        nodes,
        liveness: { renewedAt: (n) => this.renewedAt(n, now) },
        now,
      },
      this.allocation,
    );
    const finalizers = router.metadata.finalizers ?? [];
    if (actions.addFinalizer) await this.ports.setFinalizers(router, [...finalizers, FINALIZER]);
    if (actions.status) await this.ports.writeStatus(key, actions.status);
    for (const e of actions.events) this.ports.event(router, e.type, e.reason, e.message);
    if (actions.removeFinalizer) {
      await this.ports.setFinalizers(
        router,
        finalizers.filter((f) => f !== FINALIZER),
      );
      this.log.info({ router: key }, "router released on every node; finalizer removed");
    }
    if (actions.recheckAfterMs !== undefined) queue.addAfter(key, actions.recheckAfterMs);
  }

  private async reconcileAgents(): Promise<void> {
    const nodes = this.clusterNodes();
    const names = new Set<string>();
    for (const r of this.ports.routers.list()) for (const n of selectedNodes(r, nodes)) names.add(n.name);
    await this.ports.applyAgents([...names].sort());
  }

  clusterNodes(): ClusterNode[] {
    return this.ports.nodes.list().map(toClusterNode);
  }

  private observeLease(lease: V1Lease): void {
    const node = lease.spec?.holderIdentity;
    const version = `${lease.metadata?.resourceVersion ?? ""}`;
    if (!node) return;
    const seen = this.leaseSeen.get(node);
    if (seen?.version !== version) this.leaseSeen.set(node, { version, at: this.ports.now() });
  }

  /**
   * An agent is live while its Lease keeps changing: the time of the last change we saw, if that is
   * within the lease's duration of now (a Lease never seen to change counts from when we first saw it).
   */
  private renewedAt(node: string, now: number): number | undefined {
    const seen = this.leaseSeen.get(node);
    if (!seen) return undefined;
    return agentLive(seen.at, now) ? seen.at : undefined;
  }
}
