// Leader election on a coordination.k8s.io Lease, by client-go's rules: another holder's lease is
// judged expired by the time *we* last saw its record change (never by comparing its renewTime
// with our clock); every write carries the resourceVersion read, so a 409 Conflict means someone
// else won the round; a leader that cannot renew within renewDeadline stops leading; on stop it
// releases the lease (empty holder, 1 s duration) so a successor takes over at once.
import type { CoordinationV1Api, V1Lease } from "@kubernetes/client-node";
import type { Logger } from "pino";

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  log: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading(): void;
  onStoppedLeading(): void;
  onNewLeader?(identity: string): void;
  now?: () => number;
}

/** What to do with the lease as read, by the rules above (pure). */
export function decide(
  lease: V1Lease | undefined,
  identity: string,
  observedAt: number | undefined,
  now: number,
  leaseDurationMs: number,
): "create" | "take" | "renew" | "wait" {
  if (!lease) return "create";
  const holder = lease.spec?.holderIdentity ?? "";
  if (holder === identity) return "renew";
  if (holder === "") return "take";
  const duration = (lease.spec?.leaseDurationSeconds ?? 0) * 1000 || leaseDurationMs;
  if (observedAt !== undefined && now - observedAt >= duration) return "take";
  return "wait";
}

export class LeaderElector {
  private leading = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private observed: { key: string; at: number } | undefined;
  private lastRenew = 0;
  private lastLeader = "";
  private readonly api: CoordinationV1Api;
  private readonly o: Required<Omit<LeaderElectionOptions, "onNewLeader">> &
    Pick<LeaderElectionOptions, "onNewLeader">;

  constructor(api: CoordinationV1Api, opts: LeaderElectionOptions) {
    this.api = api;
    this.o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      now: () => Date.now(),
      ...opts,
    };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Tries every retry period until stopped; leads while it holds the lease. */
  async run(): Promise<void> {
    await this.round();
  }

  /** Stops trying; a leader releases the lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.read();
      if (lease?.spec?.holderIdentity === this.o.identity) {
        lease.spec.holderIdentity = "";
        lease.spec.leaseDurationSeconds = 1;
        lease.spec.renewTime = new Date(this.o.now());
        await this.api.replaceNamespacedLease({
          name: this.o.name,
          namespace: this.o.namespace,
          body: lease,
        });
        this.o.log.info({ lease: this.o.name }, "leader lease released");
      }
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, "leader lease not released");
    }
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    const ok = await this.tryAcquireOrRenew().catch((err: unknown) => {
      this.o.log.warn({ err: (err as Error).message }, "leader election round failed");
      return false;
    });
    const now = this.o.now();
    if (ok) {
      this.lastRenew = now;
      if (!this.leading && !this.stopped) {
        this.leading = true;
        this.o.log.info({ identity: this.o.identity }, "became leader");
        this.o.onStartedLeading();
      }
    } else if (this.leading && now - this.lastRenew >= this.o.renewDeadlineMs) {
      this.leading = false;
      this.o.log.error(
        { renewDeadlineMs: this.o.renewDeadlineMs },
        "could not renew the leader lease in time",
      );
      this.o.onStoppedLeading();
      return;
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.round(), this.o.retryPeriodMs);
  }

  private async read(): Promise<V1Lease | undefined> {
    try {
      return await this.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace });
    } catch (err) {
      if ((err as { code?: number }).code === 404) return undefined;
      throw err;
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { name, namespace, identity } = this.o;
    const now = this.o.now();
    const lease = await this.read();
    if (lease) {
      const key = `${lease.spec?.holderIdentity ?? ""}/${String(lease.spec?.renewTime ?? "")}/${lease.metadata?.resourceVersion}`;
      if (this.observed?.key !== key) this.observed = { key, at: now };
      const holder = lease.spec?.holderIdentity ?? "";
      if (holder && holder !== this.lastLeader) {
        this.lastLeader = holder;
        this.o.onNewLeader?.(holder);
      }
    }
    const action = decide(lease, identity, this.observed?.at, now, this.o.leaseDurationMs);
    if (action === "wait") return false;
    const spec = {
      holderIdentity: identity,
      leaseDurationSeconds: Math.round(this.o.leaseDurationMs / 1000),
      renewTime: new Date(now),
      acquireTime: action === "renew" ? (lease?.spec?.acquireTime ?? new Date(now)) : new Date(now),
      leaseTransitions: (lease?.spec?.leaseTransitions ?? 0) + (action === "take" ? 1 : 0),
    };
    try {
      if (action === "create")
        await this.api.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec } });
      else
        await this.api.replaceNamespacedLease({
          name,
          namespace,
          body: { metadata: { ...lease!.metadata, name, namespace }, spec },
        });
      return true;
    } catch (err) {
      // 409: the lease changed under us (someone else renewed or took it); this round is lost.
      if ((err as { code?: number }).code === 409) return false;
      throw err;
    }
  }
}
