// File mode: the routers and virtual servers of one file (YAML objects or a keepalived.conf), run
// as keepalived runs its keepalived.conf. All routers start in one engine process (an engine
// costs ~60 MB: bench/agent-memory.ts). reload() reads the file again, as keepalived does on
// SIGHUP, and applies only what changed: a router whose plan is the same runs on untouched; new
// addresses are taken in place; a changed or removed router is stopped in place in its engine, and
// the changed and new routers of one reload start together in one new engine; a file that no
// longer loads changes nothing.
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { loadConfig, type AgentConfig } from "./config-file.ts";
import { HostStaticsKeeper } from "./statics.ts";
import type { EngineArgs } from "./engine-process.ts";
import { takenInPlace, startEngine, type RunningEngine } from "./engines.ts";
import type { LoadBalancer } from "./load-balancer.ts";
import { planForNode, type NodePlan } from "../plan/plan.ts";
import type { EngineMessage } from "./supervisor.ts";
import type { BackendChoice } from "../lb/backend.ts";

/** Each router's part of the node's plan: the unit one engine runs. */
export function plansByRouter(plan: NodePlan): Map<string, NodePlan> {
  const out = new Map<string, NodePlan>();
  for (const i of plan.instances) {
    const p = out.get(i.router) ?? { instances: [], skipped: [] };
    p.instances.push(i);
    out.set(i.router, p);
  }
  return out;
}

/** What a reload does to one router's engine. */
export type RouterStep = "keep" | "addresses" | "restart" | "start" | "stop";

export function routerSteps(running: NodePlan, next: NodePlan): Map<string, RouterStep> {
  const before = plansByRouter(running);
  const after = plansByRouter(next);
  const steps = new Map<string, RouterStep>();
  for (const router of before.keys()) if (!after.has(router)) steps.set(router, "stop");
  for (const [router, plan] of after) {
    const old = before.get(router);
    if (!old) steps.set(router, "start");
    else if (JSON.stringify(old) === JSON.stringify(plan)) steps.set(router, "keep");
    else steps.set(router, takenInPlace(old, plan) ? "addresses" : "restart");
  }
  // A sync group's members must share one engine: one of them (re)starting restarts them all.
  const groupOf = (router: string) => after.get(router)?.instances[0]?.syncGroup;
  const moving = new Set(
    [...steps].filter(([r, s]) => (s === "start" || s === "restart") && groupOf(r)).map(([r]) => groupOf(r)),
  );
  for (const [router, step] of steps)
    if ((step === "keep" || step === "addresses") && moving.has(groupOf(router)))
      steps.set(router, "restart");
  return steps;
}

/** Everything the load balancer is built from: when it is unchanged, a reload leaves it running. */
export function loadBalancerInputs(config: AgentConfig): string {
  const refs = new Set(config.virtualServers.map((vs) => vs.spec.routerRef));
  return JSON.stringify([
    config.virtualServers,
    config.realServerScripts ?? [],
    config.quorumScripts ?? [],
    // Real server notifications go through their routers' notify settings; DR through their interface.
    config.routers
      .filter((r) => refs.has(r.metadata.name))
      .map((r) => [r.metadata.name, r.spec.interface, r.spec.notify]),
  ]);
}

export interface FileAgentOptions {
  file: string;
  node: string;
  /** keepalived's config id for a keepalived.conf's `@ID` lines; loadConfig's default without it. */
  configId?: string;
  log: Logger;
  engineArgs: EngineArgs;
  lbBackend?: BackendChoice;
  /** Where the load balancer's metrics go (the agent's one endpoint). */
  registry?: Registry;
  /** An engine's message, with the name the agent gives that engine. */
  onEngineMessage?(engine: string, msg: EngineMessage): void;
}

export class FileAgentError extends Error {}

/** One engine process and the routers it runs. */
interface EngineGroup {
  name: string;
  plan: NodePlan;
  engine: RunningEngine;
}

export class FileAgent {
  private readonly opts: FileAgentOptions;
  private config: AgentConfig;
  private plan: NodePlan;
  private groups: EngineGroup[] = [];
  private started = 0;
  private lb: LoadBalancer | undefined;
  /** keepalived's omega scripts of the running load balancer, for stop(). */
  private lbShutdown: (() => Promise<void>) | undefined;
  private reloading: Promise<void> | undefined;
  /** keepalived.conf's static_ipaddress / static_routes / static_rules, held while the agent runs. */
  private readonly statics: HostStaticsKeeper;

