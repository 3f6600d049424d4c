// A simulated LAN of VRRP routers on a virtual clock: every advert goes through the real codec and
// receive checks, and the network can lose, delay and partition packets. Deterministic for a seed,
// so tests can assert on exact behaviour and the CLI can show a failover without a network.
import type { IpFamily } from "../base/ip.ts";
import { VrrpInstance, type Effect, type InstanceConfig, type VrrpState } from "./instance.ts";
import { encodeAdvert, VRRP_MULTICAST_V4, VRRP_MULTICAST_V6, type VrrpVersion } from "./packet.ts";
import { checkReceived, type ReceivePolicy } from "./receive.ts";
import { effectivePriority, type TrackedState } from "./tracking.ts";
import { seededRandom } from "../base/seeded-random.ts";

export interface SimRouterSpec {
  name: string;
  address: string;
  priority: number;
  preempt?: boolean;
  preemptDelayMs?: number;
  tracked?: TrackedState[];
}

export interface SimLanOptions {
  version: VrrpVersion;
  family: IpFamily;
  vrid: number;
  advertIntervalMs: number;
  addresses: string[];
  /** One-way delivery delay, milliseconds. */
  delayMs?: number;
  /** Extra random delay, up to this many milliseconds. */
  jitterMs?: number;
  /** Share of packets lost, 0..1. */
  lossRate?: number;
  seed?: number;
}

export interface SimEvent {
  at: number;
  router: string;
  effect: Effect;
}

interface SimRouter {
  spec: SimRouterSpec;
  instance: VrrpInstance | undefined;
  holdsAddresses: boolean;
  tracked: TrackedState[];
  drops: Map<string, number>;
}

interface Delivery {
  at: number;
  seq: number;
  to: string;
  from: string;
  payload: Buffer;
}

export class SimulatedLan {
  now = 0;
  readonly events: SimEvent[] = [];
  private readonly routers = new Map<string, SimRouter>();
  private readonly queue: Delivery[] = [];
  private seq = 0;
  private readonly random: () => number;
  private readonly cut = new Set<string>();
  lossRate: number;
  delayMs: number;
  jitterMs: number;

  readonly options: SimLanOptions;

  constructor(options: SimLanOptions) {
    this.options = options;
    this.random = seededRandom(options.seed ?? 1);
    this.lossRate = options.lossRate ?? 0;
    this.delayMs = options.delayMs ?? 1;
    this.jitterMs = options.jitterMs ?? 0;
  }

  add(spec: SimRouterSpec): void {
    this.routers.set(spec.name, {
      spec,
      instance: undefined,
      holdsAddresses: false,
      tracked: spec.tracked ?? [],
      drops: new Map(),
    });
  }

  /** Starts (or restarts) a router's VRRP instance. */
  start(name: string): void {
    const r = this.router(name);
    const config: InstanceConfig = {
      version: this.options.version,
      vrid: this.options.vrid,
      priority: r.spec.priority,
      advertIntervalMs: this.options.advertIntervalMs,
      preempt: r.spec.preempt ?? true,
      preemptDelayMs: r.spec.preemptDelayMs ?? 0,
      primaryAddress: r.spec.address,
      addresses: this.options.addresses,
      advertOnLowerPriority: true,
    };
    r.instance = new VrrpInstance(config);
    const status = effectivePriority(r.spec.priority, r.tracked);
    this.apply(r, r.instance.updateTracking(status, this.now));
    this.apply(r, r.instance.start(this.now));
  }

  /** Graceful stop: the instance resigns (priority 0) and releases its addresses. */
  shutdown(name: string): void {
    const r = this.router(name);
    if (!r.instance) return;
    this.apply(r, r.instance.stop(this.now));
    r.instance = undefined;
  }

  /** The router dies with no word to anyone (power loss, link cut, kill -9 with the node). */
  crash(name: string): void {
    const r = this.router(name);
    r.instance = undefined;
    r.holdsAddresses = false;
    this.queue.splice(0, this.queue.length, ...this.queue.filter((d) => d.to !== name));
  }

  /** Cuts the path between two routers in both directions. */
  partition(a: string, b: string): void {
    this.cut.add(this.pairKey(a, b));
  }

  heal(): void {
    this.cut.clear();
  }

  /** Changes a tracked object's health and feeds the new effective priority to the instance. */
  setHealth(name: string, tracked: string, healthy: boolean): void {
    const r = this.router(name);
    r.tracked = r.tracked.map((t) => (t.name === tracked ? { ...t, healthy } : t));
    if (r.instance)
      this.apply(r, r.instance.updateTracking(effectivePriority(r.spec.priority, r.tracked), this.now));
  }

