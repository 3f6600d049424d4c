// The VRRP engine of one node: runs an instance per plan on real timers, routes received packets
// to their instance through the receive checks, and carries out the instances' effects through
// ports (raw socket, addresses, announcements) so that it is tested with fakes as well as for real.
import type { Logger } from "pino";
import { VrrpInstance, type Effect } from "../vrrp/instance.ts";
import { ReceiveCheck, type ReceivedPacket, type ReceivePolicy } from "../vrrp/receive.ts";
import { SplitBrainWatch } from "../vrrp/split-brain.ts";
import { effectivePriority, type TrackedState } from "../vrrp/tracking.ts";
import type { IpFamily } from "../base/ip.ts";
import { sendAdvert, type EncodedAdverts } from "./adverts.ts";
import { Deadlines } from "./deadlines.ts";
import { Counters } from "../base/counters.ts";
import {
  vrrpDevice,
  type InstancePlan,
  type PlannedAddress,
  type PlannedRoute,
  type PlannedRule,
  type SourceFilter,
} from "../plan/plan.ts";
import { clusterTracked, fileKey, interfaceKey, scriptKey } from "../plan/tracked-names.ts";
import type { GroupTransitionEvent, InstanceStatus, TransitionEvent } from "../observe/events.ts";
export type { GroupTransitionEvent, InstanceStatus, TransitionEvent } from "../observe/events.ts";

export interface Clock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  setTimeout(fn: () => void, delayMs: number): { cancel(): void };
}

/** Sends VRRP messages on one interface for one family. */
export interface VrrpPort {
  /** The source of our adverts: the interface's primary IPv4 address, or its IPv6 link-local address. */
  readonly sourceAddress: string;
  send(payload: Buffer, destination: string): void;
}

export interface AddressPort {
  /** Binds the addresses; an address already there is fine. */
  bind(addresses: readonly PlannedAddress[]): Promise<void>;
  /** Removes the addresses; an address already gone is fine. */
  release(addresses: readonly PlannedAddress[]): Promise<void>;
}

/** Routes and policy rules a master adds (VirtualRouter spec.routes / spec.rules). */
export interface RoutePort {
  /** Adds them; one already there is fine (a foreign one is left as it is). */
  add(routes: readonly PlannedRoute[], rules: readonly PlannedRule[]): Promise<void>;
  /** Removes vipkeeper's; one already gone is fine. */
  remove(routes: readonly PlannedRoute[], rules: readonly PlannedRule[]): Promise<void>;
}

export interface AnnouncePort {
  /** One gratuitous ARP (IPv4) or unsolicited neighbour advertisement (IPv6) for the address. */
  announce(address: PlannedAddress): void;
}

export interface EngineOptions {
  plans: readonly InstancePlan[];
  port(plan: InstancePlan): VrrpPort;
  addresses: AddressPort;
  announcer: AnnouncePort;
  /** Where plans have routes or rules. */
  routes?: RoutePort;
  clock: Clock;
  log: Logger;
  onTransition?(event: TransitionEvent): void;
  onGroupTransition?(event: GroupTransitionEvent): void;
  /** Require TTL / hop limit 255 on received adverts (see the agent for keepalived's IPv6 unicast). */
  requireMaxTtl?(plan: InstancePlan): boolean;
  /**
   * Reads the sockets' waiting input (receive() runs for each packet) before any deadline is
   * acted on: sockets read at intervals (host.ts, readPauseMs) may hold adverts that came in time.
   */
  readInput?(): void;
}

interface Running {
  plan: InstancePlan;
  instance: VrrpInstance;
  port: VrrpPort;
  policy: ReceivePolicy;
  /** The receive checks, with the last accepted advert remembered. */
  check: ReceiveCheck;
  tracked: TrackedState[];
  /** The adverts last encoded, sent again while priority and addresses stay (adverts.ts). */
  encoded?: EncodedAdverts;
  /** The counters every advert moves, their keys worked out once. */
  advertsSent: (by?: number) => void;
  advertsReceived: (by?: number) => void;
  announceTimers: { cancel(): void }[];
  /** Address changes in order: a release never overtakes the bind before it. */
  addressQueue: Promise<void>;
  holds: boolean;
  since: number;
  lastAdvertHeardAt?: number;
  lastAdvertFrom?: string;
  lastAdvertPriority?: number;
  lastAnnounceAt?: number;
  lastForeignAdvert?: { from: string; priority: number; at: number };
  /** Sources already logged as not obeyed (a few; the drops counter counts them all). */
  warnedSources: Set<string>;
  splitBrain: SplitBrainWatch;
}

