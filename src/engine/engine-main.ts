// Entry of the engine process the supervisor forks. It takes its plan over IPC instead of reading
// the file again, so it loads neither the YAML parser nor the schema validator: a smaller process
// starts faster and, killed, is torn down sooner (its supervisor hears of the death sooner).
import { runEngineProcess } from "./engine-process.ts";
import type { EngineCommand } from "./ipc.ts";

// A hangup of the agent's process group (a closed terminal, `kill -HUP -PGID`) is for the
// supervisor, which reloads; by Node's default it would end an engine that holds addresses. Set
// first thing, so a hangup while the engine starts does not end it either.
process.on("SIGHUP", () => undefined);

// A spare engine (forked ahead, no plan yet) whose agent died has nothing to do.
const spare = () => process.exit(0);
process.once("disconnect", spare);

process.once("message", (msg: EngineCommand) => {
  if (msg.type !== "run") return;
  process.off("disconnect", spare);
  runEngineProcess(msg.plan, msg.args).then(
    // Ends at once: what is still under way was given its time (a hung webhook would keep the loop).
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(
        `vipkeeper engine: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exit(1);
    },
  );
});
