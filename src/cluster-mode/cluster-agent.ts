// Cluster mode: keeps the node's one engine running every VirtualRouter that selects this node, in
// step with what the API says (through the caches it is given), and reports this node's entry of
// each router's status. When the API server is away the caches stand still and the engine runs on
// with its last plan.
import type { Logger } from "pino";
import type { ClusterNode, RouterObject } from "../cluster/routers.ts";
import { nodeEntry } from "./status-entry.ts";
import type { NodeEntry, NodeState } from "../cluster/status.ts";
import { decideRouters, PlanCache, type HostAddress } from "./cluster-plan.ts";
import { endpointConflicts, nodeAddressSet, refusal, type Refusal } from "../cluster/grants.ts";
import type { InstanceStatus } from "../engine/engine.ts";
import { endpointsKey, podsKey } from "../plan/tracked-names.ts";
import type { EngineArgs } from "../engine/engine-process.ts";
import type { NodeEngine } from "../agent/engines.ts";
import type { NodePlan } from "../plan/plan.ts";
import { instanceLabels } from "../plan/instance-key.ts";
import type { RouterStep } from "../plan/steps.ts";
import type { StatusWriter } from "./status-writer.ts";
import { validateVirtualServer, type VirtualServer } from "../api/virtual-server.ts";
import { serviceKey } from "../lb/from-api.ts";
import type { EngineMessage } from "../engine/ipc.ts";
import type { VirtualServerStatusWriter } from "./vs-status-writer.ts";
import { WorkQueue } from "../kube/work-queue.ts";

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
  ): Promise<NodeEngine>;
  /** Engine messages other than status (metrics snapshots, observed failovers). */
  onEngineMessage?(engine: string, msg: EngineMessage): void;
  /** This node's state of a router changed (for a Kubernetes Event). */
  onTransition?(router: string, from: NodeState | undefined, to: NodeEntry): void;
  /** Programs the VirtualServers of the routers this node runs (absent: no load balancing). */
  startLoadBalancer?: StartLoadBalancer;
  /** Writes the status of the VirtualServers of the routers this node is master of. */
  virtualServerStatus?: VirtualServerStatusWriter;
  /** How often a full pass runs without a change (default 5 min). */
  resyncMs?: number;
}

/** A router the engine runs: its part of the node's plan, and what the plan noted of it. */
interface Runner {
  notes: string[];
  plan: NodePlan;
}

/** The engine's name in metrics and the status document (one per agent). */
const ENGINE_NAME = "engine";

type AgentWork = "routers" | "load-balancer";

/** A full pass this often, whatever the informers said (as controllers resync). */
const RESYNC_MS = 5 * 60_000;

export class ClusterAgent {
  private readonly runners = new Map<string, Runner>();
  private readonly plans = new PlanCache();
  /** The node's engine, started with the first router. */
  private engine: NodeEngine | undefined;
  /** What the engine was last told of tracked cluster objects. */
  private tracked = "";
  private readonly states = new Map<string, NodeState>();
  /** The node's dataplane: what it was started with (digest, service keys), and its handle. */
  private lb: { digest: string; keys: string[]; running?: { stop(): void } } = { digest: "[]", keys: [] };
  /** This host's addresses as the last pass saw them. */
  private host: HostAddress[] = [];
  /** The refusals last logged (message by VirtualServer), so each is logged once. */
  private refusedLogged = new Map<string, string>();
  private stopped = false;
  private readonly opts: ClusterAgentOptions;
  /**
   * The agent's work on the controller's queue: "routers" (the engine's plan and tracked objects)
   * and "load-balancer" (the dataplane and the VirtualServers' status), each retried with its own
   * backoff on failure, so that one failing never stops the other; a full resync every few minutes.
   */
  private readonly queue: WorkQueue<AgentWork>;
  private readonly worker: Promise<void>;
  private readonly resync: NodeJS.Timeout;
  /** Passes over the routers started, and callers of sync() waiting for a pass begun after them. */
  private passesStarted = 0;
  private waiters: { after: number; resolve: () => void }[] = [];

  constructor(opts: ClusterAgentOptions) {
    this.opts = opts;
    this.queue = new WorkQueue<AgentWork>({ log: opts.log, baseDelayMs: 500, maxDelayMs: 30_000 });
    this.worker = this.queue.run(1, (work) => this.handle(work));
    this.resync = setInterval(() => this.queue.add("routers"), opts.resyncMs ?? RESYNC_MS);
    this.resync.unref();
  }

  /** Routers the engine runs now. */
  routers(): string[] {
    return [...this.runners.keys()];
  }

  /** The running engine by its name (for metrics and the status document). */
  engines(): Map<string, NodeEngine> {
    return new Map(this.engine ? [[ENGINE_NAME, this.engine]] : []);
  }

  /**
   * Brings the engine in step with the view; resolves once a pass begun after this call has ended
   * (calls made meanwhile coalesce into one more pass; a failed pass is retried with backoff).
   */
  sync(): Promise<void> {
    const after = this.passesStarted;
    const done = new Promise<void>((resolve) => this.waiters.push({ after, resolve }));
    this.queue.add("routers");
    return done;
  }

