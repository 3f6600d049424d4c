// Writes this node's entry of each router's status.nodes: the latest entry per router wins, writes
// are coalesced (one per change, never one per advert) and retried with backoff while the API
// server is away. VRRP never waits on it: the engines run in their own processes.
import { API_WRITE_RETRY, Backoff } from "../base/backoff.ts";
import type { Logger } from "pino";
import type { NodeEntry } from "../cluster/status.ts";

export type ApplyEntry = (router: string, entry: NodeEntry) => Promise<void>;

/** The router is gone: nothing to write to. */
export class RouterGone extends Error {}

export class StatusWriter {
  private readonly pending = new Map<string, NodeEntry>();
  private readonly written = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private backoffMs = 0;
  private readonly retry = new Backoff(API_WRITE_RETRY);
  private flushing: Promise<void> | undefined;
  private stopped = false;
  /** Writes done, and failed attempts (for tests and metrics). */
  readonly stats = { writes: 0, failures: 0 };
  private readonly apply: ApplyEntry;
  private readonly log: Logger;
  private readonly delayMs: number;

  constructor(apply: ApplyEntry, log: Logger, delayMs = 50) {
    this.apply = apply;
    this.log = log;
    this.delayMs = delayMs;
  }

  report(router: string, entry: NodeEntry): void {
    if (this.written.get(router) === JSON.stringify(entry) && !this.pending.has(router)) return;
    this.pending.set(router, entry);
    this.schedule(this.backoffMs || this.delayMs);
  }

  /** The router was deleted: forget it. */
  forget(router: string): void {
    this.pending.delete(router);
    this.written.delete(router);
  }

  /** Writes what is pending now (used at shutdown), within `timeoutMs`. */
  async flush(timeoutMs = 2000): Promise<void> {
    clearTimeout(this.timer);
    await Promise.race([this.run(), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  /**
   * The API server answers again (the agent's Lease was renewed after failing): write what is
   * pending now instead of at the end of a backoff that may have grown to 30 s.
   */
  retryNow(): void {
    if (this.backoffMs === 0 || this.pending.size === 0 || this.stopped) return;
    this.backoffMs = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.schedule(this.delayMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(ms: number): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, ms);
  }

  private run(): Promise<void> {
    this.flushing ??= this.writeAll().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async writeAll(): Promise<void> {
    let failed = false;
    for (const [router, entry] of [...this.pending]) {
      if (this.pending.get(router) !== entry) continue;
      try {
        await this.apply(router, entry);
        this.stats.writes++;
        this.written.set(router, JSON.stringify(entry));
        if (this.pending.get(router) === entry) this.pending.delete(router);
      } catch (err) {
        if (err instanceof RouterGone) {
          this.forget(router);
          continue;
        }
        this.stats.failures++;
        failed = true;
        this.log.warn({ router, err: (err as Error).message }, "status not written; will retry");
      }
    }
    if (!failed) this.retry.reset();
    this.backoffMs = failed ? this.retry.next() : 0;
    if (this.pending.size > 0) this.schedule(this.backoffMs || this.delayMs);
  }
}
