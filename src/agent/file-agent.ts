// File mode: the routers and virtual servers of one file (YAML objects or a keepalived.conf), run
// as keepalived runs its keepalived.conf. reload() reads the file again, as keepalived does on
// SIGHUP, and applies only what changed; a file that no longer loads changes nothing.
import type { Logger } from "pino";
import { loadConfig, type AgentConfig } from "./config-file.ts";
import type { EngineArgs } from "./engine-process.ts";
import { onlyAddressesDiffer, startEngine, type RunningEngine } from "./engines.ts";
import type { LoadBalancer } from "./load-balancer.ts";
import { planForNode, type NodePlan } from "./plan.ts";
import type { EngineMessage } from "./supervisor.ts";
import type { BackendChoice } from "../lb/backend.ts";
import type { Registry } from "prom-client";

/** What a reload does to the VRRP engine: nothing, new addresses in place, or a restart. */
export type VrrpStep = "keep" | "addresses" | "restart";

export function vrrpStep(running: NodePlan, next: NodePlan): VrrpStep {
  if (JSON.stringify(running.instances) === JSON.stringify(next.instances)) return "keep";
  return onlyAddressesDiffer(running, next) ? "addresses" : "restart";
}

/** Everything the load balancer is built from: when it is unchanged, a reload leaves it running. */
export function loadBalancerInputs(config: AgentConfig): string {
  return JSON.stringify([
    config.virtualServers,
    config.realServerScripts ?? [],
    // Real server notifications go through the routers' notify settings and interfaces.
    config.routers.map((r) => [r.metadata.name, r.spec.interface, r.spec.notify]),
  ]);
}

export interface FileAgentOptions {
  file: string;
  node: string;
  log: Logger;
  engineArgs: EngineArgs;
  lbBackend?: BackendChoice;
  /** Where the load balancer's metrics go (the agent's one endpoint). */
  registry?: Registry;
  onEngineMessage?(msg: EngineMessage): void;
}

export class FileAgent {
  private readonly opts: FileAgentOptions;
  private config: AgentConfig;
  private plan: NodePlan;
  private engine: RunningEngine | undefined;
  private lb: LoadBalancer | undefined;
  private reloading: Promise<void> | undefined;

  private constructor(opts: FileAgentOptions, config: AgentConfig) {
    this.opts = opts;
    this.config = config;
    this.plan = planForNode(config.routers, opts.node);
  }

  /**
   * Loads the file and starts its engine and load balancer. Throws ConfigError (the file) or
   * FileAgentError (nothing to run here, or the dataplane refused the services); nothing is left
   * running then.
   */
  static async start(opts: FileAgentOptions): Promise<FileAgent> {
    const agent = new FileAgent(opts, load(opts));
    agent.report();
    agent.engine = await agent.startEngine(agent.plan);
    try {
      agent.lb = await agent.startLoadBalancer(agent.config);
    } catch (err) {
      await agent.engine.stop();
      const { LoadBalancerError } = await import("./load-balancer.ts");
      throw err instanceof LoadBalancerError ? new FileAgentError(err.message) : err;
    }
    return agent;
  }

  /** The instances running now (router/ipvN). */
  instances(): string[] {
    return this.plan.instances.map((i) => i.key);
  }

  engines(): Map<string, RunningEngine> {
    return new Map(this.engine ? [["engine", this.engine]] : []);
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
    let config: AgentConfig;
    try {
      config = load(this.opts);
    } catch (err) {
      log.error(
        { err: (err as Error).message },
        "reload failed: running on with the configuration loaded before",
      );
      return;
    }
    const plan = planForNode(config.routers, this.opts.node);
    const step = vrrpStep(this.plan, plan);
    const lbChanged = loadBalancerInputs(config) !== loadBalancerInputs(this.config);
    const before = { config: this.config, plan: this.plan };
    this.config = config;
    this.plan = plan;
    this.report();
    if (step === "addresses" && this.engine?.update(plan))
      log.info("reload: virtual addresses updated in place");
    else if (step !== "keep") await this.restartEngine(before.plan);
    if (lbChanged) await this.replaceLoadBalancer(before.config);
    log.info({ vrrp: step, loadBalancer: lbChanged ? "replaced" : "kept" }, "configuration reloaded");
  }

  /** A changed instance restarts the engine: this node resigns, then takes part in a new election. */
  private async restartEngine(previous: NodePlan): Promise<void> {
    const { log } = this.opts;
    log.warn("reload: the VRRP instances changed; restarting them (this node resigns and is elected again)");
    await this.engine?.stop();
    this.engine = undefined;
    try {
      this.engine = await this.startEngine(this.plan);
    } catch (err) {
      log.error(
        { err: (err as Error).message },
        "reload: the new instances did not start; starting the previous ones",
      );
      this.plan = previous;
      this.engine = await this.startEngine(previous);
    }
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
      this.lb = await this.startLoadBalancer(previous);
    }
  }

  async stop(): Promise<void> {
    await this.reloading;
    this.lb?.stop(); // the table stays: a restarted agent replaces it atomically, without a gap
    await this.engine?.stop();
  }

  private report(): void {
    const { log } = this.opts;
    for (const s of this.plan.skipped) log.info(s, `not running ${s.router}: ${s.reason}`);
    for (const n of this.config.notes) log.warn(`keepalived.conf: ${n}`);
  }

  private startEngine(plan: NodePlan): Promise<RunningEngine> {
    const { opts } = this;
    return startEngine(plan, opts.engineArgs, opts.log, undefined, (msg) => opts.onEngineMessage?.(msg));
  }

  private async startLoadBalancer(config: AgentConfig): Promise<LoadBalancer | undefined> {
    const { node, log, registry, lbBackend } = this.opts;
    const { routers, virtualServers, realServerScripts } = config;
    if (virtualServers.length === 0) return undefined;
    // Loaded only where there are virtual servers: most agents run VRRP alone.
    const { startLoadBalancer } = await import("./load-balancer.ts");
    const { agentLoadBalancerHooks } = await import("../observe/lb-observer.ts");
    const { hooks } = agentLoadBalancerHooks({
      node,
      log,
      routers,
      virtualServers,
      ...(realServerScripts ? { realServerScripts } : {}),
      ...(registry ? { registry } : {}),
    });
    // DR forwards on the interface of the service's VirtualRouter.
    const deviceOf = (routerRef: string | undefined) =>
      routers.find((r) => r.metadata.name === routerRef)?.spec.interface;
    return startLoadBalancer(virtualServers, log, undefined, hooks, {
      backend: lbBackend ?? "auto",
      deviceOf,
    });
  }
}

export class FileAgentError extends Error {}

function load(opts: FileAgentOptions): AgentConfig {
  const config = loadConfig(opts.file, opts.node);
  const plan = planForNode(config.routers, opts.node);
  if (plan.instances.length === 0 && config.virtualServers.length === 0)
    throw new FileAgentError(`no VirtualRouter in ${opts.file} runs on node ${opts.node}`);
  return config;
}
