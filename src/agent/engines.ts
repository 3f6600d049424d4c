// Runs one VRRP engine process under a supervisor, with resign sockets prepared ahead: the unit
// both modes use. File mode runs one for all its routers; cluster mode runs one per router, so a
// router can be added, changed or removed without touching the others' elections.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import type { EngineStart } from "./engine-main.ts";
import type { EngineArgs } from "./engine-process.ts";
import type { InstanceStatus } from "./engine.ts";
import type { NodePlan } from "./plan.ts";
import { prepareResign } from "./resign.ts";
import { Supervisor } from "./supervisor.ts";

const ENGINE_MAIN = fileURLToPath(new URL("./engine-main.ts", import.meta.url));

export interface RunningEngine {
  readonly supervisor: Supervisor;
  /** Graceful: the engine resigns and releases its addresses (or is killed and resigned for). */
  stop(): Promise<void>;
}

export async function startEngine(
  plan: NodePlan,
  args: EngineArgs,
  log: Logger,
  onStatus?: (instances: InstanceStatus[]) => void,
): Promise<RunningEngine> {
  const resigner = await prepareResign(plan.instances, log);
  const supervisor = new Supervisor({
    spawn: () => {
      const child = fork(ENGINE_MAIN, [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
      const start: EngineStart = { type: "run", plan, args };
      child.send(start);
      return child;
    },
    resign: (keys) => resigner.resign(keys),
    log,
    ...(onStatus ? { onStatus } : {}),
  });
  supervisor.start();
  return {
    supervisor,
    async stop() {
      await supervisor.stop();
      resigner.close();
    },
  };
}
