// CPU of the VRRP engine against keepalived's, on the same keepalived.conf: N routers (default 255,
// each its own VRID and address) at 100 ms adverts (VRRPv3), on two lab nodes: n1 master of every
// router (priority 150), n2 backup (100), so that one node's cost is sending and the other's is
// receiving. Once every router is master on n1 (and n1 only) and a settle time has passed, the CPU
// seconds (utime + stime from /proc/PID/stat) of every process in each node's namespace are
// counted over --seconds, for `vipkeeper agent --config` (all its processes: the main process and
// the engine) and for `keepalived --vrrp` (its parent and VRRP child), one after the other, each
// --runs times. Also the packets each node's eth0 sent and received per second, to show that both
// did the same work. Exits 1 when a node's ratio (vipkeeper / keepalived, medians over the runs)
// is over --ceiling (1.5, issue #17).
// Run (root): . scripts/env.sh && npm run build && node bench/cpu.ts [--routers 255] [--seconds 60]
//   [--settle 10] [--runs 1] [--ceiling 1.5] [--prefix vkcpu-] [--pin]
import { readFileSync, readdirSync, writeFileSync, mkdtempSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { ChildProcess } from "node:child_process";
import { Lab } from "../src/lab/lab.ts";
import { startAgent, waitUntil } from "../test/support/agents.ts";
import { keepalivedCommand } from "../test/interop/keepalived.ts";

const { values } = parseArgs({
  options: {
    routers: { type: "string", default: "255" },
    seconds: { type: "string", default: "60" },
    settle: { type: "string", default: "10" },
    runs: { type: "string", default: "1" },
    ceiling: { type: "string", default: "1.5" },
    only: { type: "string" }, // vipkeeper | keepalived (a profiling aid)
    // The lab's namespace prefix: a lab removes stale namespaces of its prefix when it starts, so
    // two people benching on one machine need two prefixes.
    prefix: { type: "string", default: "vkcpu-" },
    // Each node's processes on a CPU of their own for the measurement (n1 on CPU 0, n2 on CPU 1),
    // as two hosts are: see BENCHMARKS.md for why and for both figures.
    pin: { type: "boolean", default: false },
  },
});
const ROUTERS = Number(values.routers);
const SECONDS = Number(values.seconds);
const SETTLE_S = Number(values.settle);
const RUNS = Number(values.runs);
const CEILING = Number(values.ceiling);
if (!(ROUTERS >= 1 && ROUTERS <= 255)) throw new Error("--routers: 1..255 (one VRID each)");
const NODES = ["n1", "n2"] as const;
const PRIORITY = { n1: 150, n2: 100 };
const TICK = 100; // USER_HZ: /proc/PID/stat counts in clock ticks (getconf CLK_TCK)

type Impl = "vipkeeper" | "keepalived";
const vip = (i: number) => `198.19.0.${i}`;

/** One file for both nodes: `@n1` / `@n2` lines give each its priority (keepalived's -i). */
const conf = () =>
  [
    "global_defs {",
    "  vrrp_version 3",
    "}",
    ...Array.from({ length: ROUTERS }, (_, k) => {
      const i = k + 1;
      return `vrrp_instance VI_${i} {
    interface eth0
    state BACKUP
    @n1 priority ${PRIORITY.n1}
    @n2 priority ${PRIORITY.n2}
    virtual_router_id ${i}
    advert_int 0.1
    virtual_ipaddress {
        ${vip(i)}/32
    }
}`;
    }),
  ].join("\n") + "\n";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** utime and stime of a process, in seconds; 0 when gone. */
function cpuTimes(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command (which may hold spaces), from field 3 on: utime is 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(fields[11]) / TICK, system: Number(fields[12]) / TICK };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** Context switches of a process, all its threads: voluntary (it slept: a wakeup each) and not. */
function switches(pid: number): { voluntary: number; involuntary: number } {
  let voluntary = 0;
  let involuntary = 0;
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      const status = readFileSync(`/proc/${pid}/task/${t}/status`, "utf8");
      voluntary += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    }
  } catch {
    // gone: counts as none
  }
  return { voluntary, involuntary };
}