/** Sources logged per instance at most: a flood of forged sources must not flood the log. */
const WARNED_SOURCES = 16;

/** The receive policy's source rules: unicast peers, else the plan's multicast filter, else any. */
function sourcePolicy(
  peers: readonly string[],
  sources: SourceFilter | undefined,
): Pick<ReceivePolicy, "allowedSources" | "linkLocalSourcesOnly"> {
  if (peers.length > 0) return { allowedSources: new Set(peers) };
  if (sources?.kind === "nodes") return { allowedSources: new Set(sources.addresses) };
  if (sources?.kind === "link-local") return { linkLocalSourcesOnly: true };
  return {};
}

export class VrrpEngine {
  readonly counters = new Counters();
  private readonly running: Running[] = [];
  private readonly opts: EngineOptions;
  private stopped = false;
  /** Inside sync(): effects it applies to members do not start another round. */
  private syncing = false;
  private readonly groupStates = new Map<string, GroupTransitionEvent["to"]>();
  /** The health of tracked cluster objects as last told (setClusterTracked). */
  private readonly clusterHealth = new Map<string, boolean>();
  /** Instances made and not yet started (start() starts them). */
  private pending: Running[] = [];
  /** The running instances by where their adverts arrive (receive()); made again when they change. */
  private byDestination: Map<string, Running[]> | undefined;
  /** Every instance's next deadline (tick()), on one timer. */
  private readonly deadlines: Deadlines<Running>;

  constructor(opts: EngineOptions) {
    this.opts = opts;
    // A deadline fired within the timer's slack ticks at its own time, so the instance does it.
    this.deadlines = new Deadlines(
      opts.clock,
      (r, due) => this.apply(r, r.instance.tick(Math.max(opts.clock.now(), due))),
      () => opts.readInput?.(),
    );
    this.add(opts.plans);
  }

  private add(plans: readonly InstancePlan[]): void {
    const { opts } = this;
    for (const plan of plans) {
      const port = opts.port(plan);
      const instance = new VrrpInstance({
        version: plan.version,
        vrid: plan.vrid,
        priority: plan.priority,
        advertIntervalMs: plan.advertIntervalMs,
        preempt: plan.preempt,
        preemptDelayMs: plan.preemptDelayMs,
        primaryAddress: port.sourceAddress,
        addresses: plan.addresses.map((a) => a.address),
        ...(plan.auth ? { auth: plan.auth } : {}),
        advertOnLowerPriority: true,
      });
      const policy: ReceivePolicy = {
        version: plan.version,
        family: plan.family,
        vrid: plan.vrid,
        priority: plan.priority,
        intervalCs: Math.round(plan.advertIntervalMs / 10),
        addresses: plan.addresses.map((a) => a.address),
        primaryAddress: port.sourceAddress,
        requireMaxTtl: opts.requireMaxTtl?.(plan) ?? true,
        ...(plan.auth ? { auth: plan.auth } : {}),
        ...sourcePolicy(plan.unicastPeers, plan.sources),
      };
      // keepalived puts an instance in Fault while its own interface is down.
      const tracked: TrackedState[] = [
        { name: interfaceKey(plan.interfaceName), weight: 0, healthy: true },
        // The virtual MAC's macvlan, which holds the addresses (someone may delete it).
        ...(plan.vmac ? [{ name: interfaceKey(plan.vmac.name), weight: 0, healthy: true }] : []),
        ...plan.track.interfaces.map((t) => ({
          name: interfaceKey(t.name),
          weight: t.weight,
          healthy: true,
        })),
        ...plan.track.files.map((t) => ({ name: fileKey(t.path), weight: t.weight, healthy: true })),
        // Unknown until the agent says: a node must not take traffic it may have no endpoint for.
        ...clusterTracked(plan.track).map((t) => ({
          name: t.name,
          weight: t.weight,
          healthy: this.clusterHealth.get(t.name) ?? false,
        })),
        // Healthy until the first runs say otherwise, as keepalived assumes (unless init_fail).
        ...plan.track.scripts.map((t) => ({
          name: scriptKey(plan.router, t.name),
          weight: t.weight,
          healthy: true,
        })),
      ];
      // A sync group decides when its members become master (sync()).
      if (plan.syncGroup) instance.holdForGroup(true);
      const r: Running = {
        plan,
        instance,
        port,
        policy,
        check: new ReceiveCheck(),
        tracked,
        announceTimers: [],
        addressQueue: Promise.resolve(),
        holds: false,
        since: opts.clock.now(),
        warnedSources: new Set(),
        splitBrain: new SplitBrainWatch(),
        advertsSent: this.counters.adder("adverts_sent", { instance: plan.key }),
        advertsReceived: this.counters.adder("adverts_received", { instance: plan.key }),
      };
      this.running.push(r);
      this.byDestination = undefined;
      this.pending.push(r);
    }
  }

