// `vipkeeper agent`: runs this node's VRRP instances from a file (src/file-mode/file-agent.ts: engine
// processes forked and supervised by this one) or, with --cluster, from the API.
import { parseArgs } from "node:util";
import { LISTEN_ADDRESS } from "../observe/http-endpoint.ts";
import { ConfigError } from "../agent/config-error.ts";
import type { EngineArgs } from "../engine/engine-process.ts";
import { createLogger } from "../observe/log.ts";
import type { FileAgent as FileAgentType } from "../file-mode/file-agent.ts";
import { configIdProblem } from "../keepalived/syntax.ts";

const HELP = `Usage: vipkeeper agent --config FILE --node NAME [options]
       vipkeeper agent --cluster --node NAME [options]

Runs the VRRP instances of node NAME from FILE: YAML documents of VirtualRouter objects, the
same shape as the cluster's (see examples/), or a keepalived.conf (its priorities become
NAME's; its @ID lines are read for config id NAME up to its first dot, as keepalived takes its
host name's, unless --config-id says otherwise). Logs JSON lines. SIGHUP reads FILE again and
applies what changed (new virtual addresses in place; changed instances restart; a file that
does not load changes nothing). SIGTERM or SIGINT resigns (priority 0), releases the addresses
and exits 0.

With --cluster it runs the VirtualRouters that select node NAME, from the Kubernetes API
(in-cluster config, or KUBECONFIG), and reports this node's part of their status.

Options:
  --config FILE          the objects to run (file mode)
  --config-id ID         file mode: keepalived's config id (-i) for a keepalived.conf's
                         @ID / @^ID lines (default: NAME up to its first dot)
  --cluster              take the objects from the Kubernetes API instead
  --node NAME            this node's name (required; in a DaemonSet, from spec.nodeName)
  --namespace NS         cluster mode: the agent's namespace, for its Lease and VRRP password
                         Secrets (default: $POD_NAMESPACE or vipkeeper)
  --kubeconfig FILE      cluster mode: use this kubeconfig
  --state-dir DIR        cluster mode: keep the last cluster view here, to run the routers of the
                         last plan when the agent starts while the API server is unreachable
                         (default /var/lib/vipkeeper; a host path in the DaemonSet)
  --allow-scripts        cluster mode: run track and notify scripts that routers name, and exec
                         checks of VirtualServers whose router grants allowExec (as root)
  --status-socket PATH   serve state and counters as JSON on this UNIX socket
  --metrics ADDR         serve Prometheus metrics on HOST:PORT (e.g. :9650) at /metrics
  --lb-backend B         load balancer dataplane: auto (IPVS if the kernel has it), ipvs,
                         nftables (default auto)
  --permanent-addresses  bind virtual addresses without a lifetime. By default a master binds
                         them for 2 s and renews them every 500 ms, so that when every vipkeeper
                         process on the node dies the kernel removes them by itself; with this
                         flag the node keeps them until something removes them (keepalived's way)
  --engine-nice N        the VRRP engine process's priority, -20..19 (default -10: ahead of
                         the health checks and the rest of the agent, so a busy node's adverts
                         go out on time; keepalived's vrrp_priority). Needs CAP_SYS_NICE below
                         0; without it the engine runs at the agent's own and logs so. Its
                         scripts run at 0. A negative value goes with "=": --engine-nice=-5
  -h, --help             show this help
`;

export interface AgentArgs {
  /** File mode: the file; absent in cluster mode. */
  config?: string;
  /** File mode: keepalived's config id for a keepalived.conf, when not the node's. */
  configId?: string;
  cluster?: { namespace: string; kubeconfig?: string; allowScripts: boolean; stateDir: string };
  node: string;
  statusSocket?: string;
  metricsAddress?: string;
  lbBackend?: "auto" | "ipvs" | "nftables";
  /** The dead man's switch off: virtual addresses bound without a lifetime. */
  permanentAddresses?: boolean;
  /** The engine process's nice value. */
  engineNice: number;
}

/** The engine's default priority: see --engine-nice. */
export const ENGINE_NICE = -10;

