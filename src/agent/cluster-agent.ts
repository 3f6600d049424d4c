// Cluster mode: keeps one engine per VirtualRouter that selects this node, in step with what the
// API says (through the caches it is given), and reports this node's entry of each router's status.
// When the API server is away the caches stand still and the engines run on with their last plans.
import type { Logger } from "pino";
import type { ClusterNode, RouterObject } from "../cluster/routers.ts";
import { nodeEntry } from "./status-entry.ts";
import type { NodeEntry, NodeState } from "../cluster/status.ts";
import { decideRouters, type HostAddress } from "./cluster-plan.ts";
import { endpointConflicts, nodeAddressSet, refusal, type Refusal } from "../cluster/grants.ts";
import { podsKey, type InstanceStatus } from "./engine.ts";
import type { EngineArgs } from "./engine-process.ts";
import type { RunningEngine } from "./engines.ts";
import type { NodePlan } from "../plan/plan.ts";
import type { StatusWriter } from "./status-writer.ts";
import { validateVirtualServer, type VirtualServer } from "../api/virtual-server.ts";
import { serviceKey } from "../lb/from-api.ts";
import type { EngineMessage } from "./supervisor.ts";
import type { VirtualServerStatusWriter } from "./vs-status-writer.ts";

/** What the agent reads from the API (informer caches). */
export interface ClusterView {
  routers(): readonly RouterObject[];
  nodes(): readonly ClusterNode[];
  secret(name: string, key: string): string | undefined;
  /** Whether the Service has a ready endpoint on this node (its EndpointSlices). */
  endpointsReady(namespace: string, service: string): boolean;
  /** Ready pods on this node in the namespace with all these labels. */
  readyPods(namespace: string, matchLabels: Record<string, string>): number;
  /** VirtualServers (all namespaces). */
  virtualServers(): readonly VirtualServer[];
  /** A namespace's labels (undefined while unknown: its VirtualServers are granted nothing). */
  namespaceLabels(namespace: string): Readonly<Record<string, string>> | undefined;
}

/** Starts the node's load balancer for these VirtualServers (DR forwards on their router's interface). */
export type StartLoadBalancer = (
  objects: VirtualServer[],
  deviceOf: (routerRef: string | undefined) => string | undefined,
  /** A real server's health changed (service and server keys as the checks name them). */
  onHealth: (service: string, server: string, healthy: boolean) => void,
) => Promise<{ stop(): void }>;

export interface ClusterAgentOptions {
  node: string;
  log: Logger;
  view: ClusterView;
  status: StatusWriter;
  allowScripts: boolean;
  engineArgs: EngineArgs;
  hostAddresses(): Promise<HostAddress[]>;
  startEngine(
    plan: NodePlan,
    args: EngineArgs,
    log: Logger,
    onStatus: (i: InstanceStatus[]) => void,
    onMessage: (msg: EngineMessage) => void,
  ): Promise<RunningEngine>;
  /** Engine messages other than status (metrics snapshots, observed failovers). */
  onEngineMessage?(router: string, msg: EngineMessage): void;
  /** This node's state of a router changed (for a Kubernetes Event). */
  onTransition?(router: string, from: NodeState | undefined, to: NodeEntry): void;
  /** Programs the VirtualServers of the routers this node runs (absent: no load balancing). */
  startLoadBalancer?: StartLoadBalancer;
  /** Writes the status of the VirtualServers of the routers this node is master of. */
  virtualServerStatus?: VirtualServerStatusWriter;
}

interface Runner {
  digest: string;
  engine: RunningEngine;
  notes: string[];
  plan: NodePlan;
  /** What the engine was last told of its tracked cluster objects. */
  tracked?: string;
}

export class ClusterAgent {
  private readonly runners = new Map<string, Runner>();
  private readonly states = new Map<string, NodeState>();
  /** The node's dataplane: what it was started with (digest, service keys), and its handle. */
  private lb: { digest: string; keys: string[]; running?: { stop(): void } } = { digest: "[]", keys: [] };
  /** This host's addresses as the last pass saw them. */
  private host: HostAddress[] = [];
  /** The refusals last logged (message by VirtualServer), so each is logged once. */
  private refusedLogged = new Map<string, string>();
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly opts: ClusterAgentOptions;

  constructor(opts: ClusterAgentOptions) {
    this.opts = opts;
  }

