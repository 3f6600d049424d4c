// Writes to the API server as both status writers make them: a pass writes what is due, one pass
// at a time; asking during a pass runs one more after it (asks coalesce, never one write per
// change); a pass that failed runs again after a backoff; retryNow() cuts a backoff short when the
// server is known to be back.
import { Backoff, type BackoffOptions } from "./backoff.ts";

export class CoalescedPasses {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private backoffMs = 0;
  private stopped = false;
  private readonly retry: Backoff;
  private readonly pass: () => Promise<boolean>;
  private readonly delayMs: number;

  /** `pass` resolves true when it wrote all it had to, false to be run again after a backoff. */
  constructor(pass: () => Promise<boolean>, opts: { delayMs: number; backoff: BackoffOptions }) {
    this.pass = pass;
    this.delayMs = opts.delayMs;
    this.retry = new Backoff(opts.backoff);
  }

  /** Something is due: a pass shortly, or after the current one, or at the end of the backoff. */
  request(): void {
    if (this.running) this.again = true;
    else this.schedule(this.backoffMs || this.delayMs);
  }

  /** The API server answers again: a pass now rather than at the end of the backoff. */
  retryNow(): void {
    if (this.backoffMs === 0 || this.stopped || this.running) return;
    this.backoffMs = 0;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.schedule(this.delayMs);
  }

  /** A pass now (at shutdown), within `timeoutMs`. */
  async flush(timeoutMs: number): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.race([this.run(), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** Resolves when no pass is due or running (for tests). */
  async idle(): Promise<void> {
    while (this.timer || this.running) await (this.running ?? new Promise((r) => setTimeout(r, 10)));
  }

  /** In a backoff after a failed pass. */
  get backingOff(): boolean {
    return this.backoffMs > 0;
  }

  private schedule(ms: number): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, ms);
  }

  private run(): Promise<void> {
    this.running ??= this.pass()
      .catch(() => false)
      .then((ok) => {
        if (ok) this.retry.reset();
        this.backoffMs = ok ? 0 : this.retry.next();
        if (!ok) this.again = true;
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          this.schedule(this.backoffMs || this.delayMs);
        }
      });
    return this.running;
  }
}
