// One VRRP virtual router instance: the state machine of RFC 9568 section 6 (RFC 3768 section 6
// for v2), plus the Fault state keepalived adds for failed tracking. Pure: time comes in as `now`
// (milliseconds on any monotonic clock), packets come in already decoded and validated, and
// everything the instance wants done comes out as effects for the caller to carry out.
import { compareAddresses } from "../base/ip.ts";
import type { Advert, V2Auth, VrrpVersion } from "./packet.ts";
import { masterDownIntervalMs, skewTimeMs } from "./timers.ts";

export type VrrpState = "initialize" | "backup" | "master" | "fault";

export const OWNER_PRIORITY = 255;
export const RESIGN_PRIORITY = 0;

export interface InstanceConfig {
  version: VrrpVersion;
  vrid: number;
  /** Configured priority: 1..254, or 255 for the address owner. */
  priority: number;
  /** Advertisement_Interval. v2 allows whole seconds only. */
  advertIntervalMs: number;
  preempt: boolean;
  /** keepalived's preempt_delay: how long after first seeing a lower-priority master to wait before preempting. */
  preemptDelayMs: number;
  /** This router's own address on the segment: the source of its adverts and the tie-breaker. */
  primaryAddress: string;
  /** The virtual addresses, in canonical text. */
  addresses: string[];
  auth?: V2Auth;
  /**
   * keepalived's default (unless lower_prio_no_advert): a master answers a lower-priority advert
   * with one of its own at once, so a second master left over from a partition steps down sooner.
   */
  advertOnLowerPriority: boolean;
}

export type TransitionReason =
  | "startup"
  | "address-owner"
  | "master-down"
  | "master-resigned"
  | "higher-priority"
  | "equal-priority-higher-address"
  | "shutdown"
  | "fault"
  | "fault-cleared"
  /** A sync group moved this instance with another member (keepalived's vrrp_sync_group). */
  | "sync-group";

export type Effect =
  | { type: "transition"; from: VrrpState; to: VrrpState; reason: TransitionReason }
  | { type: "send-advert"; advert: Advert }
  | { type: "bind-addresses" }
  | { type: "release-addresses" }
  | { type: "announce" };

export interface TrackingStatus {
  /** Effective priority from tracking (see tracking.ts). */
  priority: number;
  /** A tracked object with weight 0 has failed. */
  fault: boolean;
}

export class VrrpInstance {
  private cfg: InstanceConfig;
  private current: VrrpState = "initialize";
  private effective: number;
  private faulted = false;
  private masterAdverIntervalMs: number;
  private adverTimer: number | undefined;
  private masterDownTimer: number | undefined;
  /** The end of the preempt-delay window, once a lower-priority master has been seen. */
  private preemptAllowedAt: number | undefined;
  /** The last accepted advert was a priority-0 resignation (only for naming the transition). */
  private masterResigned = false;
  /** In a sync group: an expired Master_Down_Timer waits for the group instead of taking over. */
  private syncHeld = false;
  /** Held by the group with its Master_Down_Timer expired: ready to be master when every member is. */
  private wanting = false;
  /** Another member of the sync group is in Fault. */
  private groupFaulted = false;

  constructor(config: InstanceConfig) {
    this.cfg = { ...config, addresses: [...config.addresses] };
    this.effective = config.priority;
    this.masterAdverIntervalMs = config.advertIntervalMs;
  }

  get config(): Readonly<InstanceConfig> {
    return this.cfg;
  }

  /**
   * A new list of virtual addresses, taken in place: the election goes on, and the next advert
   * carries the new list (the caller binds and releases the difference while master).
   */
  setAddresses(addresses: readonly string[]): void {
    this.cfg = { ...this.cfg, addresses: [...addresses] };
  }

  get state(): VrrpState {
    return this.current;
  }

  /** The priority this router advertises now (tracking applied). */
  get priority(): number {
    return this.effective;
  }

  /** Master_Adver_Interval: v3 learns it from the master's adverts; v2 always uses its own. */
  get learnedMasterAdverIntervalMs(): number {
    return this.masterAdverIntervalMs;
  }

  /** The next instant at which tick() has something to do, if any. */
  nextDeadline(): number | undefined {
    if (this.adverTimer === undefined) return this.masterDownTimer;
    if (this.masterDownTimer === undefined) return this.adverTimer;
    return Math.min(this.adverTimer, this.masterDownTimer);
  }

  /** Put in a sync group: from now on, becoming master waits for promote(). */
  holdForGroup(on: boolean): void {
    this.syncHeld = on;
  }

