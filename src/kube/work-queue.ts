// A rate-limited work queue with client-go's semantics: a key waiting is queued once; a key being
// processed is never processed twice at once (added meanwhile, it runs again after); failures come
// back with per-key exponential backoff, successes forget it.
import type { Logger } from "pino";

export interface WorkQueueOptions {
  log?: Logger;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export class WorkQueue<K = string> {
  private readonly queue: K[] = [];
  private readonly waiting = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly dirtyWhileProcessing = new Set<K>();
  private readonly failures = new Map<K, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private wake: (() => void) | undefined;
  private down = false;
  private readonly opts: WorkQueueOptions;

  constructor(opts: WorkQueueOptions = {}) {
    this.opts = opts;
  }

  get length(): number {
    return this.queue.length;
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
    this.wake?.();
  }

  addAfter(key: K, ms: number): void {
    if (this.down) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.add(key);
    }, ms);
    this.timers.add(t);
  }

  /** Again after this key's backoff: base × 2^failures, capped. */
  addRateLimited(key: K): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.min(this.opts.maxDelayMs ?? 1_000_000, (this.opts.baseDelayMs ?? 5) * 2 ** n);
    this.addAfter(key, delay);
  }

  forget(key: K): void {
    this.failures.delete(key);
  }

  /** Runs `workers` loops that take keys and hand them to `handler` until shutDown(). */
  run(workers: number, handler: (key: K) => Promise<void>): Promise<void> {
    const loop = async () => {
      for (;;) {
        const key = await this.next();
        if (key === undefined) return;
        try {
          await handler(key);
          this.forget(key);
        } catch (err) {
          this.opts.log?.warn(
            { key: String(key), err: (err as Error).message },
            "reconcile failed; will retry",
          );
          this.addRateLimited(key);
        } finally {
          this.done(key);
        }
      }
    };
    return Promise.all(Array.from({ length: workers }, loop)).then(() => undefined);
  }

  shutDown(): void {
    this.down = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.wake?.();
  }

  private done(key: K): void {
    this.processing.delete(key);
    if (this.dirtyWhileProcessing.delete(key)) this.add(key);
  }

  private async next(): Promise<K | undefined> {
    while (this.queue.length === 0) {
      if (this.down) return undefined;
      await new Promise<void>((resolve) => {
        const prev = this.wake;
        this.wake = () => {
          this.wake = undefined;
          prev?.();
          resolve();
        };
      });
    }
    if (this.down) return undefined;
    const key = this.queue.shift()!;
    this.waiting.delete(key);
    this.processing.add(key);
    return key;
  }
}