  /** Removes addresses a crashed run may have left, then starts every instance not started yet. */
  async start(): Promise<void> {
    const starting = this.pending.splice(0);
    await Promise.all(
      starting.map(async (r) => {
        if (hasRoutes(r.plan)) await this.opts.routes?.remove(r.plan.routes ?? [], r.plan.rules ?? []);
        await this.opts.addresses.release(r.plan.addresses);
      }),
    );
    const now = this.opts.clock.now();
    for (const r of starting) {
      if (this.stopped || !this.running.includes(r)) continue; // removed meanwhile
      // Healthy objects with positive weights count from the start, as keepalived's do.
      this.apply(r, r.instance.updateTracking(effectivePriority(r.plan.priority, r.tracked), now));
      this.apply(r, r.instance.start(now));
    }
  }

  /**
   * New instances in the running engine (a router added or changed): they start as at start-up
   * while the others run on untouched. `beforeStart` sets what is already known of their tracked
   * objects (links, files), so that they start with it.
   */
  async addInstances(plans: readonly InstancePlan[], beforeStart?: () => void): Promise<void> {
    if (this.stopped || plans.length === 0) return;
    this.add(plans);
    beforeStart?.();
    await this.start();
  }

  /** Resigns every master (priority 0), releases every address, and stops all timers. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const r of this.running) this.halt(r);
    for (const [group, from] of this.groupStates) {
      this.groupStates.set(group, "stop");
      const members = this.running.filter((m) => m.plan.syncGroup === group).map((m) => m.plan);
      this.opts.onGroupTransition?.({ group, from, to: "stop", members });
    }
    await Promise.all(this.running.map((r) => r.addressQueue));
  }

  /**
   * Stops these routers' instances in place (each resigns and releases its addresses, as in stop())
   * while the engine's other instances run on untouched. Their sockets stay open: they are shared.
   */
  async removeRouters(routers: ReadonlySet<string>): Promise<void> {
    const gone = this.running.filter((r) => routers.has(r.plan.router));
    for (const r of gone) this.halt(r);
    const kept = this.running.filter((r) => !routers.has(r.plan.router));
    this.running.splice(0, this.running.length, ...kept);
    this.byDestination = undefined;
    this.pending = this.pending.filter((r) => kept.includes(r));
    // A sync group whose members all left stops (keepalived's notify_stop); re-added, it starts anew.
    for (const group of new Set(gone.map((r) => r.plan.syncGroup)))
      if (group && !kept.some((r) => r.plan.syncGroup === group)) this.endGroup(group, gone);
    await Promise.all(gone.map((r) => r.addressQueue));
  }

  private endGroup(group: string, members: readonly Running[]): void {
    const from = this.groupStates.get(group);
    this.groupStates.delete(group);
    if (from === undefined || from === "stop") return;
    const plans = members.filter((m) => m.plan.syncGroup === group).map((m) => m.plan);
    this.opts.onGroupTransition?.({ group, from, to: "stop", members: plans });
  }

