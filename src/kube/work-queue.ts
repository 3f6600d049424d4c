// A rate-limited work queue with client-go's semantics: a key waiting is queued once; a key being
// processed is never processed twice at once (added meanwhile, it runs again after done); failures
// come back with per-key exponential backoff, successes forget it; shutDown() lets the workers
// finish what is queued and in flight, then run() resolves. Time comes from an injected clock.
import { backoffStep } from "../base/backoff.ts";
import type { Logger } from "pino";

export interface QueueClock {
  now(): number;
  setTimeout(fn: () => void, delayMs: number): { cancel(): void };
}

const realClock: QueueClock = {
  now: () => performance.now(),
  setTimeout(fn, delayMs) {
    const t = setTimeout(fn, delayMs);
    return { cancel: () => clearTimeout(t) };
  },
};

export interface WorkQueueOptions {
  log?: Logger;
  /** First retry delay; doubles per consecutive failure (client-go's default: 5 ms). */
  baseDelayMs?: number;
  /** Cap of the retry delay (client-go's default: 1000 s). */
  maxDelayMs?: number;
  clock?: QueueClock;
}

export class WorkQueue<K = string> {
  private readonly queue: K[] = [];
  private readonly waiting = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly dirtyWhileProcessing = new Set<K>();
  private readonly failures = new Map<K, number>();
  /** Keys due later; one timer per key, the earliest due time wins (client-go's delaying queue). */
  private readonly later = new Map<K, { at: number; cancel(): void }>();
  private readonly sleepers: (() => void)[] = [];
  private down = false;
  private readonly clock: QueueClock;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly log: Logger | undefined;
  /** Handler failures so far (for metrics). */
  failed = 0;

  constructor(opts: WorkQueueOptions = {}) {
    this.clock = opts.clock ?? realClock;
    this.baseDelayMs = opts.baseDelayMs ?? 5;
    this.maxDelayMs = opts.maxDelayMs ?? 1_000_000;
    this.log = opts.log;
    if (!(this.baseDelayMs > 0)) throw new Error("work queue: baseDelayMs must be > 0");
    if (!(this.maxDelayMs >= this.baseDelayMs))
      throw new Error("work queue: maxDelayMs must be >= baseDelayMs");
  }

  /** Keys waiting to be taken (not counting those in flight or due later). */
  get length(): number {
    return this.queue.length;
  }

  get shuttingDown(): boolean {
    return this.down;
  }

  add(key: K): void {
    if (this.down) return;
    if (this.processing.has(key)) {
      this.dirtyWhileProcessing.add(key);
      return;
    }
    if (this.waiting.has(key)) return;
    this.waiting.add(key);
    this.queue.push(key);
    this.sleepers.shift()?.();
  }

  addAfter(key: K, ms: number): void {
    if (this.down) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const prior = this.later.get(key);
    if (prior && prior.at <= at) return;
    prior?.cancel();
    const timer = this.clock.setTimeout(() => {
      this.later.delete(key);
      this.add(key);
    }, ms);
    this.later.set(key, { at, cancel: () => timer.cancel() });
  }

  /** The delay addRateLimited would use next for this key. */
  backoffOf(key: K): number {
    const n = this.failures.get(key) ?? 0;
    return backoffStep(n + 1, this.baseDelayMs, this.maxDelayMs);
  }

  /** Again after this key's backoff: base × 2^failures, capped. */
  addRateLimited(key: K): void {
    if (this.down) return;
    const delay = this.backoffOf(key);
    this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
    this.addAfter(key, delay);
  }

  /** How many times this key has been rate-limited since it was last forgotten. */
  numRequeues(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  forget(key: K): void {
    this.failures.delete(key);
  }

  /** The next key, or undefined once shut down and empty. Call done(key) after processing it. */
  async get(): Promise<K | undefined> {
    while (this.queue.length === 0) {
      if (this.down) return undefined;
      await new Promise<void>((resolve) => this.sleepers.push(resolve));
    }
    const key = this.queue.shift()!;
    this.waiting.delete(key);
    this.processing.add(key);
    return key;
  }

  done(key: K): void {
    this.processing.delete(key);
    if (this.dirtyWhileProcessing.delete(key)) {
      if (this.down) return;
      this.add(key);
    }
  }

  /** Runs `workers` loops handing keys to `handler`; resolves once shut down and drained. */
  run(workers: number, handler: (key: K) => Promise<void>): Promise<void> {
    const loop = async () => {
      for (;;) {
        const key = await this.get();
        if (key === undefined) return;
        try {
          await handler(key);
          this.forget(key);
        } catch (err) {
          this.failed++;
          this.log?.warn(
            {
              key: String(key),
              err: (err as Error)?.message ?? String(err),
              retry: this.numRequeues(key) + 1,
            },
            "work item failed; will retry",
          );
          this.addRateLimited(key);
        } finally {
          this.done(key);
        }
      }
    };
    return Promise.all(Array.from({ length: workers }, loop)).then(() => undefined);
  }

  /** Takes no more keys; delayed ones are dropped, queued and in-flight ones finish. */
  shutDown(): void {
    this.down = true;
    for (const l of this.later.values()) l.cancel();
    this.later.clear();
    for (const wake of this.sleepers.splice(0)) wake();
  }
}