const comm = (pid: number) => {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return argv.some((a) => a.includes("engine-main")) ? "engine" : (argv[0]?.split("/").pop() ?? "?");
  } catch {
    return "gone";
  }
};

function netStats(lab: Lab, node: string): { tx: number; rx: number } {
  const read = (what: string) =>
    Number(lab.exec(node, ["cat", `/sys/class/net/eth0/statistics/${what}_packets`]).trim());
  return { tx: read("tx"), rx: read("rx") };
}

function start(lab: Lab, impl: Impl, file: string, node: string): ChildProcess {
  if (impl === "vipkeeper") return startAgent(lab, node, file).child;
  const { argv } = keepalivedCommand(readFileSync(file, "utf8"), { configId: node, logDetail: false });
  const child = lab.spawn(node, argv);
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

/** Leaves the node holding none of the virtual addresses (whatever a killed process left). */
function clearAddresses(lab: Lab, node: string): void {
  const held = new Set(lab.addresses(node));
  const lines = Array.from({ length: ROUTERS }, (_, k) => vip(k + 1))
    .filter((a) => held.has(a))
    .map((a) => `addr del ${a}/32 dev eth0`);
  if (lines.length) lab.exec(node, ["ip", "-force", "-batch", "-"], lines.join("\n"));
}

interface NodeResult {
  cpuPerMin: number;
  processes: string;
  txPerS: number;
  rxPerS: number;
}

async function measure(lab: Lab, impl: Impl, file: string): Promise<Record<string, NodeResult>> {
  for (const n of NODES) clearAddresses(lab, n);
  const children = NODES.map((n) => start(lab, impl, file, n));
  const all = Array.from({ length: ROUTERS }, (_, k) => vip(k + 1));
  const output: string[] = [];
  for (const c of children)
    for (const stream of [c.stdout, c.stderr])
      stream?.on(
        "data",
        (d: Buffer) =>
          output.push(...d.toString().split("\n").slice(-5)) && output.splice(0, output.length - 20),
      );
  try {
    await waitUntil(
      () => {
        const n1 = new Set(lab.addresses("n1"));
        return all.every((a) => n1.has(a));
      },
      120_000,
      `${impl}: ${ROUTERS} masters on n1`,
    );
  } catch (err) {
    const held = (n: string) => lab.addresses(n).filter((a) => a.startsWith("198.19.")).length;
    console.log(`${impl}: n1 holds ${held("n1")}, n2 ${held("n2")}; last output:\n${output.join("\n")}`);
    throw err;
  }
  await sleep(SETTLE_S * 1000);
  const n2Held = lab.addresses("n2").filter((a) => a.startsWith("198.19."));
  if (n2Held.length) throw new Error(`${impl}: n2 holds ${n2Held.length} virtual addresses`);
  const pids = Object.fromEntries(NODES.map((n) => [n, lab.pids(n)]));
  if (values.pin)
    NODES.forEach((n, cpu) => {
      for (const p of pids[n]!)
        execFileSync("taskset", ["-a", "-p", String(1 << cpu), String(p)], { stdio: "ignore" });
    });
  const before = Object.fromEntries(NODES.map((n) => [n, pids[n]!.map(cpuTimes)]));
  const switchesBefore = Object.fromEntries(NODES.map((n) => [n, pids[n]!.map(switches)]));
  const netBefore = Object.fromEntries(NODES.map((n) => [n, netStats(lab, n)]));
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const elapsedS = (performance.now() - t0) / 1000;
  const out: Record<string, NodeResult> = {};
  for (const n of NODES) {
    const per = pids[n]!.map((p, i) => {
      const [t, b] = [cpuTimes(p), before[n]![i]!];
      const [w, v] = [switches(p), switchesBefore[n]![i]!];
      return {
        p,
        user: t.user - b.user,
        system: t.system - b.system,
        wakeups: (w.voluntary - v.voluntary) / elapsedS,
        preempted: (w.involuntary - v.involuntary) / elapsedS,
      };
    });
    const total = per.reduce((s, x) => s + x.user + x.system, 0);
    const perMin = (x: number) => ((x * 60) / elapsedS).toFixed(2);
    const net = netStats(lab, n);
    out[n] = {
      cpuPerMin: (total * 60) / elapsedS,
      processes: per
        .map(
          (x) =>
            `${comm(x.p)} ${perMin(x.user + x.system)} = user ${perMin(x.user)} + sys ${perMin(x.system)}, ${Math.round(x.wakeups)} wakeups/s, ${Math.round(x.preempted)} preempted/s`,
        )
        .join(", "),
      txPerS: Math.round((net.tx - netBefore[n]!.tx) / elapsedS),
      rxPerS: Math.round((net.rx - netBefore[n]!.rx) / elapsedS),
    };
  }
  // Graceful first (both resign and release), then whatever is left.
  for (const c of children) c.kill("SIGTERM");
  await Promise.race([
    Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(0) : c.once("exit", r))))),
    sleep(8000),
  ]);
  // Until nothing is left in either namespace (a process started meanwhile would run on into the
  // next measurement).
  for (let i = 0; i < 50 && NODES.some((n) => lab.pids(n).length > 0); i++) {
    for (const n of NODES) lab.killAll(n);
    await sleep(100);
  }
  const left = NODES.flatMap((n) => lab.pids(n));
  if (left.length) throw new Error(`${impl}: processes ${left.join(", ")} would not die`);
  return out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const dir = mkdtempSync(join(tmpdir(), "vk-cpu-"));
