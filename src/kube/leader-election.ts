// Leader election on a coordination.k8s.io/v1 Lease, by client-go's rules: another holder's lease
// is judged expired by the time *we* last saw its record change (never by comparing its renewTime
// with our clock, as clocks differ between nodes); every write carries the resourceVersion read, so
// a 409 Conflict means someone else won the round; a leader that cannot renew within renewDeadline
// stops leading (and the process should exit); on stop it releases the lease (empty holder, 1 s
// duration) so a successor takes over at its next try.
import type { V1Lease } from "@kubernetes/client-node";
import { microTime, type Leases } from "./leases.ts";
import type { Logger } from "pino";

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  log: Logger;
  /** How long followers wait, from when they saw the lease last change, before taking it (15 s). */
  leaseDurationMs?: number;
  /** How long a leader keeps leading without a successful renewal (10 s). */
  renewDeadlineMs?: number;
  /** Time between a leader's renewals (2 s); followers wait 1 to 2.2 times it, jittered as in client-go. */
  retryPeriodMs?: number;
  onStartedLeading(): void;
  /** Called once when leadership ends: "lost" (no renewal in time) or "stopped" (by stop()). */
  onStoppedLeading(reason: "lost" | "stopped"): void;
  /** Called whenever the observed holder changes (our own identity included). */
  onNewLeader?(identity: string): void;
  /** A monotonic clock in milliseconds. */
  now?: () => number;
}

/** client-go's JitterFactor for followers' tries. */
const JITTER = 1.2;

export type Action = "create" | "take" | "renew" | "wait";

/** What to do with the lease as read (pure): `observedAt` is when we saw its record last change. */
export function decide(
  lease: V1Lease | undefined,
  identity: string,
  observedAt: number | undefined,
  now: number,
  leaseDurationMs: number,
): Action {
  if (!lease) return "create";
  const holder = lease.spec?.holderIdentity ?? "";
  if (holder === identity) return "renew";
  if (holder === "") return "take";
  const duration = (lease.spec?.leaseDurationSeconds ?? 0) * 1000 || leaseDurationMs;
  if (observedAt !== undefined && now - observedAt >= duration) return "take";
  return "wait";
}

/** The lease's spec after `action` (pure): transitions count changes of holder, as client-go does. */
export function nextSpec(
  lease: V1Lease | undefined,
  action: Exclude<Action, "wait">,
  identity: string,
  now: Date,
  leaseDurationMs: number,
): NonNullable<V1Lease["spec"]> {
  const prior = lease?.spec;
  return {
    holderIdentity: identity,
    leaseDurationSeconds: Math.max(1, Math.round(leaseDurationMs / 1000)),
    renewTime: microTime(now),
    acquireTime: microTime(action === "renew" ? (prior?.acquireTime ?? now) : now),
    leaseTransitions: (prior?.leaseTransitions ?? 0) + (action === "take" ? 1 : 0),
  };
}

/** The fingerprint of a lease record: any change of it restarts the follower's expiry count. */
function recordKey(lease: V1Lease): string {
  const s = lease.spec ?? {};
  return JSON.stringify([
    s.holderIdentity ?? "",
    s.leaseDurationSeconds,
    s.renewTime ? new Date(s.renewTime).toISOString() : "",
    s.leaseTransitions,
    lease.metadata?.resourceVersion,
  ]);
}

