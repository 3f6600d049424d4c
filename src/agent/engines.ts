// The node's one VRRP engine process under its supervisor, with resign sockets prepared ahead: the
// unit both modes use. It runs every router of the node; a new plan changes the running engine in
// place, router by router (plan/steps.ts): the routers whose part is unchanged run on untouched.
import { fork, type ChildProcess } from "node:child_process";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import type { EngineArgs } from "../engine/engine-process.ts";
import type { InstanceStatus } from "../engine/engine.ts";
import type { EngineCommand, EngineMessage } from "../engine/ipc.ts";
import type { NodePlan } from "../plan/plan.ts";
import { routerSteps, type RouterStep } from "../plan/steps.ts";
import { prepareResign } from "./resign.ts";
import { removeVirtualMacs } from "../engine/virtual-mac.ts";
import { Supervisor } from "./supervisor.ts";

// The engine's entry (engine/engine-main): .ts when running the sources, .js when running dist/.
const ENGINE_MAIN = fileURLToPath(
  new URL(`../engine/engine-main${extname(import.meta.url)}`, import.meta.url),
);

export interface NodeEngine {
  readonly supervisor: Supervisor;
  /** The plan the engine was last given. */
  plan(): NodePlan;
  /**
   * Brings the running engine to this plan: routers started, stopped (each resigns and releases
   * its addresses), restarted, or given new addresses in place; the others are not touched.
   * Returns what happens to each router.
   */
  apply(next: NodePlan): Promise<Map<string, RouterStep>>;
  /** Health of tracked cluster objects (kept, and sent again to a restarted engine). */
  setClusterTracked(states: { name: string; healthy: boolean }[]): void;
  /** Graceful: the engine resigns and releases its addresses (or is killed and resigned for). */
  stop(): Promise<void>;
}

/**
 * V8 flags of the engine process, after the agent's own (the agent's main process has the same,
 * set by bin/vipkeeper.js). A young generation of 1 MB semi-spaces
 * (default: growing to 16 MB, and kept): the engine's garbage is short-lived packets and timers, so
 * the larger young generation only held pages. Measured (bench/agent-memory.ts, file mode, 255 routers,
 * adverts every 100 ms): engine PSS 71 -> 37 MB, the agent's CPU 6.9 -> 7.7 %. It caps no heap:
 * what survives goes to the old generation, which stays unlimited.
 */
export const ENGINE_NODE_FLAGS = ["--max-semi-space-size=1"];

/**
 * Flags of the agent's main process (bin/vipkeeper.js) that the engine does not take: V8's memory
 * saver mode gives the main process back the pages of a start-up burst, but makes the engine
 * larger (bench/agent-memory.ts, file mode, 255 routers, 3 runs each: engine 47-51 MB with it,
 * 44-47 MB without).
 */
const MAIN_ONLY_FLAGS = new Set(["--memory-saver-mode"]);

/** The engine's V8 flags, from the main process's own. */
export function engineExecArgv(mainExecArgv: readonly string[]): string[] {
  // The main process has ENGINE_NODE_FLAGS too (bin/vipkeeper.js): once each.
  return [...new Set([...mainExecArgv.filter((f) => !MAIN_ONLY_FLAGS.has(f)), ...ENGINE_NODE_FLAGS])];
}

/** A new engine process, loaded and waiting for its plan. */
export function forkEngine(): ChildProcess {
  return fork(ENGINE_MAIN, [], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    execArgv: engineExecArgv(process.execArgv),
  });
}

export async function startEngine(
  plan: NodePlan,
  args: EngineArgs,
  log: Logger,
  onStatus?: (instances: InstanceStatus[]) => void,
  onMessage?: (msg: EngineMessage) => void,
): Promise<NodeEngine> {
  let current = plan;
  let tracked: EngineCommand | undefined;
  const resigner = await prepareResign(plan.instances, log);
  const supervisor = new Supervisor({
    spawn: () => {
      const child = forkEngine();
      const start: EngineCommand = { type: "run", plan: current, args };
      child.send(start);
      if (tracked) child.send(tracked);
      return child;
    },
    resign: (keys) => resigner.resign(keys),
    cleanup: (pid) => removeVirtualMacs(current.instances, pid, log),
    log,
    ...(onStatus ? { onStatus } : {}),
    ...(onMessage ? { onMessage } : {}),
  });
  supervisor.start();
  let applying = Promise.resolve();
  return {
    supervisor,
    plan: () => current,
    apply(next) {
      const steps = routerSteps(current, next);
      const previous = current;
      current = next;
      if ([...steps.values()].every((s) => s === "keep")) return Promise.resolve(steps);
      // Until the engine has stopped the routers that go, a crash must still be resigned for
      // them: the resign sockets serve both plans (a key not among the masters costs nothing).
      const both = new Map([...previous.instances, ...next.instances].map((i) => [i.key, i]));
      const result = applying.then(async () => {
        await resigner
          .setPlans([...both.values()])
          .catch((err: unknown) =>
            log.warn({ err: (err as Error).message }, "resign sockets not ready for the new plan"),
          );
        supervisor.send({ type: "plan", plan: next });
        return steps;
      });
      applying = result.then(() => undefined);
      return result;
    },
    setClusterTracked(states) {
      tracked = { type: "tracked", states };
      supervisor.send(tracked);
    },
    async stop() {
      await applying;
      await supervisor.stop();
      resigner.close();
    },
  };
}
