// What the load balancer tells the rest of the agent: health results and changes, and dataplane
// updates. One set of hooks feeds metrics and real server notifications, so the load balancer
// stays free of both; every hook returns at once and never throws into the dataplane path.
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import type { Counters } from "../agent/counters.ts";
import { planForNode } from "../agent/plan.ts";
import type { VirtualRouter } from "../api/virtual-router.ts";
import type { VirtualServer } from "../api/virtual-server.ts";
import type { CheckResult } from "../health/checkers.ts";
import type { CheckJob } from "../health/scheduler.ts";
import type { RealServerScripts } from "../keepalived/virtual-server.ts";
import { serviceKey } from "../lb/from-api.ts";
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

export function loadBalancerHooks(opts: {
  log: Logger;
  metrics?: LoadBalancerMetrics;
  notifier?: RealServerNotifier;
}): LoadBalancerHooks {
  const { metrics, notifier, log } = opts;
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
  registry?: Registry;
  counters?: Counters;
}): { hooks: LoadBalancerHooks; notifier: RealServerNotifier } {
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
  return {
    hooks: loadBalancerHooks({ log: opts.log, notifier, ...(metrics ? { metrics } : {}) }),
    notifier,
  };
}