  /** Backup with its Master_Down_Timer expired, held by its sync group. */
  get wantsMaster(): boolean {
    return this.wanting;
  }

  /** Its own tracking says Fault (not the sync group's). */
  get ownFault(): boolean {
    return this.faulted;
  }

  /** The sync group lets a waiting member become master (every member can). */
  promote(now: number): Effect[] {
    if (this.current !== "backup" || !this.wanting) return [];
    this.wanting = false;
    return this.becomeMaster(now, this.masterResigned ? "master-resigned" : "master-down");
  }

  /**
   * Another member of the sync group left Master: this one leaves too, resigning with priority 0 so
   * the peer that holds the group's other instances takes this one over after Skew_Time.
   */
  resignForGroup(now: number): Effect[] {
    if (this.current !== "master") return [];
    this.adverTimer = undefined;
    this.masterAdverIntervalMs = this.config.advertIntervalMs;
    this.masterDownTimer =
      now + masterDownIntervalMs(this.config.version, this.effective, this.masterAdverIntervalMs);
    this.masterResigned = false;
    this.wanting = false;
    return [this.advert(RESIGN_PRIORITY), { type: "release-addresses" }, this.moveTo("backup", "sync-group")];
  }

  /** A member of the sync group is in Fault (or no longer): the group is in Fault together. */
  setGroupFault(on: boolean, now: number): Effect[] {
    const before = this.isFaulted;
    this.groupFaulted = on;
    return this.faultChanged(before, now, "sync-group");
  }

  private get isFaulted(): boolean {
    return this.faulted || this.groupFaulted;
  }

  private faultChanged(before: boolean, now: number, reason: TransitionReason): Effect[] {
    const after = this.isFaulted;
    if (after === before) return [];
    if (after) return this.current === "initialize" ? [] : this.enterFault(reason);
    return this.current === "fault" ? this.startup(now, "fault-cleared") : [];
  }

  /** The Startup event. A faulted instance goes straight to Fault. */
  start(now: number): Effect[] {
    if (this.current !== "initialize") return [];
    if (this.isFaulted) return this.enterFault(this.faulted ? "fault" : "sync-group");
    return this.startup(now, "startup");
  }

  /** The Shutdown event: a master resigns with priority 0 so that a backup takes over after Skew_Time. */
  stop(_now: number): Effect[] {
    const effects: Effect[] = [];
    if (this.current === "master") {
      effects.push(this.advert(RESIGN_PRIORITY), { type: "release-addresses" });
    }
    if (this.current !== "initialize") effects.push(this.moveTo("initialize", "shutdown"));
    this.clearTimers();
    return effects;
  }

  /** Fires the timers that are due. */
  tick(now: number): Effect[] {
    const effects: Effect[] = [];
    if (this.current === "master" && this.adverTimer !== undefined && this.adverTimer <= now) {
      effects.push(this.advert(this.effective));
      // From when it was due, not when it fired: timers fire late (Node's by up to a millisecond),
      // and counting from the firing stretched every interval by that (10 ms adverts came every
      // ~10.7 ms). Late by a whole interval (a stall): from now, with no burst to catch up.
      const next = this.adverTimer + this.config.advertIntervalMs;
      this.adverTimer = next > now ? next : now + this.config.advertIntervalMs;
    }
    if (this.current === "backup" && this.masterDownTimer !== undefined && this.masterDownTimer <= now) {
      if (this.syncHeld) {
        // The group decides (promote): it goes master only when every member can.
        this.masterDownTimer = undefined;
        this.wanting = true;
      } else effects.push(...this.becomeMaster(now, this.masterResigned ? "master-resigned" : "master-down"));
    }
    return effects;
  }

  /**
   * An advertisement that passed the receive checks (receive.ts) for this instance.
   * `source` is the IP source address of the packet: the sender's primary address.
   */
  receive(advert: Advert, source: string, now: number): Effect[] {
    if (this.current === "backup") return this.receiveAsBackup(advert, now);
    if (this.current === "master") return this.receiveAsMaster(advert, source, now);
    return [];
  }

  /** New tracking results (effective priority and fault). */
  updateTracking(status: TrackingStatus, now: number): Effect[] {
    this.effective = status.priority;
    const before = this.isFaulted;
    this.faulted = status.fault;
    return this.faultChanged(before, now, "fault");
  }

