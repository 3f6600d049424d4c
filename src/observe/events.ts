// What a VRRP engine reports (engine/engine.ts makes them): each instance's transitions, a sync
// group's, and each instance's status. Notifications and metrics here consume them and the agent
// passes them on (status socket, status entries), so they live below both.
import type { VrrpState } from "../vrrp/instance.ts";
import type { InstancePlan } from "../plan/plan.ts";

export interface TransitionEvent {
  plan: InstancePlan;
  from: VrrpState;
  to: VrrpState;
  reason: string;
  at: number;
  /** The effective priority at the transition. */
  priority: number;
  /** On becoming master after hearing a master: ms since its last advert (the failover time). */
  sinceLastAdvertMs?: number;
}

/** A sync group's state changed: master (every member), fault (any member), backup otherwise. */
export interface GroupTransitionEvent {
  group: string;
  from: "master" | "backup" | "fault" | "stop" | undefined;
  /** stop: the engine stopped (keepalived's notify_stop). */
  to: "master" | "backup" | "fault" | "stop";
  /** The members' plans (their syncGroupNotify holds the group's scripts). */
  members: InstancePlan[];
}

export interface InstanceStatus {
  key: string;
  state: VrrpState;
  priority: number;
  effectivePriority: number;
  interfaceName: string;
  /** The virtual addresses (CIDR), held or not. */
  addresses: string[];
  since: number;
  lastAdvertHeardAt?: number;
  /** Source and priority of the last advert heard (who the master is, seen from here). */
  lastAdvertFrom?: string;
  lastAdvertPriority?: number;
  lastAnnounceAt?: number;
  /** The last advert dropped because its source is not a peer (someone else speaks on our VRID). */
  lastForeignAdvert?: { from: string; priority: number; at: number };
  holdsAddresses: boolean;
  /** Two masters heard alternating within the last advert interval and a half (split-brain.ts). */
  splitBrain: boolean;
  /** Tracked objects (the instance's own interface first) and their health. */
  tracked: { name: string; healthy: boolean }[];
}