  /** Advances the virtual clock, delivering packets and firing timers in time order. */
  runFor(ms: number): void {
    this.runUntil(this.now + ms);
  }

  runUntil(end: number): void {
    for (;;) {
      const next = this.nextEventTime();
      if (next === undefined || next > end) break;
      this.now = Math.max(this.now, next);
      const head = this.queue[0];
      if (head && head.at <= this.now) {
        this.queue.shift();
        this.deliver(head);
        continue;
      }
      for (const r of this.routers.values()) {
        const due = r.instance?.nextDeadline();
        if (r.instance && due !== undefined && due <= this.now) this.apply(r, r.instance.tick(this.now));
      }
    }
    this.now = end;
  }

  /** Runs until `predicate` holds or `limitMs` of virtual time passed; returns the time it held, if it did. */
  runUntilTrue(predicate: () => boolean, limitMs: number, stepMs = 1): number | undefined {
    const end = this.now + limitMs;
    while (this.now < end) {
      if (predicate()) return this.now;
      this.runFor(stepMs);
    }
    return predicate() ? this.now : undefined;
  }

  state(name: string): VrrpState | "down" {
    return this.router(name).instance?.state ?? "down";
  }

  masters(): string[] {
    return [...this.routers.values()].filter((r) => r.instance?.state === "master").map((r) => r.spec.name);
  }

  /** The routers whose addresses are bound now. */
  holders(): string[] {
    return [...this.routers.values()].filter((r) => r.holdsAddresses).map((r) => r.spec.name);
  }

  priority(name: string): number | undefined {
    return this.router(name).instance?.priority;
  }

  drops(name: string): ReadonlyMap<string, number> {
    return this.router(name).drops;
  }

  private router(name: string): SimRouter {
    const r = this.routers.get(name);
    if (!r) throw new Error(`no router ${name}`);
    return r;
  }

  private pairKey(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  private nextEventTime(): number | undefined {
    let next = this.queue[0]?.at;
    for (const r of this.routers.values()) {
      const due = r.instance?.nextDeadline();
      if (due !== undefined && (next === undefined || due < next)) next = due;
    }
    return next;
  }

  private apply(r: SimRouter, effects: Effect[]): void {
    for (const effect of effects) {
      this.events.push({ at: this.now, router: r.spec.name, effect });
      if (effect.type === "bind-addresses") r.holdsAddresses = true;
      else if (effect.type === "release-addresses") r.holdsAddresses = false;
      else if (effect.type === "send-advert") this.broadcast(r, encodeAdvert(effect.advert, this.path(r)));
    }
  }

  private path(r: SimRouter) {
    const destination = this.options.family === 4 ? VRRP_MULTICAST_V4 : VRRP_MULTICAST_V6;
    return { family: this.options.family, source: r.spec.address, destination };
  }

  private broadcast(from: SimRouter, payload: Buffer): void {
    for (const to of this.routers.values()) {
      if (to === from || !to.instance) continue;
      if (this.cut.has(this.pairKey(from.spec.name, to.spec.name))) continue;
      if (this.lossRate > 0 && this.random() < this.lossRate) continue;
      const at = this.now + this.delayMs + (this.jitterMs > 0 ? this.random() * this.jitterMs : 0);
      const d: Delivery = { at, seq: this.seq++, to: to.spec.name, from: from.spec.name, payload };
      // Keep the queue ordered by time, then by send order.
      let i = this.queue.length;
      while (
        i > 0 &&
        (this.queue[i - 1]!.at > at || (this.queue[i - 1]!.at === at && this.queue[i - 1]!.seq > d.seq))
      )
        i--;
      this.queue.splice(i, 0, d);
    }
  }

  private deliver(d: Delivery): void {
    const to = this.router(d.to);
    if (!to.instance) return;
    const from = this.router(d.from);
    const policy: ReceivePolicy = {
      version: this.options.version,
      family: this.options.family,
      vrid: this.options.vrid,
      priority: to.spec.priority,
      intervalCs: Math.round(this.options.advertIntervalMs / 10),
      addresses: this.options.addresses,
      primaryAddress: to.spec.address,
      requireMaxTtl: true,
    };
    const { destination } = this.path(from);
    const result = checkReceived(
      { payload: d.payload, source: from.spec.address, destination, ttl: 255 },
      policy,
    );
    if (!result.ok) {
      to.drops.set(result.reason, (to.drops.get(result.reason) ?? 0) + 1);
      return;
    }
    this.apply(to, to.instance.receive(result.advert, from.spec.address, this.now));
  }
}
