// The controller's cost, against the in-process API server (test/kubeapi), or with --real against
// a real kube-apiserver (scripts/kube-up.sh, one per cold start; admin credentials throughout):
//   cold start: 1,000 VirtualRouters over 50 Nodes (20 subnets of 50 routers) reconciled from a
//   controller that starts with nothing: time until every router has its VRID and conditions.
//   apply-to-master: in the lab (2 nodes, real agents), the time from creating one router to its
//   status naming a master, with everything already running; the VRRP part of it (election at
//   100 ms adverts) is measured beside it.
//
//   node bench/controller.ts [--routers 1000] [--nodes 50] [--runs 3] [--real]
import { parseArgs } from "node:util";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { inProcessCluster } from "../test/support/cluster-lab.ts";
import { ClusterLab } from "../src/lab/cluster-lab.ts";
import { apiServer, startController } from "./api-server.ts";

const { values } = parseArgs({
  options: {
    routers: { type: "string", default: "1000" },
    nodes: { type: "string", default: "50" },
    runs: { type: "string", default: "3" },
    real: { type: "boolean", default: false },
  },
});
const REAL = values.real;
const ROUTERS = Number(values.routers);
const NODES = Number(values.nodes);
const RUNS = Number(values.runs);
const VR = { group: "vipkeeper.io", version: "v1alpha1", plural: "virtualrouters" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function coldStart(): Promise<{ ms: number; cpuMs: number }> {
  const { api, kubeconfig } = await apiServer(REAL);
  const kc = api.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  for (let i = 0; i < NODES; i++)
    await core.createNode({
      body: {
        metadata: { name: `node-${i}`, labels: { zone: `z${i % 5}` } },
        status: { addresses: [{ type: "InternalIP", address: `198.18.${100 + (i >> 8)}.${i & 255}` }] },
      },
    });
  for (let i = 0; i < ROUTERS; i++)
    await custom.createClusterCustomObject({
      ...VR,
      body: {
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "VirtualRouter",
        metadata: { name: `r-${i}` },
        spec: {
          addresses: [{ address: `198.18.${i % 20}.${10 + Math.floor(i / 20)}/24` }],
          nodeSelector: { zone: `z${i % 5}` },
        },
      },
    });
  const started = performance.now();
  const child = startController(kubeconfig(), ["--no-lb-provider"]);
  let done = 0;
  while (done < ROUTERS) {
    // A full list is itself work for the (in-process) API server: poll gently.
    await sleep(250);
    const list = (await custom.listClusterCustomObject(VR)) as {
      items: { status?: { vrid?: number; conditions?: unknown[] } }[];
    };
    done = list.items.filter((r) => r.status?.vrid !== undefined && r.status.conditions?.length).length;
    if (performance.now() - started > 120_000)
      throw new Error(`cold start: only ${done} of ${ROUTERS} after 120 s`);
  }
  const ms = performance.now() - started;
  const usage = await new Promise<number>((resolve) => {
    // CPU of the controller process, from /proc (user + system ticks).
    import("node:fs").then(
      ({ readFileSync }) => {
        const f = readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
        resolve(((Number(f[11]) + Number(f[12])) * 1000) / 100);
      },
      () => resolve(NaN),
    );
  });
  child.kill("SIGKILL");
  await api.close();
  return { ms, cpuMs: usage };
}

async function applyToMaster(): Promise<{ toMaster: number[]; toBound: number[] }> {
  const { api, kubeconfig } = REAL ? await apiServer(true) : { api: undefined, kubeconfig: undefined };
  const c =
    api && kubeconfig
      ? await ClusterLab.createWith("vkbc", 2, api, {
          agent: (hostPort) => kubeconfig(hostPort),
          controller: () => kubeconfig(),
        })
      : await inProcessCluster("vkbc", 2);
  const custom = c.api.kubeConfig().makeApiClient(CustomObjectsApi);
  const toMaster: number[] = [];
  const toBound: number[] = [];
  try {
    c.startController();
    for (const n of c.lab.nodes) c.startAgent(n.name);
    await sleep(3000); // everything up and watching
    for (let run = 0; run < RUNS; run++) {
      const name = `b-${run}`;
      const vip = `198.18.0.${60 + run}`;
      const t0 = performance.now();
      await custom.createClusterCustomObject({
        ...VR,
        body: {
          apiVersion: "vipkeeper.io/v1alpha1",
          kind: "VirtualRouter",
          metadata: { name },
          spec: { addresses: [{ address: `${vip}/24` }], advertInterval: "100ms" },
        },
      });
      let bound: number | undefined;
      for (;;) {
        if (bound === undefined && c.lab.holders(vip).length === 1) bound = performance.now() - t0;
        const r = (await custom.getClusterCustomObject({ ...VR, name })) as { status?: { master?: string } };
        if (r.status?.master) break;
        if (performance.now() - t0 > 30_000) throw new Error(`no master for ${name}\n${c.dump()}`);
        await sleep(5);
      }
      toMaster.push(performance.now() - t0);
      toBound.push(bound ?? NaN);
      await custom.deleteClusterCustomObject({ ...VR, name });
      await sleep(1500);
    }
  } finally {
    await c.destroy();
  }
  return { toMaster, toBound };
}

const cold: { ms: number; cpuMs: number }[] = [];
for (let i = 0; i < RUNS; i++) cold.push(await coldStart());
console.log(`API server: ${REAL ? "real kube-apiserver (scripts/kube-up.sh)" : "in-process (test/kubeapi)"}`);
console.log(
  `cold start, ${ROUTERS} VirtualRouters over ${NODES} nodes: median ${(median(cold.map((c) => c.ms)) / 1000).toFixed(2)} s ` +
    `(runs: ${cold.map((c) => (c.ms / 1000).toFixed(2)).join(", ")} s; controller CPU ${cold.map((c) => (c.cpuMs / 1000).toFixed(2)).join(", ")} s)`,
);
if (process.getuid?.() === 0) {
  const a = await applyToMaster();
  console.log(
    `apply to status.master (lab, 2 nodes, 100 ms adverts): median ${Math.round(median(a.toMaster))} ms ` +
      `(runs: ${a.toMaster.map(Math.round).join(", ")} ms); apply to VIP bound: median ${Math.round(median(a.toBound))} ms`,
  );
} else console.log("apply-to-master skipped: needs root for the lab");