const file = join(dir, "keepalived.conf");
writeFileSync(file, conf());
const lab = Lab.create({ prefix: values.prefix, nodes: 2 });
lab.destroyOnExit();
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
console.log(
  `${ROUTERS} routers at 100 ms (VRRPv3), n1 master (priority 150), n2 backup (100); ${SECONDS} s measured after ${SETTLE_S} s settled; ${RUNS} run(s); ${values.pin ? "n1 on CPU 0, n2 on CPU 1" : "not pinned"}; load average ${load()}`,
);
const impls: Impl[] = values.only ? [values.only as Impl] : ["vipkeeper", "keepalived"];
const results: Record<Impl, Record<string, NodeResult>[]> = { vipkeeper: [], keepalived: [] };
let exit = 0;
try {
  for (let run = 1; run <= RUNS; run++) {
    for (const impl of impls) {
      const r = await measure(lab, impl, file);
      results[impl].push(r);
      for (const n of NODES)
        console.log(
          `run ${run} ${impl.padEnd(10)} ${n}: ${r[n]!.cpuPerMin.toFixed(2)} CPU s/min (${r[n]!.processes}); eth0 ${r[n]!.txPerS} tx/s, ${r[n]!.rxPerS} rx/s`,
        );
    }
  }
  if (impls.length === 2) {
    console.log(`\nload average at the end ${load()}`);
    console.log("| node | vipkeeper CPU s/min | keepalived CPU s/min | ratio (medians) | per run |");
    console.log("| --- | --- | --- | --- | --- |");
    for (const n of NODES) {
      const v = results.vipkeeper.map((r) => r[n]!.cpuPerMin);
      const k = results.keepalived.map((r) => r[n]!.cpuPerMin);
      const ratio = median(v) / median(k);
      const perRun = v.map((x, i) => (x / k[i]!).toFixed(2)).join(", ");
      const range = (xs: number[]) =>
        xs.length > 1
          ? `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})`
          : xs[0]!.toFixed(2);
      const role = n === "n1" ? "n1 (master)" : "n2 (backup)";
      console.log(`| ${role} | ${range(v)} | ${range(k)} | ${ratio.toFixed(2)} | ${perRun} |`);
      if (ratio > CEILING) {
        console.log(`${role}: ratio ${ratio.toFixed(2)} is over the ceiling ${CEILING}`);
        exit = 1;
      }
    }
    if (exit === 0) console.log(`both ratios within the ceiling ${CEILING}`);
  }
} finally {
  lab.destroy();
}
process.exit(exit);
