// The dead man's switch's cost: 255 virtual addresses held by the engine's AddressKeeper with the
// default lifetime (2 s, renewed every 500 ms) through the agent's rtnetlink client, in a network
// namespace of its own. Reports one renewal round's time (every address re-added with
// NLM_F_REPLACE, one acknowledged request at a time) and the process's CPU while renewing for
// 10 s, against the same process holding the addresses permanently (no renewal).
// Run (root): . scripts/env.sh && node bench/address-renewal.ts
import { execFileSync, spawnSync } from "node:child_process";
import pino from "pino";
import { AddressKeeper, DEFAULT_ADDRESS_LIFETIME } from "../src/engine/address-keeper.ts";
import type { PlannedAddress } from "../src/plan/plan.ts";
import { IFAPROT_VIPKEEPER } from "../src/net/netlink.ts";
import { RtNetlink } from "../src/net/rtnetlink.ts";

const NS = "vkbench-renew";
const COUNT = 255;
const ROUNDS = 40;
const STEADY_MS = 10_000;

function vips(family: 4 | 6): PlannedAddress[] {
  return Array.from({ length: COUNT }, (_, i) => ({
    address:
      family === 4
        ? `198.18.${Math.floor((i + 1) / 256)}.${(i + 1) % 256}`
        : `2001:db8::${(i + 1).toString(16)}`,
    prefixLength: family === 4 ? 16 : 64,
    family,
    dev: "eth0",
  }));
}

/** Inside the namespace: prints one JSON line of figures per family. */
async function inside(ifindex: number): Promise<void> {
  const nl = new RtNetlink();
  const ops = (lifetime: boolean) => ({
    put: (a: PlannedAddress, lifetimeSec: number | undefined) =>
      nl.replaceAddress({
        ifindex,
        family: a.family,
        address: a.address,
        prefixLength: a.prefixLength,
        nodad: true,
        proto: IFAPROT_VIPKEEPER,
        ...(lifetime && lifetimeSec !== undefined ? { lifetimeSec } : {}),
      }),
    remove: (a: PlannedAddress) =>
      nl.removeAddress({ ifindex, family: a.family, address: a.address, prefixLength: a.prefixLength }),
  });
  const log = pino({ level: "silent" });
  for (const family of [4, 6] as const) {
    const list = vips(family);
    // Rounds driven by hand, back to back: the time of one round.
    const keeper = new AddressKeeper(ops(true), DEFAULT_ADDRESS_LIFETIME, log, {
      set: () => ({ cancel: () => undefined }),
    });
    await keeper.bind(list);
    const roundMs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const t0 = performance.now();
      await keeper.renewAll();
      roundMs.push(performance.now() - t0);
    }
    // Steady state on the real timer: CPU per second while renewing every 500 ms.
    const live = new AddressKeeper(ops(true), DEFAULT_ADDRESS_LIFETIME, log);
    await live.bind(list);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, STEADY_MS));
    const cpu = process.cpuUsage(cpu0);
    const wall = performance.now() - t0;
    live.close();
    const present = (await nl.addresses(family)).filter((a) => a.proto === IFAPROT_VIPKEEPER).length;
    // The same addresses held permanently: what the process costs without renewals.
    await keeper.release(list);
    const still = new AddressKeeper(ops(false), undefined, log);
    await still.bind(list);
    const idle0 = process.cpuUsage();
    const i0 = performance.now();
    await new Promise((r) => setTimeout(r, STEADY_MS / 2));
    const idle = process.cpuUsage(idle0);
    const idleWall = performance.now() - i0;
    await still.release(list);
    console.log(
      JSON.stringify({
        family,
        roundMs,
        rounds: live.rounds,
        renewErrors: live.renewErrors,
        present,
        cpuPct: ((cpu.user + cpu.system) / 1000 / wall) * 100,
        idleCpuPct: ((idle.user + idle.system) / 1000 / idleWall) * 100,
      }),
    );
  }
  nl.close();
}

function outside(): void {
  const run = (argv: string[]) => execFileSync(argv[0]!, argv.slice(1));
  spawnSync("ip", ["netns", "del", NS]);
  run(["ip", "netns", "add", NS]);
  try {
    run(["ip", "-n", NS, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"]);
    run(["ip", "-n", NS, "link", "set", "eth0", "up"]);
    run(["ip", "-n", NS, "link", "set", "eth1", "up"]);
    // The node's own address: the virtual ones are secondaries beside it, as on a real node.
    run(["ip", "-n", NS, "addr", "add", "198.18.255.254/16", "dev", "eth0"]);
    const [link] = JSON.parse(run(["ip", "-n", NS, "-j", "link", "show", "eth0"]).toString()) as {
      ifindex: number;
    }[];
    const out = run([
      "ip",
      "netns",
      "exec",
      NS,
      process.execPath,
      import.meta.filename,
      "--inside",
      String(link!.ifindex),
    ]);
    const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)]!;
    const { lifetimeSec, renewMs } = DEFAULT_ADDRESS_LIFETIME;
    console.log(
      `${COUNT} addresses, lifetime ${lifetimeSec} s renewed every ${renewMs} ms; a round = ${COUNT} replace requests, one at a time`,
    );
    for (const line of out.toString().trim().split("\n")) {
      const r = JSON.parse(line) as {
        family: number;
        roundMs: number[];
        rounds: number;
        renewErrors: number;
        present: number;
        cpuPct: number;
        idleCpuPct: number;
      };
      console.log(
        `IPv${r.family}: round median ${pct(r.roundMs, 0.5).toFixed(1)} ms, p90 ${pct(r.roundMs, 0.9).toFixed(1)} ms, max ${Math.max(...r.roundMs).toFixed(1)} ms (${ROUNDS} rounds); ` +
          `renewing for ${STEADY_MS / 1000} s: ${r.rounds} rounds, ${r.renewErrors} errors, ${r.present}/${COUNT} present at the end, ` +
          `process CPU ${r.cpuPct.toFixed(1)} % of a core (holding them permanently: ${r.idleCpuPct.toFixed(1)} %)`,
      );
    }
  } finally {
    spawnSync("ip", ["netns", "del", NS]);
  }
}

if (process.argv[2] === "--inside") await inside(Number(process.argv[3]));
else outside();