  /** One instance stopped: it resigns if master and releases (which ends its announcements too). */
  private halt(r: Running): void {
    this.apply(r, r.instance.stop(this.opts.clock.now()));
    this.deadlines.set(r, undefined);
  }

  /**
   * A VRRP message that arrived on `interfaceName` (an instance's vrrpDevice: its virtual MAC's
   * interface where it speaks from there). Never throws: bad input is counted and dropped. The
   * payload is a view of the socket's read buffer, overwritten by its next read: nothing here keeps
   * it (only what decoding made of it).
   */
  receive(interfaceName: string, family: IpFamily, packet: ReceivedPacket): void {
    const vrid = packet.payload.length >= 2 ? packet.payload[1] : undefined;
    const r = vrid === undefined ? undefined : this.destinations().get(interfaceName)?.[family * 256 + vrid];
    if (!r) {
      this.counters.add("drops", { reason: vrid === undefined ? "too-short" : "unknown-vrid" });
      return;
    }
    const result = r.check.check(packet, r.policy);
    if (!result.ok) {
      this.counters.add("drops", { instance: r.plan.key, reason: result.reason });
      if (result.reason === "source-not-allowed") this.foreign(r, packet, result.detail);
      this.opts.log.debug(
        { instance: r.plan.key, reason: result.reason, detail: result.detail, source: packet.source },
        "advert dropped",
      );
      return;
    }
    if (result.addressMismatch) this.counters.add("address_mismatch", { instance: r.plan.key });
    r.advertsReceived();
    const now = this.opts.clock.now();
    r.lastAdvertHeardAt = now;
    r.lastAdvertFrom = packet.source;
    r.lastAdvertPriority = result.advert.priority;
    if (result.advert.priority > 0) this.heardMaster(r, packet.source, now);
    this.apply(r, r.instance.receive(result.advert, packet.source, now));
  }

  /** The first running instance for each interface, family and VRID (as a search in order finds). */
  private destinations(): Map<string, Running[]> {
    if (this.byDestination) return this.byDestination;
    // Per interface, indexed by family * 256 + VRID.
    const map = new Map<string, Running[]>();
    for (const x of this.running) {
      const device = vrrpDevice(x.plan);
      let slots = map.get(device);
      if (!slots) map.set(device, (slots = []));
      slots[x.plan.family * 256 + x.plan.vrid] ??= x;
    }
    return (this.byDestination = map);
  }

  /** A master's advert, another's or our own: split brain is two of them alternating. */
  private heardMaster(r: Running, source: string, now: number): void {
    const state = r.instance.state;
    if (state !== "master" && state !== "backup") return;
    const masters = r.splitBrain.heard(source, now, r.instance.learnedMasterAdverIntervalMs);
    if (masters) {
      this.counters.add("split_brains", { instance: r.plan.key });
      // Both: the advert that completed the alternation can be our own.
      this.opts.log.warn(
        { instance: r.plan.key, vrid: r.plan.vrid, masters },
        `${r.plan.key}: two masters are advertising (split brain)`,
      );
    }
  }

  /**
   * Someone else speaks on our VRID (the advert decoded: the source check comes after it): worth a
   * warning, once per source, and the status (the controller's ForeignSpeaker).
   */
  private foreign(r: Running, packet: ReceivedPacket, detail: string): void {
    r.lastForeignAdvert = { from: packet.source, priority: packet.payload[2]!, at: this.opts.clock.now() };
    if (r.warnedSources.has(packet.source) || r.warnedSources.size >= WARNED_SOURCES) return;
    r.warnedSources.add(packet.source);
    this.opts.log.warn(
      { instance: r.plan.key, source: packet.source, detail },
      "adverts from a source that is not a peer are dropped",
    );
  }