  /** Stops the engine (every router resigns and releases its addresses) and reports them stopped. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.resync);
    this.queue.shutDown();
    await this.worker;
    for (const w of this.waiters.splice(0)) w.resolve();
    await this.engine?.stop();
    for (const router of [...this.runners.keys()]) this.reportStopped(router, "the agent stopped");
    this.lb.running?.stop(); // the table stays: a restarted agent replaces it atomically
    await this.opts.status.flush();
  }

  private async handle(work: AgentWork): Promise<void> {
    if (work === "load-balancer") {
      await this.syncLoadBalancer();
      this.opts.virtualServerStatus?.changed();
      return;
    }
    const pass = ++this.passesStarted;
    try {
      await this.pass();
      this.pushTracked();
      this.queue.add("load-balancer");
    } finally {
      const ready = this.waiters.filter((w) => w.after < pass);
      this.waiters = this.waiters.filter((w) => w.after >= pass);
      for (const w of ready) w.resolve();
    }
  }

  private async pass(): Promise<void> {
    const { node, view, log } = this.opts;
    if (this.stopped) return;
    this.host = await this.opts.hostAddresses();
    const decisions = decideRouters(
      {
        node,
        routers: view.routers(),
        nodes: view.nodes(),
        host: this.host,
        allowScripts: this.opts.allowScripts,
        secret: (n, k) => view.secret(n, k),
      },
      this.plans,
    );
    const existing = new Set(view.routers().map((r) => r.metadata.name));
    const running = decisions.filter((d) => d.run);
    // The node's plan: every router that runs here, in a stable order.
    const plan: NodePlan = {
      instances: running.flatMap((d) => d.plan.instances),
      skipped: running.flatMap((d) => d.plan.skipped),
    };
    const runningNames = new Set(running.map((d) => d.router));
    const gone = [...this.runners.keys()].filter((r) => !runningNames.has(r));
    for (const d of running) this.runners.set(d.router, { notes: d.notes, plan: d.plan });
    for (const router of gone) this.runners.delete(router);
    let steps: Map<string, RouterStep>;
    if (this.engine) steps = await this.engine.apply(plan);
    else if (plan.instances.length > 0) {
      this.engine = await this.opts.startEngine(
        plan,
        { ...this.opts.engineArgs, reportStatus: true },
        log,
        (instances) => this.engineStatus(instances),
        (msg) => this.opts.onEngineMessage?.(ENGINE_NAME, msg),
      );
      steps = new Map(running.map((d) => [d.router, "start"]));
    } else steps = new Map();
    for (const d of running) {
      const step = steps.get(d.router);
      if (step === undefined || step === "keep") continue;
      // A router's notes are told when its plan changes, not on every pass.
      for (const note of d.notes) log.warn({ router: d.router }, note);
      const instances = d.plan.instances.map((i) => i.key);
      if (step === "in-place")
        log.info(
          { router: d.router },
          "router updated in place (virtual addresses, sources it obeys, tracked objects)",
        );
      else if (step === "start") log.info({ router: d.router, instances }, "router started");
      else if (step === "restart")
        log.info({ router: d.router, instances }, "router restarted with a changed spec");
    }
    // Routers that stopped here: no longer selected, gone, or not run for a reason.
    const reasons = new Map(decisions.filter((d) => !d.run).map((d) => [d.router, d.reason]));
    for (const router of gone) {
      this.reportStopped(router, reasons.get(router) ?? "this node is no longer selected");
      if (!existing.has(router)) this.opts.status.forget(router);
    }
    for (const d of decisions)
      if (!d.run && !gone.includes(d.router)) this.report(d.router, nodeEntry(node, [], d.reason));
  }

  /** The engine's status, told as each router's entry. */
  private engineStatus(instances: InstanceStatus[]): void {
    const byRouter = new Map<string, InstanceStatus[]>();
    for (const i of instances) {
      const { router } = instanceLabels(i.key);
      // An instance of a router stopped meanwhile (the engine had not heard yet): not told.
      if (!this.runners.has(router)) continue;
      byRouter.set(router, [...(byRouter.get(router) ?? []), i]);
    }
    for (const [router, mine] of byRouter) {
      const notes = this.runners.get(router)?.notes ?? [];
      this.report(router, nodeEntry(this.opts.node, mine, notes.join("; ") || undefined));
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
    // Parsed only when some VirtualServer asks for it (every address of 255 routers, each pass).
    const nodeAddresses =
      valid.length === 0
        ? new Set<string>()
        : nodeAddressSet([
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
      // Not programmed: the next try (the queue's backoff) starts it again.
      this.lb.digest = "failed";
      throw err;
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

  /** Tells the engine the health of the tracked cluster objects of its routers, when that changed. */
  private pushTracked(): void {
    const { view } = this.opts;
    const states = new Map<string, boolean>();
    for (const r of this.runners.values()) {
      const track = r.plan.instances[0]?.track;
      if (!track) continue;
      for (const t of track.endpoints)
        states.set(endpointsKey(t), view.endpointsReady(t.namespace, t.service));
      for (const t of track.pods)
        states.set(podsKey(t), view.readyPods(t.namespace, t.matchLabels) >= t.minReady);
    }
    const list = [...states]
      .map(([name, healthy]) => ({ name, healthy }))
      .sort((a, b) => a.name.localeCompare(b.name));
    const sig = JSON.stringify(list);
    if (sig === this.tracked || !this.engine) return;
    this.tracked = sig;
    this.engine.setClusterTracked(list);
  }

  /** A router no longer runs here: its entry says why. */
  private reportStopped(router: string, reason: string): void {
    this.opts.log.info({ router, reason }, "router stopped");
    this.report(router, nodeEntry(this.opts.node, [], reason));
  }
}
