// VirtualServer status cost at 10,000 real servers: a health flip (the agent's main process does
// it for every check that changes, next to the load balancer), and one pass's work per object
// (build the status, serialize it to compare with the last write), and the size of what is written.
// Run: . scripts/env.sh && node bench/vs-status.ts
import type { VirtualServer } from "../src/api/virtual-server.ts";
import { ServiceHealth, virtualServerStatus } from "../src/cluster-mode/vs-status.ts";

const N = 10_000;
const vs: VirtualServer = {
  apiVersion: "vipkeeper.io/v1alpha1",
  kind: "VirtualServer",
  metadata: { name: "big", namespace: "bench" },
  spec: {
    address: "198.18.0.50",
    port: 80,
    routerRef: "web",
    quorum: 100,
    realServers: Array.from({ length: N }, (_, i) => ({
      address: `198.19.${i >> 8}.${i & 255}`,
      port: 8080,
    })),
  },
};
const keys = vs.spec.realServers.map((r) => `${r.address}:${r.port}`);
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const health = new ServiceHealth(vs, Date.now());
const flips: number[] = [];
for (let round = 0; round < 5; round++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) health.set(keys[i]!, round % 2 === 1, Date.now());
  flips.push(Number(process.hrtime.bigint() - t0) / N);
}
console.log(`health flip (${N} servers)        median ${median(flips).toFixed(0)} ns`);

let previous = virtualServerStatus(vs, { kind: "programmed", health }, undefined, Date.now());
const build: number[] = [];
const json: number[] = [];
let bytes = 0;
for (let round = 0; round < 7; round++) {
  health.set(keys[round]!, round % 2 === 0, Date.now());
  const t0 = performance.now();
  previous = virtualServerStatus(vs, { kind: "programmed", health }, previous, Date.now());
  const t1 = performance.now();
  bytes = JSON.stringify(previous).length;
  build.push(t1 - t0);
  json.push(performance.now() - t1);
}
console.log(`status build (${N} servers)       median ${median(build).toFixed(1)} ms`);
console.log(`status serialize (${N} servers)   median ${median(json).toFixed(1)} ms, ${bytes} bytes`);
