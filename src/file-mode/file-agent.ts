// File mode: the routers and virtual servers of one file (YAML objects or a keepalived.conf), run
// as keepalived runs its keepalived.conf, all in the node's one engine process. reload() reads the
// file again, as keepalived does on SIGHUP, and applies only what changed (plan/steps.ts): a router
// whose plan is the same runs on untouched; new addresses are taken in place; a changed router is
// stopped and started again in the running engine, and a removed one stopped; a file that no
// longer loads changes nothing.
import type { Logger } from "pino";
import type { Registry } from "../observe/prom.ts";
import { loadConfig, type AgentConfig } from "./config-file.ts";
import { HostStaticsKeeper } from "./statics.ts";
import type { EngineArgs } from "../engine/engine-process.ts";
import { startEngine, type NodeEngine } from "../agent/engines.ts";
import type { RouterStep } from "../plan/steps.ts";
import type { LoadBalancer } from "../agent/load-balancer.ts";
import { planForNode, type NodePlan } from "../plan/plan.ts";
import type { EngineMessage } from "../engine/ipc.ts";
import type { BackendChoice } from "../lb/backend.ts";

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

/** The engine's name in metrics and the status document (one per agent). */
const ENGINE_NAME = "engine";

export class FileAgent {
  private readonly opts: FileAgentOptions;
  private config: AgentConfig;
  private plan: NodePlan;
  /** The node's engine (absent while the file has no router for this node). */
  private engine: NodeEngine | undefined;
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
    if (agent.plan.instances.length > 0) await agent.startEngine(agent.plan);
    try {
      agent.lb = await agent.startLoadBalancer(agent.config);
    } catch (err) {
      await agent.engine?.stop();
      await agent.statics.stop();
      const { LoadBalancerError } = await import("../agent/load-balancer.ts");
      throw err instanceof LoadBalancerError ? new FileAgentError(err.message) : err;
    }
    return agent;
  }

  /** The instances running now (router/ipvN). */
  instances(): string[] {
    return this.plan.instances.map((i) => i.key);
  }

  /** The running engine, by the agent's name for it (for metrics and the status document). */
  running(): Map<string, NodeEngine> {
    return new Map(this.engine ? [[ENGINE_NAME, this.engine]] : []);
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
    const lbChanged = loadBalancerInputs(config) !== loadBalancerInputs(this.config);
    const previous = this.config;
    this.config = config;
    this.plan = plan;
    this.report();
    await this.statics.apply(config.statics);
    let steps = new Map<string, RouterStep>();
    if (this.engine) steps = await this.engine.apply(plan);
    else if (plan.instances.length > 0) {
      await this.startEngine(plan);
      for (const i of plan.instances) steps.set(i.router, "start");
    }
    for (const [router, step] of steps)
      if (step === "restart")
        log.warn(
          { router },
          "reload: the router's instances changed; restarting it (it resigns and is elected again)",
        );
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
      const { LoadBalancerError } = await import("../agent/load-balancer.ts");
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
      this.engine?.stop(),
      omega && Promise.race([omega, new Promise((r) => setTimeout(r, 3000).unref())]),
    ]);
    await this.statics.stop();
  }

  private report(): void {
    const { log } = this.opts;
    for (const s of this.plan.skipped) log.info(s, `not running ${s.router}: ${s.reason}`);
    for (const n of this.config.notes) log.warn(`keepalived.conf: ${n}`);
  }

  private async startEngine(plan: NodePlan): Promise<void> {
    const { opts } = this;
    this.engine = await startEngine(plan, opts.engineArgs, opts.log, undefined, (msg) =>
      opts.onEngineMessage?.(ENGINE_NAME, msg),
    );
  }

  private async startLoadBalancer(config: AgentConfig): Promise<LoadBalancer | undefined> {
    const { node, log, registry, lbBackend } = this.opts;
    const { routers, virtualServers, realServerScripts, quorumScripts } = config;
    if (virtualServers.length === 0) return undefined;
    // Loaded only where there are virtual servers: most agents run VRRP alone.
    const { startNodeLoadBalancer } = await import("../agent/load-balancer.ts");
    const { lb, shutdown } = await startNodeLoadBalancer({
      node,
      log,
      routers,
      virtualServers,
      ...(realServerScripts ? { realServerScripts } : {}),
      ...(quorumScripts ? { quorumScripts } : {}),
      ...(registry ? { registry } : {}),
      ...(lbBackend ? { backend: lbBackend } : {}),
      // DR forwards on the interface of the service's VirtualRouter.
      deviceOf: (routerRef) => routers.find((r) => r.metadata.name === routerRef)?.spec.interface,
    });
    this.lbShutdown = shutdown;
    return lb;
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