  /**
   * New virtual addresses for a running instance, without a new election: while master it binds
   * the added ones (and announces them) and releases the removed ones; adverts carry the new list.
   */
  updateAddresses(key: string, addresses: readonly PlannedAddress[]): boolean {
    const r = this.running.find((x) => x.plan.key === key);
    if (!r) return false;
    const text = (a: PlannedAddress) => `${a.address}/${a.prefixLength}@${a.dev}`;
    const before = new Set(r.plan.addresses.map(text));
    const after = new Set(addresses.map(text));
    const added = addresses.filter((a) => !before.has(text(a)));
    const removed = r.plan.addresses.filter((a) => !after.has(text(a)));
    r.plan = { ...r.plan, addresses: [...addresses] };
    r.instance.setAddresses(addresses.map((a) => a.address));
    r.policy = { ...r.policy, addresses: addresses.map((a) => a.address) };
    this.opts.log.info(
      { instance: key, added: added.map(text), removed: removed.map(text) },
      "virtual addresses changed",
    );
    if (r.holds) {
      const { addresses: port, announcer, log } = this.opts;
      r.addressQueue = r.addressQueue.then(async () => {
        try {
          await port.release(removed);
          await port.bind(added);
          if (r.holds) for (const a of added) announcer.announce(a);
        } catch (err) {
          this.counters.add("address_errors", { instance: key, op: "update" });
          log.error({ instance: key, err: (err as Error).message }, "could not update addresses");
        }
      });
    }
    return true;
  }

  /**
   * New sources to obey for a running instance (cluster mode: a Node came or went), without a new
   * election: only the receive policy changes.
   */
  updateSources(key: string, sources: SourceFilter | undefined): boolean {
    const r = this.running.find((x) => x.plan.key === key);
    if (!r) return false;
    const { allowedSources: _a, linkLocalSourcesOnly: _l, ...rest } = r.policy;
    r.plan = { ...r.plan, ...(sources ? { sources } : {}) };
    if (!sources) delete r.plan.sources;
    r.policy = { ...rest, ...sourcePolicy(r.plan.unicastPeers, sources) };
    r.warnedSources.clear();
    return true;
  }

  /**
   * New tracked cluster objects for a running instance (a Service joined or left its router),
   * without a new election: their health is what the agent last told, unknown ones unhealthy.
   */
  updateClusterTracking(key: string, track: InstancePlan["track"]): boolean {
    const r = this.running.find((x) => x.plan.key === key);
    if (!r) return false;
    const old = clusterTracked(r.plan.track);
    const after = clusterTracked(track);
    r.plan = { ...r.plan, track };
    if (JSON.stringify(old) === JSON.stringify(after)) return true;
    const before = new Set(old.map((t) => t.name));
    r.tracked = [
      ...r.tracked.filter((t) => !before.has(t.name)),
      ...after.map((t) => ({
        name: t.name,
        weight: t.weight,
        healthy: this.clusterHealth.get(t.name) ?? false,
      })),
    ];
    this.opts.log.info(
      { instance: key, tracked: after.map((t) => t.name) },
      "tracked cluster objects changed",
    );
    this.apply(
      r,
      r.instance.updateTracking(effectivePriority(r.plan.priority, r.tracked), this.opts.clock.now()),
    );
    return true;
  }

  /** Link state of an interface, from kernel events. */
  setLink(interfaceName: string, up: boolean): void {
    this.setTracked(interfaceKey(interfaceName), up);
  }

  /** A tracked file exists (a failure, like keepalived's maintenance-file check) or not. */
  setFile(path: string, present: boolean): void {
    this.setTracked(fileKey(path), !present);
  }

  /** The health of a tracked cluster object (a Service's endpoints, pods), from the cluster agent. */
  setClusterTracked(name: string, healthy: boolean): void {
    // Kept for instances added later: they must not wait for the next change to learn it.
    this.clusterHealth.set(name, healthy);
    this.setTracked(name, healthy);
  }

  /** A tracked script's health changed (after its rise / fall counts). */
  setScript(router: string, name: string, healthy: boolean): void {
    this.setTracked(scriptKey(router, name), healthy);
  }