  /** Routers this agent runs an engine for now. */
  routers(): string[] {
    return [...this.runners.keys()];
  }

  engines(): Map<string, RunningEngine> {
    return new Map([...this.runners].map(([k, r]) => [k, r.engine]));
  }

  /** Brings the engines in step with the view; calls made meanwhile coalesce into one more pass. */
  sync(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.pass()
          .then(() => this.pushTracked())
          .then(() => this.syncLoadBalancer())
          .then(() => this.opts.virtualServerStatus?.changed())
          .catch((err: unknown) =>
            this.opts.log.error({ err: (err as Error).message }, "cluster sync failed"),
          );
      } while (this.again && !this.stopped);
    })().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Stops every engine (each resigns and releases its addresses) and reports them stopped. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    await Promise.all([...this.runners.keys()].map((r) => this.stopRunner(r, "the agent stopped")));
    this.lb.running?.stop(); // the table stays: a restarted agent replaces it atomically
    await this.opts.status.flush();
  }

  private async pass(): Promise<void> {
    const { node, view, log } = this.opts;
    if (this.stopped) return;
    this.host = await this.opts.hostAddresses();
    const decisions = decideRouters({
      node,
      routers: view.routers(),
      nodes: view.nodes(),
      host: this.host,
      allowScripts: this.opts.allowScripts,
      secret: (n, k) => view.secret(n, k),
    });
    const wanted = new Set(decisions.map((d) => d.router));
    const existing = new Set(view.routers().map((r) => r.metadata.name));
    // Routers that no longer select this node, or are gone: stop their engines.
    for (const router of [...this.runners.keys()])
      if (!wanted.has(router)) {
        await this.stopRunner(router, "this node is no longer selected");
        if (!existing.has(router)) this.opts.status.forget(router);
      }
    for (const d of decisions) {
      const current = this.runners.get(d.router);
      if (!d.run) {
        if (current) await this.stopRunner(d.router, d.reason);
        else this.report(d.router, nodeEntry(node, [], d.reason));
        continue;
      }
      const digest = JSON.stringify(d.plan);
      if (current?.digest === digest) continue;
      // New addresses only (a Service got or lost an address): no new election.
      if (current?.engine.update(d.plan)) {
        current.digest = digest;
        current.plan = d.plan;
        log.info({ router: d.router }, "router updated in place (virtual addresses or the sources it obeys)");
        continue;
      }
      // A changed router restarts its own engine only: the others' elections are untouched.
      if (current) await this.stopRunner(d.router, "restarting with a changed spec");
      for (const note of d.notes) log.warn({ router: d.router }, note);
      const notes = d.notes;
      const engine = await this.opts.startEngine(
        d.plan,
        { ...this.opts.engineArgs, reportStatus: true },
        log.child({ router: d.router }),
        (instances) => {
          if (this.runners.get(d.router)?.engine === engine)
            this.report(d.router, nodeEntry(node, instances, notes.join("; ") || undefined));
        },
        (msg) => this.opts.onEngineMessage?.(d.router, msg),
      );
      this.runners.set(d.router, { digest, engine, notes, plan: d.plan });
      log.info({ router: d.router, instances: d.plan.instances.map((i) => i.key) }, "router started");
    }
  }

  /**
   * The VirtualServers of the routers this node runs, programmed as one dataplane: every node of a
   * router programs them, and only the master receives their traffic. A change replaces the whole
   * table at once (atomic, no gap); health is learnt again by the checks.
   */
  private async syncLoadBalancer(): Promise<void> {
    const start = this.opts.startLoadBalancer;
    if (!start) return;
    const { log, view } = this.opts;
    const valid = view
      .virtualServers()
      .filter((vs) => vs.spec.routerRef !== undefined && this.runners.has(vs.spec.routerRef))
      .filter((vs) => {
        const errors = validateVirtualServer(vs);
        if (errors.length > 0)
          log.error(
            { virtualServer: `${vs.metadata.namespace}/${vs.metadata.name}`, errors },
            "VirtualServer not programmed: invalid",
          );
        return errors.length === 0;
      })
      .sort((a, b) => serviceKey(a).localeCompare(serviceKey(b)));
    // What the VirtualServers' namespaces were granted by their routers (the admin's objects).
    const routers = view.routers();
    const nodeAddresses = nodeAddressSet([
      this.host.map((h) => h.address),
      ...view.nodes().map((n) => n.addresses),
      ...routers.map((r) => r.spec.addresses.map((a) => a.address)),
    ]);
    const refused = new Map<string, Refusal>();
    const granted = valid.filter((vs) => {
      const r = refusal(vs, {
        router: routers.find((x) => x.metadata.name === vs.spec.routerRef),
        namespaceLabels: view.namespaceLabels(vs.metadata.namespace ?? "default"),
        allowScripts: this.opts.allowScripts,
        nodeAddresses,
      });
      if (r) refused.set(serviceKey(vs), r);
      return !r;
    });
    // Of two that select the same traffic, the older keeps it (a duplicate must not stop the table).
    const programmed = new Set(this.lb.keys);
    const conflicts = endpointConflicts(granted, (vs) => programmed.has(serviceKey(vs)));
    for (const [vs, r] of conflicts) refused.set(serviceKey(vs), r);
    const wanted = granted.filter((vs) => !conflicts.has(vs));
    // Each refusal is logged when it appears or changes, not on every pass.
    for (const [virtualServer, r] of refused)
      if (this.refusedLogged.get(virtualServer) !== r.message)
        log.warn(
          { virtualServer, rule: r.rule, reason: r.message },
          "VirtualServer not programmed: not permitted",
        );
    this.refusedLogged = new Map([...refused].map(([k, r]) => [k, r.message]));
    this.opts.virtualServerStatus?.refusals(refused);
    const digest = JSON.stringify(wanted.map((vs) => [serviceKey(vs), vs.spec]));
    if (digest === this.lb.digest) return;
    this.lb.running?.stop();
    const vsStatus = this.opts.virtualServerStatus;
    vsStatus?.programming(wanted);
    // Nothing wanted and nothing programmed before: no table at all. Otherwise an empty list
    // replaces the table with an empty one (the services go).
    const first = this.lb.digest === "[]" && !this.lb.running;
    this.lb = { digest, keys: wanted.map(serviceKey) };
    if (wanted.length === 0 && first) {
      vsStatus?.programmed();
      return;
    }
    const deviceOf = (routerRef: string | undefined) =>
      routerRef ? this.runners.get(routerRef)?.plan.instances[0]?.interfaceName : undefined;
    try {
      this.lb.running = await start(wanted, deviceOf, (service, server, healthy) =>
        vsStatus?.health(service, server, healthy),
      );
      vsStatus?.programmed();
    } catch (err) {
      log.error({ err: (err as Error).message }, "VirtualServers not programmed");
      vsStatus?.programmed((err as Error).message);
    }
  }

  /** Writes this node's entry, and tells of a change of state. */
  private report(router: string, entry: NodeEntry): void {
    this.opts.virtualServerStatus?.routerState(
      router,
      entry.instances
        ? entry.instances.filter((i) => i.state === "Master").map((i) => i.family)
        : entry.state === "Master"
          ? ["IPv4", "IPv6"] // one instance: the router's only family
          : [],
    );
    const before = this.states.get(router);
    if (before !== entry.state) {
      this.states.set(router, entry.state);
      if (before !== undefined || entry.state !== "Stopped") this.opts.onTransition?.(router, before, entry);
    }
    this.opts.status.report(router, entry);
  }

  /** Tells each engine the health of its tracked cluster objects, when that changed. */
  private pushTracked(): void {
    const { view } = this.opts;
    for (const r of this.runners.values()) {
      const track = r.plan.instances[0]?.track;
      if (!track || (track.endpoints.length === 0 && track.pods.length === 0)) continue;
      const states = [
        ...track.endpoints.map((t) => ({
          name: `endpoints ${t.namespace}/${t.service}`,
          healthy: view.endpointsReady(t.namespace, t.service),
        })),
        ...track.pods.map((t) => ({
          name: podsKey(t),
          healthy: view.readyPods(t.namespace, t.matchLabels) >= t.minReady,
        })),
      ];
      const sig = JSON.stringify(states);
      if (sig === r.tracked) continue;
      r.tracked = sig;
      r.engine.setClusterTracked(states);
    }
  }

  private async stopRunner(router: string, reason: string): Promise<void> {
    const r = this.runners.get(router);
    if (!r) return;
    this.runners.delete(router);
    await r.engine.stop();
    this.opts.log.info({ router, reason }, "router stopped");
    this.report(router, nodeEntry(this.opts.node, [], reason));
  }
}