/** Waits for `p`, or `ms` at most. */
async function within(p: Promise<void> | undefined, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private observed: { key: string; at: number } | undefined;
  /** The lease as this elector last wrote it (the leader's renewals update it directly). */
  private written: V1Lease | undefined;
  private lastLeader = "";
  private inflight: Promise<void> | undefined;
  private started = false;
  private finished!: () => void;
  private readonly ended: Promise<void>;
  private readonly api: Leases;
  private readonly o: Required<Omit<LeaderElectionOptions, "onNewLeader">> &
    Pick<LeaderElectionOptions, "onNewLeader">;
  /** Tries so far (each reads the lease once), and failed requests among them. */
  readonly stats = { rounds: 0, errors: 0, conflicts: 0 };

  constructor(api: Leases, opts: LeaderElectionOptions) {
    this.api = api;
    this.o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      now: () => performance.now(),
      ...opts,
    };
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = this.o;
    // client-go's constraints: a leader must give up before followers may take over.
    if (!(leaseDurationMs > renewDeadlineMs))
      throw new Error("leader election: leaseDurationMs must be greater than renewDeadlineMs");
    if (!(renewDeadlineMs > JITTER * retryPeriodMs))
      throw new Error(`leader election: renewDeadlineMs must be greater than ${JITTER} × retryPeriodMs`);
    if (!(retryPeriodMs > 0)) throw new Error("leader election: retryPeriodMs must be > 0");
    this.ended = new Promise((resolve) => (this.finished = resolve));
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** The holder last seen on the lease ("" when none). */
  get leader(): string {
    return this.lastLeader;
  }

  /** Tries every retry period; resolves when stopped or when leadership was lost. */
  run(): Promise<void> {
    if (!this.started && !this.stopped) {
      this.started = true;
      this.tick();
    }
    return this.ended;
  }

  /** Stops trying; a leader releases the lease (client-go's ReleaseOnCancel). */
  async stop(): Promise<void> {
    if (this.stopped) return this.ended;
    this.stopped = true;
    clearTimeout(this.timer);
    // A round in flight could still renew: let it end, but never wait on a hung request forever.
    await within(this.inflight, this.o.renewDeadlineMs);
    clearTimeout(this.deadline);
    if (this.leading) {
      await within(this.release(), this.o.renewDeadlineMs);
      this.leading = false;
      this.o.onStoppedLeading("stopped");
    }
    this.finished();
  }

  private tick(): void {
    this.inflight = this.round().finally(() => (this.inflight = undefined));
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    this.stats.rounds++;
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (err) {
      this.stats.errors++;
      this.o.log.warn({ lease: this.o.name, err: (err as Error).message }, "leader election round failed");
    }
    if (this.stopped) return;
    if (ok) {
      // Each success moves the deadline by which the next one must come.
      clearTimeout(this.deadline);
      this.deadline = setTimeout(() => this.lose(), this.o.renewDeadlineMs);
      if (!this.leading) {
        this.leading = true;
        this.o.log.info({ identity: this.o.identity, lease: this.o.name }, "became leader");
        this.o.onStartedLeading();
      }
    }
    // Followers spread their tries so that they do not all come at once after a release.
    const wait = this.leading ? this.o.retryPeriodMs : this.o.retryPeriodMs * (1 + Math.random() * JITTER);
    if (!this.stopped) this.timer = setTimeout(() => this.tick(), wait);
  }

  /** No renewal within renewDeadline (a hung request counts too), or another holder: for good. */
  private lose(why = "could not renew the leader lease in time"): void {
    if (!this.leading || this.stopped) return;
    this.stopped = true;
    this.leading = false;
    clearTimeout(this.timer);
    clearTimeout(this.deadline);
    this.o.log.error(
      { lease: this.o.name, renewDeadlineMs: this.o.renewDeadlineMs },
      `${why}; stopped leading`,
    );
    this.o.onStoppedLeading("lost");
    this.finished();
  }

  private async read(): Promise<V1Lease | undefined> {
    try {
      return await this.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  private observe(holder: string): void {
    if (holder === this.lastLeader) return;
    this.lastLeader = holder;
    if (holder) this.o.onNewLeader?.(holder);
  }

  /**
   * A leader's renewal in one request, as client-go's fast path: an update conditional on the
   * lease as this elector last wrote it. Anything else (a 409 because someone wrote in between,
   * an error) falls back to the read-then-decide round.
   */
  private async renewOptimistically(): Promise<boolean> {
    const { name, namespace, identity } = this.o;
    const last = this.written;
    if (!this.leading || !last) return false;
    try {
      const spec = nextSpec(last, "renew", identity, new Date(), this.o.leaseDurationMs);
      const written = await this.api.replaceNamespacedLease({
        name,
        namespace,
        body: { metadata: { ...last.metadata, name, namespace }, spec },
      });
      this.written = written;
      this.observed = { key: recordKey(written), at: this.o.now() };
      return true;
    } catch {
      this.written = undefined;
      return false;
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    if (await this.renewOptimistically()) return true;
    if (this.stopped) return false;
    const { name, namespace, identity } = this.o;
    const lease = await this.read();
    const now = this.o.now();
    if (lease) {
      const key = recordKey(lease);
      if (this.observed?.key !== key) this.observed = { key, at: now };
      this.observe(lease.spec?.holderIdentity ?? "");
      // Someone else holds the lease we think we lead by (a takeover while our renewals failed):
      // leading ends now rather than at renewDeadline, shortening the time two leaders act.
      const holder = lease.spec?.holderIdentity ?? "";
      if (this.leading && holder !== "" && holder !== identity) {
        this.lose(`the lease is held by ${holder}`);
        return false;
      }
    }
    const action = decide(lease, identity, this.observed?.at, now, this.o.leaseDurationMs);
    if (action === "wait") return false;
    // A stop() during the read must not take the lease afterwards.
    if (this.stopped) return false;
    const spec = nextSpec(lease, action, identity, new Date(), this.o.leaseDurationMs);
    try {
      const written =
        action === "create"
          ? await this.api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec } })
          : await this.api.replaceNamespacedLease({
              name,
              namespace,
              // The resourceVersion read makes this conditional: a 409 if anyone wrote in between.
              body: { metadata: { ...lease!.metadata, name, namespace }, spec },
            });
      this.observed = { key: recordKey(written), at: this.o.now() };
      this.written = written;
      this.observe(identity);
      return true;
    } catch (err) {
      // 409 (a stale update) or, on create, 409 AlreadyExists: someone else won this round.
      if ((err as { code?: number }).code === 409) {
        this.stats.conflicts++;
        return false;
      }
      throw err;
    }
  }

  private async release(): Promise<void> {
    try {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity !== this.o.identity) return;
      const spec = {
        ...lease.spec,
        holderIdentity: "",
        leaseDurationSeconds: 1,
        renewTime: microTime(),
        acquireTime: microTime(),
      };
      await this.api.replaceNamespacedLease({
        name: this.o.name,
        namespace: this.o.namespace,
        body: { ...lease, spec },
      });
      this.o.log.info({ lease: this.o.name }, "leader lease released");
    } catch (err) {
      this.o.log.warn({ lease: this.o.name, err: (err as Error).message }, "leader lease not released");
    }
  }
}