  status(): InstanceStatus[] {
    return this.running.map((r) => ({
      key: r.plan.key,
      state: r.instance.state,
      priority: r.plan.priority,
      effectivePriority: r.instance.priority,
      interfaceName: r.plan.interfaceName,
      addresses: r.plan.addresses.map((a) => `${a.address}/${a.prefixLength}`),
      since: r.since,
      holdsAddresses: r.holds,
      splitBrain: r.splitBrain.active(this.opts.clock.now(), r.instance.learnedMasterAdverIntervalMs),
      tracked: r.tracked.map((t) => ({ name: t.name, healthy: t.healthy })),
      ...(r.lastAdvertHeardAt !== undefined ? { lastAdvertHeardAt: r.lastAdvertHeardAt } : {}),
      ...(r.lastAdvertFrom !== undefined ? { lastAdvertFrom: r.lastAdvertFrom } : {}),
      ...(r.lastAdvertPriority !== undefined ? { lastAdvertPriority: r.lastAdvertPriority } : {}),
      ...(r.lastAnnounceAt !== undefined ? { lastAnnounceAt: r.lastAnnounceAt } : {}),
      ...(r.lastForeignAdvert ? { lastForeignAdvert: { ...r.lastForeignAdvert } } : {}),
    }));
  }

  /** The instances that are master now (the supervisor resigns for them if this process dies). */
  masters(): InstancePlan[] {
    return this.running.filter((r) => r.instance.state === "master").map((r) => r.plan);
  }

  private setTracked(name: string, healthy: boolean): void {
    for (const r of this.running) {
      let changed = false;
      r.tracked = r.tracked.map((t) => {
        if (t.name !== name || t.healthy === healthy) return t;
        changed = true;
        return { ...t, healthy };
      });
      if (!changed) continue;
      const status = effectivePriority(r.plan.priority, r.tracked);
      this.opts.log.info(
        { instance: r.plan.key, tracked: name, healthy, priority: status.priority, fault: status.fault },
        `tracked ${name} is ${healthy ? "up" : "down"}`,
      );
      this.apply(r, r.instance.updateTracking(status, this.opts.clock.now()));
    }
  }

  private apply(r: Running, effects: Effect[]): void {
    for (const e of effects) this.carryOut(r, e);
    this.deadlines.set(r, this.stopped ? undefined : r.instance.nextDeadline());
    if (r.plan.syncGroup && !this.syncing && !this.stopped) this.sync(r.plan.syncGroup);
  }

  /**
   * keepalived's vrrp_sync_group, whatever moved a member (adverts, priority, scripts, links): one
   * member in Fault puts every member in Fault; a member in Backup that hears a master (not waiting
   * for the group) takes every master out (each resigns with priority 0, so the peer takes it over);
   * and members whose Master_Down_Timer expired become master only when every member can.
   */
  private sync(group: string): void {
    this.syncing = true;
    try {
      const now = this.opts.clock.now();
      for (let round = 0; round < 4; round++) {
        const members = this.running.filter((m) => m.plan.syncGroup === group);
        let moved = false;
        const step = (m: Running, effects: Effect[]) => {
          if (effects.length === 0) return;
          moved = true;
          this.apply(m, effects);
        };
        const fault = members.some((m) => m.instance.ownFault);
        for (const m of members) step(m, m.instance.setGroupFault(fault, now));
        if (!fault) {
          const heldBack = members.some((m) => m.instance.state === "backup" && !m.instance.wantsMaster);
          if (heldBack) for (const m of members) step(m, m.instance.resignForGroup(now));
          else if (members.every((m) => m.instance.state === "master" || m.instance.wantsMaster))
            for (const m of members) step(m, m.instance.promote(now));
        }
        if (!moved) break;
      }
      this.reportGroup(group);
    } finally {
      this.syncing = false;
    }
  }

  private reportGroup(group: string): void {
    const members = this.running.filter((m) => m.plan.syncGroup === group);
    const states = members.map((m) => m.instance.state);
    if (states.includes("initialize")) return; // starting or stopping: no group state yet
    const to = states.includes("fault") ? "fault" : states.every((s) => s === "master") ? "master" : "backup";
    const from = this.groupStates.get(group);
    if (from === to || from === "stop") return;
    this.groupStates.set(group, to);
    this.opts.log.info({ group, from, to }, `sync group ${group}: ${from ?? "start"} -> ${to}`);
    this.opts.onGroupTransition?.({ group, from, to, members: members.map((m) => m.plan) });
  }

