// The agent's parent process. It runs the VRRP engine as a child and outlives it: when the engine
// dies while the node lives (a bug, an out-of-memory kill, SIGKILL), keepalived's peers would wait a
// full Master_Down_Interval while the dead master's kernel still holds the addresses. The supervisor
// instead resigns (priority 0) for every instance the engine held as master and releases their
// addresses at once, so a crash hands over as fast as a graceful stop; then it restarts the engine.
import { Backoff } from "../base/backoff.ts";
import type { ChildProcess } from "node:child_process";
import type { Logger } from "pino";
import type { InstanceStatus } from "../engine/engine.ts";
import type { EngineCommand, EngineMessage } from "../engine/ipc.ts";

export interface SupervisorOptions {
  spawn(): ChildProcess;
  /** Sends priority 0 for these instances and releases their addresses. */
  resign(instanceKeys: string[]): Promise<void>;
  /**
   * After the engine died (whether or not it held masters): removes what it made on the host
   * besides addresses (its virtual MACs' interfaces).
   */
  cleanup?(enginePid: number): Promise<unknown>;
  log: Logger;
  /** First restart delay; doubles on each crash within a minute of the last, up to 30 s. */
  restartDelayMs?: number;
  /** How long a graceful stop may take before the engine is killed and resigned for. */
  stopGraceMs?: number;
  /** The engine's status reports (cluster mode asks the engine for them). */
  onStatus?(instances: InstanceStatus[]): void;
  /** Every other message of the engine (metrics snapshots, observed failovers). */
  onMessage?(msg: EngineMessage): void;
}

export class Supervisor {
  private child: ChildProcess | undefined;
  private masters: string[] = [];
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private readonly restarts: Backoff;
  private lastCrashAt = 0;
  private readonly opts: SupervisorOptions;
  private exited: Promise<void> = Promise.resolve();
  /** Crashes handled so far (for tests and status). */
  crashes = 0;

  constructor(opts: SupervisorOptions) {
    this.opts = opts;
    this.restarts = new Backoff({ firstMs: opts.restartDelayMs ?? 500, maxMs: 30_000 });
  }

  /** The instances the engine last reported as master. */
  heldMasters(): readonly string[] {
    return this.masters;
  }

  /** A message to the running engine (dropped when there is none). */
  send(msg: EngineCommand): void {
    if (this.child?.connected) this.child.send(msg);
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    const child = this.opts.spawn();
    this.child = child;
    this.masters = [];
    child.on("message", (msg: EngineMessage) => {
      if (msg.type === "state") this.masters = msg.masters;
      else if (msg.type === "status") this.opts.onStatus?.(msg.instances);
      else this.opts.onMessage?.(msg);
    });
    // The IPC channel closes as the dying engine's files are released, which is before the kernel
    // has finished tearing the process down (closing a packet socket waits for an RCU grace
    // period) and reports its exit: resign on the first sign. A clean engine reports no masters
    // before it disconnects; one that disconnects while holding masters cannot be watched any
    // more, so it is killed before it is resigned for.
    child.once("disconnect", () => {
      // Only for the engine that runs now, and only while it has not been reported dead.
      if (this.child !== child || child.exitCode !== null || child.signalCode !== null) return;
      // In a graceful stop the engine resigns by itself (and stop() covers one that hangs).
      if (this.stopping || this.masters.length === 0) return;
      child.kill("SIGKILL");
      void this.resignHeld("engine's channel closed");
    });
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        void this.onExit(code, signal).finally(resolve);
      });
    });
  }

  /** Graceful stop: the engine resigns by itself on SIGTERM; if it does not exit in time, it is killed and resigned for. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const grace = this.opts.stopGraceMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), grace))),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.opts.log.error({ graceMs: grace }, "engine did not stop in time; killing it");
      child.kill("SIGKILL");
      await this.exited;
      await this.resignHeld("engine killed after the stop grace period");
    }
  }

  private async onExit(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.stopping && code === 0) return;
    this.crashes++;
    await this.resignHeld(`engine exited (${signal ? `signal ${signal}` : `code ${code}`})`);
    if (this.stopping) return;
    const now = Date.now();
    // Crashes within a minute of each other back off; a crash after a quiet minute starts over.
    if (now - this.lastCrashAt >= 60_000) this.restarts.reset();
    const delayMs = this.restarts.next();
    this.lastCrashAt = now;
    this.opts.log.warn({ delayMs }, "restarting the engine");
    this.restartTimer = setTimeout(() => this.start(), delayMs);
  }

  private async resignHeld(why: string): Promise<void> {
    const held = this.masters;
    this.masters = [];
    this.opts.log.error({ instances: held }, `${why}; resigning for the instances it held as master`);
    try {
      if (held.length > 0) await this.opts.resign(held);
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message }, "resigning failed");
    }
    try {
      const pid = this.child?.pid;
      if (pid !== undefined) await this.opts.cleanup?.(pid);
    } catch (err) {
      this.opts.log.error({ err: (err as Error).message }, "cleaning up after the engine failed");
    }
  }
}
