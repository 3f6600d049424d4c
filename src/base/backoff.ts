// Retry delays, one rule for every place that retries (informers, status writers, the work queue,
// webhooks, the engine supervisor): doubling from `firstMs` up to `maxMs`, each delay jittered to
// 50-100 % of its step so that many agents retrying after one outage do not retry together.

export interface BackoffOptions {
  firstMs: number;
  maxMs: number;
  /** Share of the step that is random (0: none, 0.5: the delay is 50-100 % of the step). */
  jitter?: number;
  random?: () => number;
}

/** The step of the `n`th consecutive failure (n >= 1), before jitter: firstMs * 2^(n-1), capped. */
export function backoffStep(n: number, firstMs: number, maxMs: number): number {
  return Math.min(maxMs, firstMs * 2 ** Math.min(Math.max(0, n - 1), 52));
}

export class Backoff {
  private failures = 0;
  private readonly o: Required<BackoffOptions>;

  constructor(opts: BackoffOptions) {
    this.o = { jitter: 0.5, random: Math.random, ...opts };
  }

  /** A failure: the delay before the next attempt. */
  next(): number {
    this.failures++;
    const step = backoffStep(this.failures, this.o.firstMs, this.o.maxMs);
    return Math.round(step * (1 - this.o.jitter) + this.o.random() * step * this.o.jitter);
  }

  /** A success: the next failure starts from firstMs again. */
  reset(): void {
    this.failures = 0;
  }

  /** Consecutive failures since the last success. */
  get count(): number {
    return this.failures;
  }
}

/**
 * Writes to the API server (status, Events) while it is away: retried soon enough that status is
 * right within seconds of its return (at most 5 s apart), jittered so agents do not retry together.
 */
export const API_WRITE_RETRY: BackoffOptions = { firstMs: 500, maxMs: 5000 };

/**
 * Informers' list/watch restarts: at most 5 s apart (2.5-5 s with jitter), so caches catch up
 * within seconds of a return and status is right within 10 s (test/e2e measures it).
 */
export const WATCH_RETRY: BackoffOptions = { firstMs: 500, maxMs: 5000 };
