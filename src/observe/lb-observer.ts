// What the load balancer tells the rest of the agent: health results and changes, and dataplane
// updates. One set of hooks feeds metrics and real server notifications, so the load balancer
// stays free of both; every hook returns at once and never throws into the dataplane path.
import type { Logger } from "pino";
import type { Registry } from "./prom.ts";
import type { Counters } from "../base/counters.ts";
import { planForNode } from "../plan/plan.ts";
import type { VirtualRouter } from "../api/virtual-router.ts";
import type { VirtualServer } from "../api/virtual-server.ts";
import type { CheckResult } from "../health/checkers.ts";
import type { CheckJob } from "../health/scheduler.ts";
import type { QuorumScripts, RealServerScripts } from "../keepalived/virtual-server.ts";
import { serviceKey, toVirtualService } from "../lb/from-api.ts";
import { desiredDestinations } from "../lb/model.ts";
import { runShell } from "../base/shell.ts";
import { LoadBalancerMetrics } from "./lb-metrics.ts";
import {
  fromRouterNotify,
  RealServerNotifier,
  serviceLabel,
  type ServiceNotify,
} from "./real-server-notifier.ts";

export interface LoadBalancerHooks {
  /** The checks about to run (every real server starts healthy). */
  started?(jobs: readonly CheckJob[]): void;
  /** Every check attempt. */
  checked?(job: CheckJob, result: CheckResult): void;
  /** A real server's health changed. */
  changed?(job: CheckJob, healthy: boolean, last: CheckResult): void;
  /** The dataplane took (or refused) a change; `seconds` from the health change. */
  dataplaneUpdated?(backend: string, ok: boolean, seconds: number): void;
}

/**
 * keepalived's quorum_up / quorum_down: a service's scripts run when the healthy weight of its real
 * servers reaches its quorum again or falls below it (hysteresis included), as the dataplane decides.
 */
export class QuorumWatcher {
  private readonly health = new Map<string, Map<string, boolean>>();
  private readonly up = new Map<string, boolean>();
  private readonly services = new Map<string, VirtualServer>();

  private readonly scripts: readonly QuorumScripts[];
  private readonly log: Logger;
  private readonly run: (command: string) => Promise<unknown>;

  private readonly downScripts = new Map<string, Map<string, string>>();

  constructor(
    virtualServers: readonly VirtualServer[],
    scripts: readonly QuorumScripts[],
    log: Logger,
    run?: (command: string) => Promise<unknown>,
    realServerScripts: readonly RealServerScripts[] = [],
  ) {
    this.scripts = scripts;
    for (const s of realServerScripts)
      if (s.down !== undefined) {
        const m = this.downScripts.get(s.service) ?? new Map<string, string>();
        m.set(s.server, s.down);
        this.downScripts.set(s.service, m);
      }
    this.log = log;
    this.run =
      run ??
      ((command) =>
        runShell(command, { timeoutMs: 60_000 }).then((r) => {
          if (r.code !== 0)
            log.warn({ command, code: r.code, timedOut: r.timedOut, err: r.error }, "quorum script failed");
        }));
    for (const vs of virtualServers)
      if (scripts.some((s) => s.service === serviceKey(vs))) this.services.set(serviceKey(vs), vs);
  }

  /** A real server's health changed: runs the service's script if its quorum state changed. */
  changed(service: string, server: string, healthy: boolean): void {
    const vs = this.services.get(service);
    if (!vs) return;
    const health = this.health.get(service) ?? new Map<string, boolean>();
    this.health.set(service, health);
    health.set(server, healthy);
    const before = this.up.get(service) ?? true; // every real server starts healthy
    const after = desiredDestinations(toVirtualService(vs), health, before).quorumUp;
    if (after === before) return;
    this.up.set(service, after);
    const script = this.scripts.find((s) => s.service === service)?.[after ? "up" : "down"];
    this.log.info(
      { service, quorum: after ? "up" : "down" },
      `${service}: quorum ${after ? "gained" : "lost"}`,
    );
    if (script) void this.run(script);
  }

