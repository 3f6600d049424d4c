// `vipkeeper agent`: runs this node's VRRP instances from a file. The process the user starts is
// the supervisor; it forks the engine (the same command with --engine) and outlives it.
import { fork } from "node:child_process";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../agent/config-file.ts";
import { planForNode } from "../agent/plan.ts";
import { Supervisor } from "../agent/supervisor.ts";
import { createLogger } from "../observe/log.ts";

const HELP = `Usage: vipkeeper agent --config FILE --node NAME [options]

Runs the VRRP instances of node NAME from FILE: YAML documents of VirtualRouter objects, the
same shape as the cluster's (see examples/). Logs JSON lines. SIGTERM or SIGINT resigns
(priority 0), releases the addresses and exits 0.

Options:
  --config FILE          the objects to run (required)
  --node NAME            this node's name in spec.priorities (required)
  --status-socket PATH   serve state and counters as JSON on this UNIX socket
  -h, --help             show this help
`;

export interface AgentArgs {
  config: string;
  node: string;
  statusSocket?: string;
  engine: boolean;
}

export function parseAgentArgs(argv: string[]): AgentArgs | string {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: "string" },
        node: { type: "string" },
        "status-socket": { type: "string" },
        engine: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    return (err as Error).message;
  }
  if (values.help) return "help";
  if (!values.config) return "--config FILE is required";
  if (!values.node) return "--node NAME is required";
  const args: AgentArgs = { config: values.config, node: values.node, engine: values.engine ?? false };
  if (values["status-socket"]) args.statusSocket = values["status-socket"];
  return args;
}

export async function runAgent(argv: string[]): Promise<number> {
  const args = parseAgentArgs(argv);
  if (args === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (typeof args === "string") {
    process.stderr.write(`vipkeeper agent: ${args}\n\n${HELP}`);
    return 2;
  }
  let routers;
  try {
    ({ routers } = loadConfig(args.config));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`vipkeeper agent: ${err.message}\n`);
    return 1;
  }
  const plan = planForNode(routers, args.node);
  if (args.engine) return (await import("../agent/engine-process.ts")).runEngineProcess(plan, args);

  const log = createLogger("agent", { node: args.node });
  for (const s of plan.skipped) log.info(s, `not running ${s.router}: ${s.reason}`);
  if (plan.instances.length === 0) {
    process.stderr.write(`vipkeeper agent: no VirtualRouter in ${args.config} runs on node ${args.node}\n`);
    return 1;
  }
  const { resignInstances } = await import("../agent/resign.ts");
  const entry = process.argv[1]!;
  const supervisor = new Supervisor({
    spawn: () =>
      fork(entry, ["agent", ...argv, "--engine"], { stdio: ["ignore", "inherit", "inherit", "ipc"] }),
    resign: (keys) =>
      resignInstances(
        plan.instances.filter((i) => keys.includes(i.key)),
        log,
      ),
    log,
  });
  supervisor.start();
  log.info({ instances: plan.instances.map((i) => i.key) }, "agent started");
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, "stopping");
      void supervisor.stop().then(resolve);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  log.info("agent stopped");
  return 0;
}