  private receiveAsBackup(advert: Advert, now: number): Effect[] {
    if (advert.priority === RESIGN_PRIORITY) {
      this.masterDownTimer =
        now + skewTimeMs(this.config.version, this.effective, this.masterAdverIntervalMs);
      this.masterResigned = true;
      this.wanting = false;
      return [];
    }
    const lower = advert.priority < this.effective;
    if (this.config.preempt && lower && !this.preemptDelayed(now)) return []; // discard: let the timer run out
    if (!lower) this.preemptAllowedAt = undefined;
    if (this.config.version === 3) this.masterAdverIntervalMs = advert.intervalCs * 10;
    this.masterDownTimer =
      now + masterDownIntervalMs(this.config.version, this.effective, this.masterAdverIntervalMs);
    this.masterResigned = false;
    this.wanting = false;
    return [];
  }

  /** Within keepalived's preempt_delay window, a lower-priority master is still obeyed. */
  private preemptDelayed(now: number): boolean {
    if (this.config.preemptDelayMs <= 0) return false;
    this.preemptAllowedAt ??= now + this.config.preemptDelayMs;
    return now < this.preemptAllowedAt;
  }

  private receiveAsMaster(advert: Advert, source: string, now: number): Effect[] {
    if (advert.priority === RESIGN_PRIORITY) {
      // Another master resigned: assert ourselves at once so backups do not take over.
      this.adverTimer = now + this.config.advertIntervalMs;
      return [this.advert(this.effective)];
    }
    const higher = advert.priority > this.effective;
    const tieLost =
      advert.priority === this.effective && compareAddresses(source, this.config.primaryAddress) > 0;
    if (higher || tieLost) {
      this.adverTimer = undefined;
      if (this.config.version === 3) this.masterAdverIntervalMs = advert.intervalCs * 10;
      this.masterDownTimer =
        now + masterDownIntervalMs(this.config.version, this.effective, this.masterAdverIntervalMs);
      this.masterResigned = false;
      this.preemptAllowedAt = undefined;
      return [
        { type: "release-addresses" },
        this.moveTo("backup", higher ? "higher-priority" : "equal-priority-higher-address"),
      ];
    }
    if (!this.config.advertOnLowerPriority) return [];
    this.adverTimer = now + this.config.advertIntervalMs;
    return [this.advert(this.effective)];
  }

  private startup(now: number, reason: TransitionReason): Effect[] {
    this.wanting = false;
    if (this.config.priority === OWNER_PRIORITY) return this.becomeMaster(now, "address-owner");
    this.masterAdverIntervalMs = this.config.advertIntervalMs;
    this.masterDownTimer =
      now + masterDownIntervalMs(this.config.version, this.effective, this.masterAdverIntervalMs);
    this.masterResigned = false;
    this.preemptAllowedAt = undefined;
    return [this.moveTo("backup", reason)];
  }

  private becomeMaster(now: number, reason: TransitionReason): Effect[] {
    this.masterDownTimer = undefined;
    this.wanting = false;
    this.preemptAllowedAt = undefined;
    this.adverTimer = now + this.config.advertIntervalMs;
    return [
      this.moveTo("master", reason),
      { type: "bind-addresses" },
      this.advert(this.effective),
      { type: "announce" },
    ];
  }

  private enterFault(reason: TransitionReason): Effect[] {
    const effects: Effect[] = [];
    // Leaving Master for Fault resigns like a shutdown, so a backup takes over after Skew_Time.
    if (this.current === "master") effects.push(this.advert(RESIGN_PRIORITY), { type: "release-addresses" });
    this.clearTimers();
    effects.push(this.moveTo("fault", reason));
    return effects;
  }

  private clearTimers(): void {
    this.adverTimer = undefined;
    this.masterDownTimer = undefined;
    this.preemptAllowedAt = undefined;
    this.masterResigned = false;
    this.wanting = false;
  }

  private moveTo(to: VrrpState, reason: TransitionReason): Effect {
    const from = this.current;
    this.current = to;
    return { type: "transition", from, to, reason };
  }

  private advert(priority: number): Effect {
    return { type: "send-advert", advert: buildAdvert(this.config, priority) };
  }
}

/** The advert an instance with this configuration sends at `priority`. */
export function buildAdvert(
  config: Pick<InstanceConfig, "version" | "vrid" | "advertIntervalMs" | "addresses" | "auth">,
  priority: number,
): Advert {
  const { version, vrid, advertIntervalMs, addresses, auth } = config;
  const advert: Advert = {
    version,
    vrid,
    priority,
    intervalCs: Math.round(advertIntervalMs / 10),
    addresses,
  };
  if (version === 2) advert.auth = auth ?? { type: "none" };
  return advert;
}
