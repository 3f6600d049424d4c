// Runs every real server's check on its interval: first runs spread over the interval (no
// thundering herd), at most `concurrency` checks in flight, retries after a delay inside one
// round (keepalived's retry / delay_before_retry), and rise / fall before health changes. Only a
// change of health is reported, at once, so the dataplane follows within milliseconds.
import type { Logger } from "pino";
import type { Counters } from "../base/counters.ts";
import { runChecks, type CheckResult, type CheckSpec, type Target } from "./checkers.ts";
import { RiseFall } from "./rise-fall.ts";

export interface CheckJob {
  /** Who is checked, for reports: the service's key and the server's key. */
  service: string;
  server: string;
  target: Target;
  /** Checked instead of target when set, each in turn; the server is healthy when all pass. */
  targets?: Target[];
  spec: CheckSpec;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  delayBeforeRetryMs: number;
  rise: number;
  fall: number;
}

export type HealthChange = (job: CheckJob, healthy: boolean, last: CheckResult) => void;
/** Every attempt's result (retries included), for latency metrics. */
export type CheckObserver = (job: CheckJob, result: CheckResult) => void;

export class HealthScheduler {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly waiting: (() => void)[] = [];
  private inFlight = 0;
  private stopped = false;
  private readonly opts: {
    concurrency: number;
    log: Logger;
    counters?: Counters;
    onChange: HealthChange;
    onResult?: CheckObserver;
  };

  constructor(opts: {
    concurrency?: number;
    log: Logger;
    counters?: Counters;
    onChange: HealthChange;
    onResult?: CheckObserver;
  }) {
    this.opts = { concurrency: opts.concurrency ?? 256, ...opts };
  }

  start(jobs: readonly CheckJob[]): void {
    jobs.forEach((job, i) => {
      const health = new RiseFall(job.rise, job.fall);
      const round = async () => {
        if (this.stopped) return;
        const result = await this.attempts(job);
        if (this.stopped) return;
        const changed = health.record(result.ok);
        this.opts.counters?.add("health_checks", {
          service: job.service,
          result: result.ok ? "ok" : "failed",
        });
        if (changed !== undefined) {
          this.opts.counters?.add("real_server_transitions", {
            service: job.service,
            to: changed ? "up" : "down",
          });
          this.opts.log.info(
            { service: job.service, server: job.server, healthy: changed, detail: result.detail },
            `real server ${job.server} of ${job.service} is ${changed ? "up" : "down"}`,
          );
          this.opts.onChange(job, changed, result);
        }
        // Rounds keep their place on a fixed grid rather than waiting a full interval after each
        // completion: otherwise rounds that finish together (after a stall, or a slow server) stay
        // together, and checks come in bursts. A round that overran starts the next at once.
        const now = performance.now();
        due = Math.max(due + job.intervalMs, now);
        this.later(round, due - now);
      };
      const offset = (job.intervalMs * i) / Math.max(1, jobs.length);
      let due = performance.now() + offset;
      this.later(round, offset);
    });
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** One round: the first attempt and up to `retries` more, `delayBeforeRetryMs` apart. */
  private async attempts(job: CheckJob): Promise<CheckResult> {
    let result: CheckResult = { ok: false, detail: "not run", latencyMs: 0 };
    for (let a = 0; a <= job.retries && !this.stopped; a++) {
      if (a > 0) await new Promise<void>((r) => this.later(r, job.delayBeforeRetryMs));
      result = await this.limited(() => runChecks(job.spec, job.targets ?? [job.target], job.timeoutMs));
      this.opts.onResult?.(job, result);
      if (result.ok) break;
    }
    return result;
  }

  private async limited<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inFlight >= this.opts.concurrency) await new Promise<void>((r) => this.waiting.push(r));
    this.inFlight++;
    try {
      return await fn();
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }

  private later(fn: () => unknown, ms: number): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      void fn();
    }, ms);
    this.timers.add(t);
  }
}
