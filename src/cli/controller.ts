// `vipkeeper controller`: the cluster's planner (one leader at a time, by a Lease).
import { parseArgs } from "node:util";
import type { ControllerArgs } from "../controller/main.ts";
import { LISTEN_ADDRESS } from "../observe/http-endpoint.ts";

const HELP = `Usage: vipkeeper controller [options]

Plans every VirtualRouter (nodes, priorities, VRIDs, unicast peers, conflicts), reports status
and Events, releases addresses before a router is deleted, and keeps the agents' DaemonSet on the
nodes that routers select. Runs in the cluster (in-cluster config) or from KUBECONFIG.

Options:
  --namespace NS          where the controller, its Lease and the agents run (default: $POD_NAMESPACE or vipkeeper)
  --agent-config FILE     the agents' settings (image, tolerations, resources, scripts...)
  --kubeconfig FILE       use this kubeconfig instead of the in-cluster or default one
  --metrics ADDR          serve Prometheus metrics on HOST:PORT at /metrics
  --health ADDR           serve /healthz and /readyz on HOST:PORT
  --no-leader-elect       run without a Lease (a single replica only)
  --no-agents             do not manage the agents' DaemonSet (agents installed otherwise)
  --no-lb-provider        do not give LoadBalancer Services addresses from IPPools
  --default-lb-class      also serve LoadBalancer Services without a loadBalancerClass
  -h, --help              show this help
`;

export function parseControllerArgs(argv: string[], env = process.env): ControllerArgs | string {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        namespace: { type: "string" },
        "agent-config": { type: "string" },
        kubeconfig: { type: "string" },
        metrics: { type: "string" },
        health: { type: "string" },
        "no-leader-elect": { type: "boolean" },
        "no-agents": { type: "boolean" },
        "no-lb-provider": { type: "boolean" },
        "default-lb-class": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    return (err as Error).message;
  }
  if (values.help) return "help";
  for (const flag of ["metrics", "health"] as const)
    if (values[flag] !== undefined && !LISTEN_ADDRESS.test(values[flag]))
      return `--${flag}: '${values[flag]}' is not HOST:PORT`;
  const args: ControllerArgs = {
    namespace: values.namespace ?? env.POD_NAMESPACE ?? "vipkeeper",
    leaderElect: !values["no-leader-elect"],
    manageAgents: !values["no-agents"],
    lbProvider: !values["no-lb-provider"],
    defaultLbClass: values["default-lb-class"] ?? false,
    identity: env.POD_NAME ?? `${process.pid}@${env.HOSTNAME ?? "localhost"}`,
  };
  if (values["agent-config"]) args.agentConfig = values["agent-config"];
  if (values.kubeconfig) args.kubeconfig = values.kubeconfig;
  if (values.metrics) args.metricsAddress = values.metrics;
  if (values.health) args.healthAddress = values.health;
  return args;
}

export async function runController(argv: string[]): Promise<number> {
  const args = parseControllerArgs(argv);
  if (args === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (typeof args === "string") {
    process.stderr.write(`vipkeeper controller: ${args}\n\n${HELP}`);
    return 2;
  }
  const { runControllerProcess } = await import("../controller/main.ts");
  const { KubeConfigError } = await import("../kube/rest.ts");
  try {
    return await runControllerProcess(args);
  } catch (err) {
    // A kubeconfig it cannot use: said in one line, not as a crash.
    if (!(err instanceof KubeConfigError)) throw err;
    process.stderr.write(`vipkeeper controller: ${err.message}\n`);
    return 2;
  }
}