  private constructor(opts: FileAgentOptions, loaded: Loaded) {
    this.opts = opts;
    this.statics = new HostStaticsKeeper(opts.log);
    this.config = loaded.config;
    this.plan = loaded.plan;
  }

  /**
   * Loads the file and starts its engines and load balancer. Throws ConfigError (the file) or
   * FileAgentError (nothing to run here, or the dataplane refused the services); nothing is left
   * running then.
   */
  static async start(opts: FileAgentOptions): Promise<FileAgent> {
    const agent = new FileAgent(opts, load(opts));
    agent.report();
    await agent.statics.apply(agent.config.statics);
    if (agent.plan.instances.length > 0) await agent.startGroup(agent.plan);
    try {
      agent.lb = await agent.startLoadBalancer(agent.config);
    } catch (err) {
      await agent.stopGroups();
      await agent.statics.stop();
      const { LoadBalancerError } = await import("./load-balancer.ts");
      throw err instanceof LoadBalancerError ? new FileAgentError(err.message) : err;
    }
    return agent;
  }

  /** The instances running now (router/ipvN). */
  instances(): string[] {
    return this.plan.instances.map((i) => i.key);
  }

  /** The running engines, by the agent's name for each (for metrics and the status document). */
  running(): Map<string, RunningEngine> {
    return new Map(this.groups.map((g) => [g.name, g.engine]));
  }

  /** Reads the file again and applies what changed; never throws (a failure is logged). */
  reload(): Promise<void> {
    // Reloads in a row run one after the other, each reading the file as it is then.
    const previous = this.reloading ?? Promise.resolve();
    const next = previous
      .then(() => this.reloadOnce())
      .catch((err: unknown) => this.opts.log.error({ err: (err as Error).message }, "reload failed"));
    this.reloading = next.finally(() => {
      if (this.reloading === next) this.reloading = undefined;
    });
    return next;
  }

  private async reloadOnce(): Promise<void> {
    const { log } = this.opts;
    let loaded: Loaded;
    try {
      loaded = load(this.opts);
    } catch (err) {
      log.error(
        { err: (err as Error).message },
        "reload failed: running on with the configuration loaded before",
      );
      return;
    }
    const { config, plan } = loaded;
    const steps = routerSteps(this.plan, plan);
    const plans = plansByRouter(plan);
    const lbChanged = loadBalancerInputs(config) !== loadBalancerInputs(this.config);
    const previous = this.config;
    this.config = config;
    this.plan = plan;
    this.report();
    await this.statics.apply(config.statics);
    const routers = (wanted: RouterStep[]) =>
      [...steps].filter(([, s]) => wanted.includes(s)).map(([router]) => router);
    for (const router of routers(["restart"]))
      log.warn(
        { router },
        "reload: the router's instances changed; restarting it (it resigns and is elected again)",
      );
    await this.updateAddresses(routers(["addresses"]), plans);
    await this.removeRouters(new Set(routers(["stop", "restart"])));
    const starting = routers(["start", "restart"]).flatMap((r) => plans.get(r)!.instances);
    if (starting.length > 0) await this.startGroup({ instances: starting, skipped: [] });
    if (lbChanged) await this.replaceLoadBalancer(previous);
    log.info(
      { routers: Object.fromEntries(steps), loadBalancer: lbChanged ? "replaced" : "kept" },
      "configuration reloaded",
    );
  }

  private async replaceLoadBalancer(previous: AgentConfig): Promise<void> {
    const { log } = this.opts;
    // The table stays while no one checks: the new load balancer replaces it atomically.
    this.lb?.stop();
    this.lb = undefined;
    try {
      this.lb = await this.startLoadBalancer(this.config);
    } catch (err) {
      const { LoadBalancerError } = await import("./load-balancer.ts");
      if (!(err instanceof LoadBalancerError)) throw err;
      log.error(
        { err: err.message },
        "reload: the new virtual servers were refused; keeping the previous ones",
      );
      this.config = { ...this.config, virtualServers: previous.virtualServers };
      if (previous.realServerScripts) this.config.realServerScripts = previous.realServerScripts;
      if (previous.quorumScripts) this.config.quorumScripts = previous.quorumScripts;
      this.lb = await this.startLoadBalancer(previous);
    }
  }

  async stop(): Promise<void> {
    await this.reloading;
    this.lb?.stop(); // the table stays: a restarted agent replaces it atomically, without a gap
    // keepalived's omega: down scripts on shutdown, given up to 3 s beside the engines' stop.
    const omega = this.lbShutdown?.();
    await Promise.all([
      this.stopGroups(),
      omega && Promise.race([omega, new Promise((r) => setTimeout(r, 3000).unref())]),
    ]);
    await this.statics.stop();
  }

