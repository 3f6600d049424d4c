// src/kube's costs, against the in-process API server (test/kubeapi):
//   queue: adds, and keys handed to 4 workers with an async no-op handler, per second (100,000
//     adds over 10,000 keys, yielding every 1,000 adds; calls < adds when keys were deduped).
//   informer: time from a create's response to the informer's add handler, p50/p99 over N creates
//     (0 when the watch event came before the response).
//   failover: time from the leader's stop() (which releases the lease) to the follower leading,
//     with a 2 s retry period; and, for contrast, the time a follower waits out a leader that
//     vanished without releasing (15 s lease).
//
//   node bench/kube.ts [--creates 500] [--runs 5] [--expiry]
import { parseArgs } from "node:util";
import { CoreV1Api, type V1ConfigMap } from "@kubernetes/client-node";
import { pino } from "pino";
import { SupervisedInformer } from "../src/kube/informer.ts";
import { LeaderElector } from "../src/kube/leader-election.ts";
import { LeaseApi } from "../src/kube/leases.ts";
import { WorkQueue } from "../src/kube/work-queue.ts";
import { startApiServer } from "../test/kubeapi/server.ts";

const { values } = parseArgs({
  options: {
    creates: { type: "string", default: "500" },
    runs: { type: "string", default: "5" },
    expiry: { type: "boolean", default: false },
  },
});
const log = pino({ level: "silent" });
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * q)]!;

async function queue(): Promise<{ addsPerS: number; callsPerS: number; calls: number }> {
  const q = new WorkQueue<string>();
  let calls = 0;
  const done = q.run(4, async () => {
    calls++;
    await Promise.resolve();
  });
  const t0 = performance.now();
  for (let i = 0; i < 100_000; i++) {
    q.add(`k${i % 10_000}`);
    if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
  }
  q.shutDown();
  await done;
  const s = (performance.now() - t0) / 1000;
  return { addsPerS: 100_000 / s, callsPerS: calls / s, calls };
}

async function informer(n: number): Promise<{ p50: number; p99: number }> {
  const api = await startApiServer();
  const core = api.kubeConfig().makeApiClient(CoreV1Api);
  const inf = new SupervisedInformer<V1ConfigMap>(api.rest(), {
    path: "/api/v1/namespaces/vkku-bench/configmaps",
    log,
  });
  const seen = new Map<string, number>();
  inf.on("add", (o) => seen.set(o.metadata!.name!, performance.now()));
  await inf.start();
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const name = `c${i}`;
    await core.createNamespacedConfigMap({ namespace: "vkku-bench", body: { metadata: { name } } });
    const created = performance.now();
    while (!seen.has(name)) await new Promise((r) => setImmediate(r));
    lat.push(Math.max(0, seen.get(name)! - created));
  }
  inf.stop();
  await api.close();
  return { p50: quantile(lat, 0.5), p99: quantile(lat, 0.99) };
}

async function failover(release: boolean): Promise<number> {
  const api = await startApiServer();
  const coordination = new LeaseApi(api.rest());
  let tookOver = 0;
  const make = (identity: string, onStart: () => void) =>
    new LeaderElector(coordination, {
      namespace: "vkku-bench",
      name: "bench",
      identity,
      log,
      onStartedLeading: onStart,
      onStoppedLeading: () => {},
    });
  const a = make("a", () => {});
  void a.run();
  while (!a.isLeader) await new Promise((r) => setTimeout(r, 10));
  const b = make("b", () => (tookOver = performance.now()));
  void b.run();
  await new Promise((r) => setTimeout(r, 3000)); // b has seen a holding the lease
  const t0 = performance.now();
  if (release) await a.stop();
  else {
    // a vanishes without a word: its lease is not renewed, not released.
    const api2 = a as unknown as { stopped: boolean; timer: NodeJS.Timeout };
    api2.stopped = true;
    clearTimeout(api2.timer);
  }
  while (!tookOver) await new Promise((r) => setTimeout(r, 10));
  await b.stop();
  await api.close();
  return tookOver - t0;
}

const runs = Number(values.runs);
const qs = [];
for (let i = 0; i < runs; i++) qs.push(await queue());
console.log(
  `queue: ${Math.round(
    quantile(
      qs.map((q) => q.addsPerS),
      0.5,
    ),
  )} adds/s, ` +
    `${Math.round(
      quantile(
        qs.map((q) => q.callsPerS),
        0.5,
      ),
    )} handler calls/s (${qs[0]!.calls} calls for 100000 adds), median of ${runs}`,
);
const inf = await informer(Number(values.creates));
console.log(`informer: create → add handler p50 ${inf.p50.toFixed(2)} ms, p99 ${inf.p99.toFixed(2)} ms`);
const fo: number[] = [];
for (let i = 0; i < Math.min(runs, 3); i++) fo.push(await failover(true));
console.log(`failover after release: ${fo.map((x) => Math.round(x)).join(", ")} ms (retry period 2000 ms)`);
if (values.expiry)
  console.log(`failover without release: ${Math.round(await failover(false))} ms (lease 15000 ms)`);
