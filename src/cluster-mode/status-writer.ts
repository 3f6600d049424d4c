// Writes this node's entry of each router's status.nodes: the latest entry per router wins, writes
// are coalesced (one per change, never one per advert) and retried with backoff while the API
// server is away. VRRP never waits on it: the engines run in their own processes.
import { API_WRITE_RETRY } from "../base/backoff.ts";
import { CoalescedPasses } from "../base/coalesced-passes.ts";
import type { Logger } from "pino";
import type { NodeEntry } from "../cluster/status.ts";

export type ApplyEntry = (router: string, entry: NodeEntry) => Promise<void>;

/** The router is gone: nothing to write to. */
export class RouterGone extends Error {}

export class StatusWriter {
  private readonly pending = new Map<string, NodeEntry>();
  private readonly written = new Map<string, string>();
  private readonly passes: CoalescedPasses;
  /** Writes done, and failed attempts (for tests and metrics). */
  readonly stats = { writes: 0, failures: 0 };
  private readonly apply: ApplyEntry;
  private readonly log: Logger;

  constructor(apply: ApplyEntry, log: Logger, delayMs = 50) {
    this.apply = apply;
    this.log = log;
    this.passes = new CoalescedPasses(() => this.writeAll(), { delayMs, backoff: API_WRITE_RETRY });
  }

  report(router: string, entry: NodeEntry): void {
    if (this.written.get(router) === JSON.stringify(entry) && !this.pending.has(router)) return;
    this.pending.set(router, entry);
    this.passes.request();
  }

  /** The router was deleted: forget it. */
  forget(router: string): void {
    this.pending.delete(router);
    this.written.delete(router);
  }

  /** Writes what is pending now (used at shutdown), within `timeoutMs`. */
  flush(timeoutMs = 2000): Promise<void> {
    return this.passes.flush(timeoutMs);
  }

  /**
   * The API server answers again (the agent's Lease was renewed after failing): write what is
   * pending now instead of at the end of a backoff that may have grown to 30 s.
   */
  retryNow(): void {
    this.passes.retryNow();
  }

  stop(): void {
    this.passes.stop();
  }

  private async writeAll(): Promise<boolean> {
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
    return !failed;
  }
}
