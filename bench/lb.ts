// The nftables dataplane at size: program S services x 10 real servers from nothing (one nft -f
// transaction), then take a real server down and back 20 times (40 changes) through the agent's
// long-lived nft session (each change: the changed slots of one service's named map, deleted and
// added in one transaction); at 100, 1,000 and 10,000 real servers, so any growth is visible.
// Run (root): . scripts/env.sh && node bench/lb.ts   (IPVS, in UML: node bench/lb.ts --backend ipvs)
import { execFileSync, spawnSync } from "node:child_process";
import type { VirtualService } from "../src/lb/model.ts";
import { applyNft, NftSession } from "../src/lb/nft-apply.ts";
import { NftablesPlan, TABLE } from "../src/lb/nftables.ts";

// --backend ipvs: the IPVS dataplane, measured inside User-mode Linux (bench/lb-ipvs.ts).
const backendAt = process.argv.indexOf("--backend");
if (backendAt >= 0 && process.argv[backendAt + 1] === "ipvs") {
  await import("./lb-ipvs.ts");
  process.exit(process.exitCode ?? 0);
}

const NS = "vkbench-lb";
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;

function services(count: number): VirtualService[] {
  return Array.from({ length: count }, (_, i) => ({
    key: `bench/svc-${i}`,
    family: 4 as const,
    address: `198.18.${Math.floor(i / 250) + 10}.${(i % 250) + 1}`,
    port: 80,
    protocol: "tcp" as const,
    scheduler: "wrr" as const,
    forwarding: "nat" as const,
    realServers: Array.from({ length: 10 }, (_, j) => ({
      address: `198.19.${i % 250}.${j + 1}`,
      port: 8080,
      weight: j + 1,
    })),
    inhibitOnFailure: false,
    quorum: 1,
    hysteresis: 0,
  }));
}

console.log("| real servers | program from nothing | health flip, median | health flip, p99 |");
console.log("| --- | --- | --- | --- |");
for (const count of [10, 100, 1000]) {
  spawnSync("ip", ["netns", "del", NS]);
  execFileSync("ip", ["netns", "add", NS]);
  try {
    const list = services(count);
    const plan = new NftablesPlan(list);
    const t0 = performance.now();
    await applyNft(plan.initial(), NS);
    const program = performance.now() - t0;
    const session = new NftSession(TABLE, NS);
    await session.apply(plan.setHealth(list[0]!.key, "198.19.0.1:8080", false)); // warm the session
    await session.apply(plan.setHealth(list[0]!.key, "198.19.0.1:8080", true));
    const flips: number[] = [];
    // Each round takes one server down and brings it back: two real changes.
    for (let k = 0; k < 20; k++) {
      const svc = list[(k * 7919) % list.length]!;
      const server = `${svc.realServers[k % 10]!.address}:8080`;
      for (const healthy of [false, true]) {
        const t = performance.now();
        const script = plan.setHealth(svc.key, server, healthy);
        if (!script) throw new Error("a flip that changes nothing measures nothing");
        await session.apply(script);
        flips.push(performance.now() - t);
      }
    }
    session.close();
    console.log(
      `| ${count * 10} | ${program.toFixed(0)} ms | ${median(flips).toFixed(2)} ms | ${p99(flips).toFixed(2)} ms |`,
    );
  } finally {
    spawnSync("ip", ["netns", "del", NS]);
  }
}
process.exit(0);
