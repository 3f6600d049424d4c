// The engine's IPC protocol, both directions: the supervisor's commands and the engine's reports.
// Times in status are epoch milliseconds (the processes' monotonic clocks differ).
import type { CounterEntry } from "../base/counters.ts";
import type { InstanceStatus } from "../observe/events.ts";
import type { EngineArgs } from "./engine-process.ts";
import type { NodePlan } from "../plan/plan.ts";

/** The supervisor's first message to a new engine. */
export interface EngineStart {
  type: "run";
  plan: NodePlan;
  args: EngineArgs;
}

/**
 * Later commands: the node's whole plan again (the engine changes only the routers whose part
 * differs: plan/steps.ts), the health of tracked cluster objects, a request for a snapshot.
 */
export type EngineCommand =
  | EngineStart
  | { type: "plan"; plan: NodePlan }
  | { type: "tracked"; states: { name: string; healthy: boolean }[] }
  | { type: "snapshot"; id: number };

/** What the engine tells its supervisor. */
export type EngineMessage =
  | { type: "state"; masters: string[] }
  | { type: "ready" }
  | { type: "status"; instances: InstanceStatus[] }
  | { type: "snapshot"; id: number; instances: InstanceStatus[]; counters: CounterEntry[] }
  | { type: "failover"; instance: string; ms: number };