  private carryOut(r: Running, e: Effect): void {
    const { log, clock } = this.opts;
    switch (e.type) {
      case "transition": {
        r.since = clock.now();
        if (e.to === "initialize" || e.to === "fault") r.splitBrain.reset();
        this.counters.add("transitions", { instance: r.plan.key, to: e.to });
        log.info(
          { instance: r.plan.key, vrid: r.plan.vrid, from: e.from, to: e.to, reason: e.reason },
          `${r.plan.key}: ${e.from} -> ${e.to} (${e.reason})`,
        );
        this.opts.onTransition?.({
          plan: r.plan,
          from: e.from,
          to: e.to,
          reason: e.reason,
          at: r.since,
          priority: r.instance.priority,
          ...(e.to === "master" && r.lastAdvertHeardAt !== undefined
            ? { sinceLastAdvertMs: r.since - r.lastAdvertHeardAt }
            : {}),
        });
        return;
      }
      case "send-advert": {
        const { sent, errors } = sendAdvert(r.port, r.plan, e.advert, r);
        if (e.advert.priority > 0 && r.instance.state === "master")
          this.heardMaster(r, r.port.sourceAddress, this.opts.clock.now());
        r.advertsSent(sent);
        for (const { destination, error } of errors) {
          this.counters.add("send_errors", { instance: r.plan.key });
          log.warn({ instance: r.plan.key, destination, err: error.message }, "advert not sent");
        }
        return;
      }
      case "bind-addresses":
        r.holds = true;
        this.queueAddresses(r, "bind");
        return;
      case "release-addresses":
        r.holds = false;
        for (const t of r.announceTimers.splice(0)) t.cancel();
        this.queueAddresses(r, "release");
        return;
      case "announce":
        // Announce once the addresses are bound, so that the traffic drawn in finds them.
        void r.addressQueue.then(() => this.startAnnouncing(r));
        return;
    }
  }

  private queueAddresses(r: Running, op: "bind" | "release"): void {
    const { addresses, log } = this.opts;
    r.addressQueue = r.addressQueue.then(async () => {
      try {
        // Routes after the addresses they may name as source, and away before them.
        const { routes } = this.opts;
        const [plannedRoutes, plannedRules] = [r.plan.routes ?? [], r.plan.rules ?? []];
        if (op === "bind") {
          await addresses.bind(r.plan.addresses);
          if (routes && hasRoutes(r.plan)) await routes.add(plannedRoutes, plannedRules);
        } else {
          if (routes && hasRoutes(r.plan)) await routes.remove(plannedRoutes, plannedRules);
          await addresses.release(r.plan.addresses);
        }
        log.info(
          { instance: r.plan.key, addresses: r.plan.addresses.map((a) => `${a.address}/${a.prefixLength}`) },
          op === "bind" ? "addresses bound" : "addresses released",
        );
      } catch (err) {
        this.counters.add("address_errors", { instance: r.plan.key, op });
        log.error({ instance: r.plan.key, op, err: (err as Error).message }, `could not ${op} addresses`);
      }
    });
  }

  /** keepalived's garp_master_*: a burst now, another after `delay`, then one every `refresh`. */
  private startAnnouncing(r: Running): void {
    if (!r.holds) return;
    const { garp } = r.plan;
    const { clock } = this.opts;
    const burst = (count: number) => {
      for (let i = 0; i < count; i++) {
        const send = () => {
          if (!r.holds) return;
          for (const a of r.plan.addresses) this.opts.announcer.announce(a);
          r.lastAnnounceAt = clock.now();
          this.counters.add("announcements", { instance: r.plan.key });
        };
        if (i === 0 || garp.intervalMs === 0) send();
        else r.announceTimers.push(clock.setTimeout(send, i * garp.intervalMs));
      }
    };
    burst(garp.repeat);
    if (garp.delayMs > 0) r.announceTimers.push(clock.setTimeout(() => burst(garp.repeat), garp.delayMs));
    if (garp.refreshMs > 0) {
      const refresh = () => {
        if (!r.holds) return;
        burst(garp.refreshRepeat);
        r.announceTimers.push(clock.setTimeout(refresh, garp.refreshMs));
      };
      r.announceTimers.push(clock.setTimeout(refresh, garp.refreshMs));
    }
  }
}

const hasRoutes = (plan: InstancePlan) => (plan.routes?.length ?? 0) + (plan.rules?.length ?? 0) > 0;