export function parseAgentArgs(argv: string[]): AgentArgs | string {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: "string" },
        "config-id": { type: "string" },
        cluster: { type: "boolean" },
        namespace: { type: "string" },
        kubeconfig: { type: "string" },
        "allow-scripts": { type: "boolean" },
        "state-dir": { type: "string" },
        node: { type: "string" },
        "status-socket": { type: "string" },
        metrics: { type: "string" },
        "lb-backend": { type: "string" },
        "permanent-addresses": { type: "boolean" },
        "engine-nice": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    return (err as Error).message;
  }
  if (values.help) return "help";
  if (!values.config && !values.cluster) return "--config FILE or --cluster is required";
  if (values.config && values.cluster) return "--config and --cluster exclude each other";
  if (!values.node) return "--node NAME is required";
  const args: AgentArgs = { node: values.node, engineNice: ENGINE_NICE };
  const nice = values["engine-nice"];
  if (nice !== undefined) {
    if (!/^-?\d+$/.test(nice) || Number(nice) < -20 || Number(nice) > 19)
      return `--engine-nice: '${nice}' is not a whole number from -20 to 19`;
    args.engineNice = Number(nice);
  }
  const lbBackend = values["lb-backend"];
  if (lbBackend !== undefined) {
    if (lbBackend !== "auto" && lbBackend !== "ipvs" && lbBackend !== "nftables")
      return `--lb-backend: '${lbBackend}' is not one of auto, ipvs, nftables`;
    args.lbBackend = lbBackend;
  }
  if (values["config-id"] !== undefined) {
    if (!values.config) return "--config-id is for a keepalived.conf given with --config";
    const problem = configIdProblem(values["config-id"]);
    if (problem) return problem;
    args.configId = values["config-id"];
  }
  if (values.config) args.config = values.config;
  else
    args.cluster = {
      namespace: values.namespace ?? process.env.POD_NAMESPACE ?? "vipkeeper",
      allowScripts: values["allow-scripts"] ?? false,
      stateDir: values["state-dir"] ?? "/var/lib/vipkeeper",
      ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    };
  if (values["permanent-addresses"]) args.permanentAddresses = true;
  if (values["status-socket"]) args.statusSocket = values["status-socket"];
  if (values.metrics) {
    if (!LISTEN_ADDRESS.test(values.metrics)) return `--metrics: '${values.metrics}' is not HOST:PORT`;
    args.metricsAddress = values.metrics;
  }
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
  const engineArgs: EngineArgs = {
    node: args.node,
    nice: args.engineNice,
    ...(args.permanentAddresses ? { permanentAddresses: true } : {}),
  };
  // Before anything is bound: engines an earlier run left (their agent killed, and they could not
  // end themselves) are ended, and virtual addresses it left bound are removed, whether or not
  // this run still has them (this run starts holding nothing; its masters bind again).
  const { endLeftovers } = await import("../engine/leftovers.ts");
  await endLeftovers(createLogger("agent", { node: args.node }));
  if (args.cluster) {
    // The objects come from the API: SIGHUP (keepalived's reload) has nothing to read again, and
    // must not end the agent (Node's default for it).
    process.on("SIGHUP", () =>
      createLogger("agent", { node: args.node }).info("SIGHUP: nothing to reload in cluster mode"),
    );
    const { runClusterAgent } = await import("../cluster-mode/cluster-main.ts");
    const { KubeConfigError } = await import("../kube/rest.ts");
    try {
      return await runClusterAgent({
        node: args.node,
        ...args.cluster,
        engineArgs,
        ...(args.metricsAddress ? { metricsAddress: args.metricsAddress } : {}),
        ...(args.statusSocket ? { statusSocket: args.statusSocket } : {}),
        ...(args.lbBackend ? { lbBackend: args.lbBackend } : {}),
      });
    } catch (err) {
      // A kubeconfig it cannot use: said in one line, not as a crash.
      if (!(err instanceof KubeConfigError)) throw err;
      process.stderr.write(`vipkeeper agent: ${err.message}\n`);
      return 2;
    }
  }
  const log = createLogger("agent", { node: args.node });
  // Metrics and the status document are served by this process, for the engines (asked over IPC at
  // each request) and the load balancer (which runs here).
  const { AgentMetrics } = await import("../agent/agent-metrics.ts");
  const { FileAgent, FileAgentError } = await import("../file-mode/file-agent.ts");
  const running: { agent?: FileAgentType } = {};
  const metrics = new AgentMetrics(() => running.agent?.running() ?? new Map(), { node: args.node });
  // SIGHUP reads the file again, as keepalived does (`systemctl reload`); by Node's default it would
  // end the agent and leave its engine orphaned. One that comes while starting waits for the start.
  let hupWhileStarting = false;
  const onHup = () => {
    if (!running.agent) {
      hupWhileStarting = true;
      return;
    }
    log.info({ signal: "SIGHUP" }, "reloading the configuration");
    void running.agent.reload();
  };
  process.on("SIGHUP", onHup);
  try {
    running.agent = await FileAgent.start({
      file: args.config!,
      node: args.node,
      ...(args.configId !== undefined ? { configId: args.configId } : {}),
      log,
      engineArgs,
      ...(args.lbBackend ? { lbBackend: args.lbBackend } : {}),
      registry: metrics.metrics.registry,
      onEngineMessage: (engine, msg) => metrics.onMessage(engine, msg),
    });
  } catch (err) {
    if (!(err instanceof ConfigError || err instanceof FileAgentError)) throw err;
    process.off("SIGHUP", onHup);
    process.stderr.write(`vipkeeper agent: ${err.message}\n`);
    return 1;
  }
  const agent = running.agent;
  const metricsServer = args.metricsAddress ? await metrics.serve(args.metricsAddress) : undefined;
  const { serveStatus } = await import("../agent/status-server.ts");
  const statusServer = args.statusSocket
    ? await serveStatus(args.statusSocket, async () => ({ node: args.node, ...(await metrics.status()) }))
    : undefined;
  log.info({ instances: agent.instances() }, "agent started");
  if (hupWhileStarting) onHup();
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, "stopping");
      void agent.stop().then(resolve);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  process.off("SIGHUP", onHup);
  metricsServer?.close();
  statusServer?.close();
  log.info("agent stopped");
  return 0;
}
