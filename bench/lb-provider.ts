// The LoadBalancer provider's cost, against the in-process API server (test/kubeapi), or with
// --real against a real kube-apiserver (scripts/kube-up.sh, a fresh one per cold start):
//   cold start: 1,000 Services of type LoadBalancer and one IPPool; a controller that starts with
//   nothing allocates and publishes every address: time until every Service shows one and the
//   generated VirtualRouters hold every address (255 at most each).
//   create-to-answer: in the lab (2 nodes, real agents, everything already running), the time from
//   creating a Service to its address answering HTTP from the lab's client.
//
//   create-to-answer runs on the in-process server only.
//
//   node bench/lb-provider.ts [--services 1000] [--runs 3] [--real]
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { apiServer, startController } from "./api-server.ts";
import { inProcessCluster } from "../test/support/cluster-lab.ts";

const { values } = parseArgs({
  options: {
    services: { type: "string", default: "1000" },
    runs: { type: "string", default: "3" },
    real: { type: "boolean", default: false },
  },
});
const SERVICES = Number(values.services);
const RUNS = Number(values.runs);
const BACKEND = join(import.meta.dirname, "../src/lab/http-backend.ts");
const POOLS = { group: "vipkeeper.io", version: "v1alpha1", plural: "ippools" };
const VRS = { group: "vipkeeper.io", version: "v1alpha1", plural: "virtualrouters" };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pool = (addresses: string[], extra: object = {}) => ({
  ...POOLS,
  body: {
    apiVersion: "vipkeeper.io/v1alpha1",
    kind: "IPPool",
    metadata: { name: "bench" },
    spec: { addresses, ...extra },
  },
});

async function coldStart(): Promise<number> {
  const { api, kubeconfig } = await apiServer(values.real);
  const kc = api.kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  await kc.makeApiClient(CustomObjectsApi).createClusterCustomObject(pool(["198.18.16.0/20"]));
  for (let i = 0; i < 10; i++) await core.createNamespace({ body: { metadata: { name: `ns-${i}` } } });
  for (let i = 0; i < SERVICES; i++)
    await core.createNamespacedService({
      namespace: `ns-${i % 10}`,
      body: {
        metadata: { name: `svc-${i}`, namespace: `ns-${i % 10}` },
        spec: { type: "LoadBalancer", loadBalancerClass: "vipkeeper.io/vrrp", ports: [{ port: 80 }] },
      },
    });
  const started = performance.now();
  const child = startController(kubeconfig(), []);
  // Done when every Service shows an address and the generated routers hold every address.
  const custom = kc.makeApiClient(CustomObjectsApi);
  let published: number | undefined;
  for (;;) {
    // Once a second: a list of 1,000 Services is work for the server, which shares the cores.
    await sleep(1000);
    const list = await core.listServiceForAllNamespaces();
    const done = list.items.filter((s) => s.status?.loadBalancer?.ingress?.length).length;
    if (done === SERVICES) published ??= performance.now() - started;
    const routers = (await custom.listClusterCustomObject({ ...VRS })) as {
      items: { spec: { addresses: unknown[] } }[];
    };
    const announced = routers.items.reduce((n, r) => n + r.spec.addresses.length, 0);
    if (published !== undefined && announced === SERVICES) break;
    if (performance.now() - started > 120_000)
      throw new Error(`after 120 s: ${done} of ${SERVICES} published, ${announced} in routers`);
  }
  const ms = performance.now() - started;
  console.log(
    `  every Service's address published after ${(published / 1000).toFixed(2)} s, all in generated routers after ${(ms / 1000).toFixed(2)} s`,
  );
  child.kill("SIGKILL");
  await api.close();
  return ms;
}

async function createToAnswer(): Promise<number[]> {
  const c = await inProcessCluster("vkbl", 2);
  const out: number[] = [];
  try {
    const core = c.api.kubeConfig().makeApiClient(CoreV1Api);
    await c.api
      .kubeConfig()
      .makeApiClient(CustomObjectsApi)
      .createClusterCustomObject(
        pool(["198.18.0.200-198.18.0.220"], { announce: { routers: 2, advertInterval: "100ms" } }),
      );
    for (const n of c.lab.nodes) c.lab.spawn(n.name, [process.execPath, BACKEND, "8080", n.name]);
    c.startController();
    for (const n of c.lab.nodes) c.startAgent(n.name);
    await sleep(3000);
    for (let run = 0; run < RUNS; run++) {
      const t0 = performance.now();
      await core.createNamespacedService({
        namespace: "bench",
        body: {
          metadata: { name: `s-${run}` },
          spec: { type: "LoadBalancer", loadBalancerClass: "vipkeeper.io/vrrp", ports: [{ port: 8080 }] },
        },
      });
      let ip: string | undefined;
      for (;;) {
        ip ??= (await core.readNamespacedService({ namespace: "bench", name: `s-${run}` })).status
          ?.loadBalancer?.ingress?.[0]?.ip;
        if (ip) {
          try {
            if (
              /^n\d$/.test(
                c.lab.exec("client", ["curl", "-s", "--max-time", "0.2", `http://${ip}:8080/`]).trim(),
              )
            )
              break;
          } catch {
            // not yet
          }
        }
        if (performance.now() - t0 > 30_000) throw new Error(`no answer for s-${run}\n${c.dump()}`);
        await sleep(5);
      }
      out.push(performance.now() - t0);
    }
  } finally {
    await c.destroy();
  }
  return out;
}

const cold: number[] = [];
for (let i = 0; i < RUNS; i++) cold.push(await coldStart());
console.log(
  `cold start, ${SERVICES} LoadBalancer Services: median ${(median(cold) / 1000).toFixed(2)} s (runs: ${cold.map((m) => (m / 1000).toFixed(2)).join(", ")} s)`,
);
console.log(
  `API server: ${values.real ? "real kube-apiserver (scripts/kube-up.sh)" : "in-process (test/kubeapi)"}`,
);
if (values.real) console.log("create-to-answer: run without --real");
else if (process.getuid?.() === 0) {
  const a = await createToAnswer();
  console.log(
    `Service created to its address answering (lab): median ${Math.round(median(a))} ms (runs: ${a.map(Math.round).join(", ")} ms)`,
  );
} else console.log("create-to-answer skipped: needs root for the lab");
