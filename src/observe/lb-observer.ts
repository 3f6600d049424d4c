// What the load balancer tells the rest of the agent: health results and changes, and dataplane
// updates. One set of hooks feeds metrics and real server notifications, so the load balancer
// stays free of both; every hook returns at once and never throws into the dataplane path.
import type { Logger } from "pino";
import type { CheckResult } from "../health/checkers.ts";
import type { CheckJob } from "../health/scheduler.ts";
import type { LoadBalancerMetrics } from "./lb-metrics.ts";
import type { RealServerNotifier } from "./real-server-notifier.ts";

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
