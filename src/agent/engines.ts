// Runs one VRRP engine process under a supervisor, with resign sockets prepared ahead: the unit
// both modes use. Cluster mode runs one per router; file mode one for its routers, and one more
// for those a reload changes or adds (a router is removed from its engine in place).
import { fork, type ChildProcess } from "node:child_process";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import type { EngineStart, EngineUpdate } from "./engine-main.ts";
import type { EngineArgs } from "./engine-process.ts";
import type { InstanceStatus } from "./engine.ts";
import type { NodePlan } from "../plan/plan.ts";
import { prepareResign } from "./resign.ts";
import { removeVirtualMacs } from "./virtual-mac.ts";
import { Supervisor, type EngineMessage } from "./supervisor.ts";

// engine-main beside this module: .ts when running the sources, .js when running dist/.
const ENGINE_MAIN = fileURLToPath(new URL(`./engine-main${extname(import.meta.url)}`, import.meta.url));

export interface RunningEngine {
  readonly supervisor: Supervisor;
  /**
   * Takes a new plan in place when it differs from the running one only in virtual addresses or
   * the sources it obeys (no new election); false when it needs a restart.
   */
  update(plan: NodePlan): boolean;
  /**
   * Stops these routers in the running engine (each resigns and releases its addresses); `next` is
   * the engine's plan without them, for a restart after a crash.
   */
  remove(routers: string[], next: NodePlan): void;
  /** Health of tracked cluster objects (kept, and sent again to a restarted engine). */
  setClusterTracked(states: { name: string; healthy: boolean }[]): void;
  /** Graceful: the engine resigns and releases its addresses (or is killed and resigned for). */
  stop(): Promise<void>;
}

/** A new engine process, loaded and waiting for its plan. */
export function forkEngine(): ChildProcess {
  return fork(ENGINE_MAIN, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
}

/**
 * Keeps one engine process forked ahead, so that starting a router does not wait for a process to
 * start and load its modules (most of a router's start-up; cluster mode, where routers come and go).
 */
export class WarmEngines {
  private spare: ChildProcess | undefined;
  private closed = false;

  constructor() {
    this.refill();
  }

  take(): ChildProcess {
    const ready = this.spare;
    this.spare = undefined;
    setImmediate(() => this.refill());
    if (ready && ready.connected && ready.exitCode === null) return ready;
    ready?.kill();
    return forkEngine();
  }

  private refill(): void {
    if (this.closed || this.spare) return;
    this.spare = forkEngine();
  }

  close(): void {
    this.closed = true;
    this.spare?.kill();
    this.spare = undefined;
  }
}

export async function startEngine(
  plan: NodePlan,
  args: EngineArgs,
  log: Logger,
  onStatus?: (instances: InstanceStatus[]) => void,
  onMessage?: (msg: EngineMessage) => void,
  engines: { take(): ChildProcess } = { take: forkEngine },
): Promise<RunningEngine> {
  let current = plan;
  let tracked: EngineUpdate | undefined;
  const resigner = await prepareResign(plan.instances, log);
  const supervisor = new Supervisor({
    spawn: () => {
      const child = engines.take();
      const start: EngineStart = { type: "run", plan: current, args };
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
  return {
    supervisor,
    update(next) {
      if (!takenInPlace(current, next)) return false;
      current = next;
      resigner.setPlans(next.instances);
      const msg: EngineUpdate = {
        type: "addresses",
        instances: next.instances.map((i) => ({
          key: i.key,
          addresses: i.addresses,
          ...(i.sources ? { sources: i.sources } : {}),
        })),
      };
      supervisor.send(msg);
      return true;
    },
    remove(routers, next) {
      // The resign sockets keep the removed instances' plans: until the engine has resigned them,
      // a crash must still be resigned for (a key not among the masters costs nothing).
      const kept = new Map([...current.instances, ...next.instances].map((i) => [i.key, i]));
      current = next;
      resigner.setPlans([...kept.values()]);
      const msg: EngineUpdate = { type: "remove", routers };
      supervisor.send(msg);
    },
    setClusterTracked(states) {
      tracked = { type: "tracked", states };
      supervisor.send(tracked);
    },
    async stop() {
      await supervisor.stop();
      resigner.close();
    },
  };
}

/**
 * Same instances with the same settings; only their virtual addresses and the sources they obey
 * (the cluster's nodes, which come and go) may differ: those change in place.
 */
export function takenInPlace(a: NodePlan, b: NodePlan): boolean {
  const strip = (p: NodePlan) =>
    JSON.stringify(p.instances.map((i) => ({ ...i, addresses: [], sources: undefined })));
  return strip(a) === strip(b);
}
