// `vipkeeper agent`: runs this node's VRRP instances from a file. The process the user starts is
// the supervisor; it forks the engine (src/agent/engine-main.ts, given the plan over IPC) and
// outlives it.
import { parseArgs } from "node:util";
import { LISTEN_ADDRESS } from "../observe/http-endpoint.ts";
import { ConfigError, loadConfig } from "../agent/config-file.ts";
import { planForNode } from "../agent/plan.ts";
import type { EngineArgs } from "../agent/engine-process.ts";
import { createLogger } from "../observe/log.ts";

const HELP = `Usage: vipkeeper agent --config FILE --node NAME [options]
       vipkeeper agent --cluster --node NAME [options]

Runs the VRRP instances of node NAME from FILE: YAML documents of VirtualRouter objects, the
same shape as the cluster's (see examples/), or a keepalived.conf (its priorities become
NAME's). Logs JSON lines. SIGTERM or SIGINT resigns
(priority 0), releases the addresses and exits 0.

With --cluster it runs the VirtualRouters that select node NAME, from the Kubernetes API
(in-cluster config, or KUBECONFIG), and reports this node's part of their status.

Options:
  --config FILE          the objects to run (file mode)
  --cluster              take the objects from the Kubernetes API instead
  --node NAME            this node's name (required; in a DaemonSet, from spec.nodeName)
  --namespace NS         cluster mode: the agent's namespace, for its Lease and VRRP password
                         Secrets (default: $POD_NAMESPACE or vipkeeper)
  --kubeconfig FILE      cluster mode: use this kubeconfig
  --allow-scripts        cluster mode: run track and notify scripts that objects name (as root)
  --status-socket PATH   serve state and counters as JSON on this UNIX socket
  --metrics ADDR         serve Prometheus metrics on HOST:PORT (e.g. :9650) at /metrics
  --lb-backend B         load balancer dataplane: auto (IPVS if the kernel has it), ipvs,
                         nftables (default auto)
  -h, --help             show this help
`;

export interface AgentArgs {
  /** File mode: the file; absent in cluster mode. */
  config?: string;
  cluster?: { namespace: string; kubeconfig?: string; allowScripts: boolean };
  node: string;
  statusSocket?: string;
  metricsAddress?: string;
  lbBackend?: "auto" | "ipvs" | "nftables";
}

export function parseAgentArgs(argv: string[]): AgentArgs | string {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: "string" },
        cluster: { type: "boolean" },
        namespace: { type: "string" },
        kubeconfig: { type: "string" },
        "allow-scripts": { type: "boolean" },
        node: { type: "string" },
        "status-socket": { type: "string" },
        metrics: { type: "string" },
        "lb-backend": { type: "string" },
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
  const args: AgentArgs = { node: values.node };
  const lbBackend = values["lb-backend"];
  if (lbBackend !== undefined) {
    if (lbBackend !== "auto" && lbBackend !== "ipvs" && lbBackend !== "nftables")
      return `--lb-backend: '${lbBackend}' is not one of auto, ipvs, nftables`;
    args.lbBackend = lbBackend;
  }
  if (values.config) args.config = values.config;
  else
    args.cluster = {
      namespace: values.namespace ?? process.env.POD_NAMESPACE ?? "vipkeeper",
      allowScripts: values["allow-scripts"] ?? false,
      ...(values.kubeconfig ? { kubeconfig: values.kubeconfig } : {}),
    };
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
  if (args.cluster) {
    const { runClusterAgent } = await import("../agent/cluster-main.ts");
    const engineArgs: EngineArgs = { node: args.node };
    return runClusterAgent({
      node: args.node,
      ...args.cluster,
      engineArgs,
      ...(args.metricsAddress ? { metricsAddress: args.metricsAddress } : {}),
      ...(args.lbBackend ? { lbBackend: args.lbBackend } : {}),
    });
  }
  const file = args.config!;
  let routers, notes, virtualServers, realServerScripts;
  try {
    ({ routers, notes, virtualServers, realServerScripts } = loadConfig(file, args.node));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`vipkeeper agent: ${err.message}\n`);
    return 1;
  }
  const plan = planForNode(routers, args.node);
  const log = createLogger("agent", { node: args.node });
  for (const s of plan.skipped) log.info(s, `not running ${s.router}: ${s.reason}`);
  for (const n of notes) log.warn(`keepalived.conf: ${n}`);
  if (plan.instances.length === 0 && virtualServers.length === 0) {
    process.stderr.write(`vipkeeper agent: no VirtualRouter in ${file} runs on node ${args.node}\n`);
    return 1;
  }
  const engineArgs: EngineArgs = { node: args.node };
  if (args.statusSocket) engineArgs.statusSocket = args.statusSocket;
  // Metrics are served by this process, for the engine (asked over IPC at each scrape) and the
  // load balancer (which runs here) on one endpoint.
  const { AgentMetrics } = await import("../agent/agent-metrics.ts");
  const { startEngine } = await import("../agent/engines.ts");
  const running: { engine?: Awaited<ReturnType<typeof startEngine>> } = {};
  const metrics = new AgentMetrics(() => new Map(running.engine ? [["engine", running.engine]] : []), {
    node: args.node,
  });
  const engine = await startEngine(plan, engineArgs, log, undefined, (msg) =>
    metrics.onMessage("engine", msg),
  );
  running.engine = engine;
  const metricsServer = args.metricsAddress ? await metrics.serve(args.metricsAddress) : undefined;
  let lb: { stop(): void } | undefined;
  if (virtualServers.length > 0) {
    const { startLoadBalancer, LoadBalancerError } = await import("../agent/load-balancer.ts");
    const { agentLoadBalancerHooks } = await import("../observe/lb-observer.ts");
    const { hooks } = agentLoadBalancerHooks({
      node: args.node,
      log,
      routers,
      virtualServers,
      ...(realServerScripts ? { realServerScripts } : {}),
      registry: metrics.metrics.registry,
    });
    // DR forwards on the interface of the service's VirtualRouter.
    const deviceOf = (routerRef: string | undefined) =>
      routers.find((r) => r.metadata.name === routerRef)?.spec.interface;
    try {
      lb = await startLoadBalancer(virtualServers, log, undefined, hooks, {
        backend: args.lbBackend ?? "auto",
        deviceOf,
      });
    } catch (err) {
      if (!(err instanceof LoadBalancerError)) throw err;
      process.stderr.write(`vipkeeper agent: ${err.message}\n`);
      await engine.stop();
      return 1;
    }
  }
  log.info({ instances: plan.instances.map((i) => i.key) }, "agent started");
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, "stopping");
      void engine.stop().then(resolve);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
  });
  lb?.stop(); // the table stays: a restarted agent replaces it atomically, without a gap
  metricsServer?.close();
  log.info("agent stopped");
  return 0;
}