  /**
   * keepalived's omega, on the agent's shutdown: for each service that asks, the notify_down of
   * every real server still up and its quorum_down while the quorum holds. Resolves when they end
   * (each within its own time limit).
   */
  shutdown(): Promise<void> {
    const runs: Promise<unknown>[] = [];
    for (const s of this.scripts) {
      if (!s.omega) continue;
      const health = this.health.get(s.service);
      for (const [server, command] of this.downScripts.get(s.service) ?? [])
        if (health?.get(server) !== false) runs.push(this.run(command));
      if (s.down && this.up.get(s.service) !== false) runs.push(this.run(s.down));
    }
    return Promise.all(runs).then(() => undefined);
  }
}

export function loadBalancerHooks(opts: {
  log: Logger;
  metrics?: LoadBalancerMetrics;
  notifier?: RealServerNotifier;
  quorum?: QuorumWatcher;
}): LoadBalancerHooks {
  const { metrics, notifier, log, quorum } = opts;
  const guard =
    <A extends unknown[]>(what: string, fn: (...args: A) => void) =>
    (...args: A) => {
      try {
        fn(...args);
      } catch (err) {
        log.error({ err: (err as Error).message }, `load balancer ${what} hook failed`);
      }
    };
  return {
    started: guard("start", (jobs) => metrics?.servers(jobs)),
    checked: guard("check", (job, result) =>
      metrics?.check(job.spec.type, result.ok, result.latencyMs / 1000),
    ),
    changed: guard("change", (job, healthy, last) => {
      metrics?.change(job.service, job.server, healthy);
      notifier?.notify({ service: job.service, server: job.server, healthy, detail: last.detail });
      quorum?.changed(job.service, job.server, healthy);
    }),
    dataplaneUpdated: guard("dataplane", (backend, ok, seconds) =>
      metrics?.dataplaneUpdate(backend, ok, seconds),
    ),
  };
}

/**
 * The hooks a file-mode agent gives its load balancer: mail and webhooks of the VirtualRouter that
 * keeps each service's address (keepalived mails real server changes with the same settings), the
 * real servers' notify_up / notify_down from a keepalived.conf, and metrics in `registry`.
 */
export function agentLoadBalancerHooks(opts: {
  node: string;
  log: Logger;
  routers: readonly VirtualRouter[];
  virtualServers: readonly VirtualServer[];
  realServerScripts?: readonly RealServerScripts[];
  quorumScripts?: readonly QuorumScripts[];
  registry?: Registry;
  counters?: Counters;
}): { hooks: LoadBalancerHooks; notifier: RealServerNotifier; shutdown: () => Promise<void> } {
  const instances = planForNode(opts.routers, opts.node).instances;
  const byService = new Map<string, ServiceNotify>();
  for (const vs of opts.virtualServers) {
    const plan = instances.find((i) => i.router === vs.spec.routerRef);
    const scripts = new Map<string, { up?: string; down?: string }>();
    const key = serviceKey(vs);
    for (const s of opts.realServerScripts ?? [])
      if (s.service === key)
        scripts.set(s.server, {
          ...(s.up !== undefined ? { up: s.up } : {}),
          ...(s.down !== undefined ? { down: s.down } : {}),
        });
    byService.set(key, {
      ...fromRouterNotify(serviceLabel(vs.spec), plan?.notify),
      ...(scripts.size > 0 ? { scripts } : {}),
    });
  }
  const notifier = new RealServerNotifier({
    node: opts.node,
    log: opts.log,
    lookup: (s) => byService.get(s),
    ...(opts.counters ? { counters: opts.counters } : {}),
  });
  const metrics = opts.registry ? new LoadBalancerMetrics(opts.registry) : undefined;
  const quorum = opts.quorumScripts?.length
    ? new QuorumWatcher(opts.virtualServers, opts.quorumScripts, opts.log, undefined, opts.realServerScripts)
    : undefined;
  return {
    hooks: loadBalancerHooks({
      log: opts.log,
      notifier,
      ...(metrics ? { metrics } : {}),
      ...(quorum ? { quorum } : {}),
    }),
    notifier,
    shutdown: () => quorum?.shutdown() ?? Promise.resolve(),
  };
}