  private report(): void {
    const { log } = this.opts;
    for (const s of this.plan.skipped) log.info(s, `not running ${s.router}: ${s.reason}`);
    for (const n of this.config.notes) log.warn(`keepalived.conf: ${n}`);
  }

  private async startGroup(plan: NodePlan): Promise<void> {
    const { opts } = this;
    const name = `engine-${++this.started}`;
    const engine = await startEngine(plan, opts.engineArgs, opts.log, undefined, (msg) =>
      opts.onEngineMessage?.(name, msg),
    );
    this.groups.push({ name, plan, engine });
  }

  /** New addresses of running routers, taken in place by their engines (no new election). */
  private async updateAddresses(routers: string[], plans: Map<string, NodePlan>): Promise<void> {
    for (const g of [...this.groups]) {
      const mine = routers.filter((r) => g.plan.instances.some((i) => i.router === r));
      if (mine.length === 0) continue;
      const next: NodePlan = {
        instances: g.plan.instances.flatMap((i) =>
          mine.includes(i.router) ? plans.get(i.router)!.instances.filter((n) => n.key === i.key) : [i],
        ),
        skipped: [],
      };
      if (g.engine.update(next)) {
        g.plan = next;
        this.opts.log.info({ routers: mine }, "reload: virtual addresses updated in place");
      } else {
        // Not an address change after all (routerSteps says it is): restart them instead.
        await this.removeRouters(new Set(mine));
        await this.startGroup({ instances: mine.flatMap((r) => plans.get(r)!.instances), skipped: [] });
      }
    }
  }

  /** Stops routers in their engines, in place; an engine left with none is stopped. */
  private async removeRouters(routers: ReadonlySet<string>): Promise<void> {
    if (routers.size === 0) return;
    const emptied: EngineGroup[] = [];
    for (const g of this.groups) {
      const mine = [...new Set(g.plan.instances.map((i) => i.router))].filter((r) => routers.has(r));
      if (mine.length === 0) continue;
      const rest: NodePlan = {
        instances: g.plan.instances.filter((i) => !routers.has(i.router)),
        skipped: [],
      };
      if (rest.instances.length === 0) emptied.push(g);
      else {
        g.engine.remove(mine, rest);
        g.plan = rest;
      }
    }
    this.groups = this.groups.filter((g) => !emptied.includes(g));
    await Promise.all(emptied.map((g) => g.engine.stop()));
  }

  private async stopGroups(): Promise<void> {
    const groups = this.groups;
    this.groups = [];
    await Promise.all(groups.map((g) => g.engine.stop()));
  }

  private async startLoadBalancer(config: AgentConfig): Promise<LoadBalancer | undefined> {
    const { node, log, registry, lbBackend } = this.opts;
    const { routers, virtualServers, realServerScripts, quorumScripts } = config;
    if (virtualServers.length === 0) return undefined;
    // Loaded only where there are virtual servers: most agents run VRRP alone.
    const { startLoadBalancer } = await import("./load-balancer.ts");
    const { agentLoadBalancerHooks } = await import("../observe/lb-observer.ts");
    const { hooks, shutdown } = agentLoadBalancerHooks({
      node,
      log,
      routers,
      virtualServers,
      ...(realServerScripts ? { realServerScripts } : {}),
      ...(quorumScripts ? { quorumScripts } : {}),
      ...(registry ? { registry } : {}),
    });
    // DR forwards on the interface of the service's VirtualRouter.
    const deviceOf = (routerRef: string | undefined) =>
      routers.find((r) => r.metadata.name === routerRef)?.spec.interface;
    this.lbShutdown = shutdown;
    return startLoadBalancer(virtualServers, log, undefined, hooks, {
      backend: lbBackend ?? "auto",
      deviceOf,
    });
  }
}

interface Loaded {
  config: AgentConfig;
  plan: NodePlan;
}

function load(opts: FileAgentOptions): Loaded {
  const config = loadConfig(opts.file, opts.node, opts.configId);
  const plan = planForNode(config.routers, opts.node);
  // A keepalived.conf's vrrp_sync_group notify scripts go with its members' plans.
  for (const i of plan.instances) {
    const g = config.syncGroupScripts?.find((s) => s.syncGroup === i.syncGroup);
    if (g) {
      const { syncGroup: _name, ...scripts } = g;
      i.syncGroupNotify = scripts;
    }
  }
  if (plan.instances.length === 0 && config.virtualServers.length === 0)
    throw new FileAgentError(`no VirtualRouter in ${opts.file} runs on node ${opts.node}`);
  return { config, plan };
}
