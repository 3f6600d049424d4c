// Failover, vipkeeper against keepalived, in one lab and one run: a pair of nodes (priorities 150
// and 100) keeps 198.18.0.50; a client pings it every millisecond; the master suffers a fault.
//   node-failure  SIGKILL of everything on the master and its link down: the client's outage.
//   graceful      SIGTERM of the master's agent: the client's outage.
//   crash         SIGKILL of the VRRP process alone, the node lives on: the time until the old
//                 master no longer holds the address AND, after that, a master answers the client.
// Faults land just after one of the master's adverts (see oneRun).
// For vipkeeper the backup (n2) also serves its metrics, and each run reads the one failover its
// vipkeeper_vrrp_failover_seconds histogram observed, to set beside the client's figure.
// Each row's median is checked against keepalived's of the same run (ceiling()): the last line
// says how many ceilings broke, and the exit status is 1 if any did.
// --routers N: the pair runs N routers (VRIDs 51.., the first keeps 198.18.0.50, the others
// 198.18.1.2..N), all failing over together; the client probes the first.
// Run (root): . scripts/env.sh && node bench/failover.ts [--runs 5] [--intervals 1s,100ms]
//   [--faults node-failure,graceful,crash] [--routers 1] [--prefix vkb-] [--impls vipkeeper,keepalived]
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Lab } from "../src/lab/lab.ts";
import { Probe } from "../src/lab/probe.ts";
import { enginePid, startAgent, writeConfig } from "../test/support/agents.ts";
import { keepalivedCommand, keepalivedConfig } from "../test/interop/keepalived.ts";

type Impl = "vipkeeper" | "keepalived";
type Fault = "node-failure" | "graceful" | "crash";

const VIP = "198.18.0.50";
const IN_FLIGHT_MS = 5;
const PRIORITIES: Record<string, number> = { n1: 150, n2: 100 };
const METRICS_PORT = 9650;

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "5" },
    intervals: { type: "string", default: "1s,100ms" },
    faults: { type: "string", default: "node-failure,graceful,crash" },
    routers: { type: "string", default: "1" },
    prefix: { type: "string", default: "vkb-" },
    impls: { type: "string", default: "vipkeeper,keepalived" },
  },
});
const IMPLS = [...new Set(values.impls.split(","))] as Impl[];
for (const i of IMPLS)
  if (i !== "vipkeeper" && i !== "keepalived")
    throw new Error(`--impls: vipkeeper and/or keepalived, not ${String(i)}`);
/** Ratios and ceilings are against keepalived: only when both ran. */
const BOTH = IMPLS.length === 2;
const RUNS = Number(values.runs);
const ROUTERS = Number(values.routers);
if (!(ROUTERS >= 1 && ROUTERS <= 200)) throw new Error("--routers: 1..200");
/** Router k (0..N-1): VRID 51+k; the first is the one the client probes. */
const ADDRESSES = Array.from({ length: ROUTERS }, (_, k) => (k === 0 ? VIP : `198.18.1.${k + 1}`));
const routerName = (k: number) => (k === 0 ? "bench" : `bench${k + 1}`);
const INTERVALS_MS = values.intervals
  .split(",")
  .map((s) => (s.endsWith("ms") ? Number(s.slice(0, -2)) : Number(s.slice(0, -1)) * 1000));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** A running member of the pair: how to stop it gracefully and how to kill its VRRP process alone. */
interface Member {
  node: string;
  process: ChildProcess;
  vrrpPid(): number | undefined;
}

function startMember(lab: Lab, impl: Impl, node: string, intervalMs: number): Member {
  if (impl === "vipkeeper") {
    const file = writeConfig(
      ADDRESSES.map(
        (address, k) => `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: ${routerName(k)}}
spec:
  vrid: ${51 + k}
  interface: eth0
  advertInterval: ${intervalMs}ms
  addresses: [{address: ${address}/24}]
  priorities: [{node: ${node}, priority: ${PRIORITIES[node]}}]
  garp: {delay: 1s, repeat: 5}
`,
      ).join("---\n"),
    );
    const agent = startAgent(lab, node, file, node === "n2" ? ["--metrics", `:${METRICS_PORT}`] : []);
    return { node, process: agent.child, vrrpPid: () => enginePid(lab, node) };
  }
  const { argv, dir } = keepalivedCommand(
    keepalivedConfig(
      ADDRESSES.map((address, k) => ({
        name: routerName(k),
        version: 3 as const,
        vrid: 51 + k,
        priority: PRIORITIES[node]!,
        interfaceName: "eth0",
        advertIntervalS: intervalMs / 1000,
        addresses: [`${address}/24`],
      })),
      node,
    ),
  );
  const child = lab.spawn(node, argv);
  child.stdout?.resume();
  child.stderr?.resume();
  return {
    node,
    process: child,
    vrrpPid: () => {
      try {
        return Number(readFileSync(join(dir, "vrrp.pid"), "utf8").trim());
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * tcpdump on the client's eth0, line-buffered, with link-level headers and epoch timestamps; in
 * immediate mode, as libpcap otherwise hands packets over in blocks (tens of ms late here, which
 * moved the faults off their phase).
 */
function clientTcpdump(lab: Lab, filter: string): ChildProcess {
  const child = spawn("ip", [
    "netns",
    "exec",
    lab.node("client").ns,
    "tcpdump",
    "-l",
    "--immediate-mode",
    "-n",
    "-e",
    "-tt",
    "-i",
    "eth0",
    filter,
  ]);
  child.stderr?.resume();
  return child;
}

/**
 * Resolves just after the client sees the next advert of the first router (VRID 51) from `mac`
 * (faults land at one phase of the router the client probes), with
 * the advert's tcpdump timestamp (epoch ms).
 */
function nextAdvertFrom(lab: Lab, mac: string): Promise<number> {
  const child = clientTcpdump(lab, "vrrp");
  let buf = ""; // whole lines only: with many routers a chunk often ends inside one
  return new Promise((resolve) => {
    child.stdout?.on("data", (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      const line = lines.find((l) => l.includes(mac) && l.includes("vrid 51,")); // the probed router's
      if (line === undefined) return;
      child.kill();
      resolve(Number(line.split(" ")[0]) * 1000);
    });
  });
}

/** Echo replies seen by the client, with the MAC that sent each (tcpdump's own timestamps). */
class ReplyWatch {
  readonly replies: { at: number; mac: string }[] = [];
  private readonly child: ChildProcess;
  private buf = "";
  constructor(lab: Lab) {
    this.child = clientTcpdump(lab, "icmp[icmptype] == icmp-echoreply");
    this.child.stdout?.on("data", (d: Buffer) => {
      this.buf += d.toString();
      const lines = this.buf.split("\n");
      this.buf = lines.pop() ?? "";
      for (const l of lines) {
        const m = /^(\d+\.\d+) ([0-9a-f:]{17}) >/.exec(l);
        if (m) this.replies.push({ at: Number(m[1]) * 1000, mac: m[2]! });
      }
    });
  }
  stop(): void {
    this.child.kill();
  }
}

/** When the address leaves a node, from the kernel's address events in its namespace. */
class ReleaseWatch {
  releasedAt: number | undefined;
  /** Deletions before this moment (epoch ms) are not the fault's doing. */
  after = Number.POSITIVE_INFINITY;
  private readonly child: ChildProcess;
  constructor(lab: Lab, node: string) {
    this.child = spawn("ip", ["-n", lab.node(node).ns, "monitor", "address"]);
    this.child.stdout?.on("data", (d: Buffer) => {
      const now = Date.now();
      if (
        this.releasedAt === undefined &&
        now >= this.after &&
        d.toString().includes("Deleted") &&
        d.toString().includes(VIP)
      )
        this.releasedAt = now;
    });
  }
  stop(): void {
    this.child.kill();
  }
}

/** n2's failover histogram (_sum in seconds, _count), scraped from the client as Prometheus would. */
function failoverHistogram(lab: Lab): { sum: number; count: number } {
  const url = `http://${lab.node("n2").ipv4}:${METRICS_PORT}/metrics`;
  const text = lab.exec("client", ["curl", "-sf", "--max-time", "2", url]);
  const sample = (suffix: string) => {
    const line = text
      .split("\n")
      .find(
        (l) => l.startsWith(`vipkeeper_vrrp_failover_seconds_${suffix}{`) && l.includes('router="bench"'),
      );
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1)); // none before the first
  };
  return { sum: sample("sum"), count: sample("count") };
}

function reset(lab: Lab): void {
  for (const n of lab.nodes) {
    lab.killAll(n.name);
    lab.linkUp(n.name);
    for (const address of ADDRESSES)
      spawnSync("ip", ["-n", n.ns, "addr", "del", `${address}/24`, "dev", "eth0"]);
  }
  spawnSync("ip", ["-n", lab.node("client").ns, "neigh", "flush", "dev", "eth0"]);
}

/** A run's figure (ms) and, for vipkeeper, the failover n2's histogram observed in it (ms; NaN if not one). */
interface RunResult {
  figure: number;
  metricMs?: number;
}

async function oneRun(lab: Lab, impl: Impl, fault: Fault, intervalMs: number): Promise<RunResult> {
  reset(lab);
  await sleep(200);
  const members = ["n1", "n2"].map((n) => startMember(lab, impl, n, intervalMs));
  const masterDownMs = 3 * intervalMs + ((256 - 100) / 256) * intervalMs;
  await waitFor(() => lab.holders(VIP).join() === "n1", 15_000 + 4 * masterDownMs, "n1 to hold the VIP");
  // Every router's address on n1 alone (the first is waited for above).
  await waitFor(
    () => {
      const n1 = lab.addresses("n1");
      const n2 = lab.addresses("n2");
      return ADDRESSES.every((a) => n1.includes(a) && !n2.includes(a));
    },
    15_000 + 4 * masterDownMs,
    "n1 to hold every router's address",
  );
  await sleep(Math.max(1500, 3 * intervalMs)); // n2 settled as backup; n1's announcements done
  if (lab.holders(VIP).join() !== "n1") throw new Error(`not settled: ${lab.holders(VIP).join()}`);
  const histogramBefore = impl === "vipkeeper" ? failoverHistogram(lab) : undefined;

  const probe = new Probe(lab, "client", VIP, 1);
  const replies = new ReplyWatch(lab);
  const release = new ReleaseWatch(lab, "n1");
  await sleep(500);
  const m1 = members[0]!;
  const vrrpPid = m1.vrrpPid(); // looked up before the clock starts
  const pullCable = lab.armLinkDown("n1");
  // The worst phase for the client: the master fails just after its advert, so the backup waits
  // its whole Master_Down_Interval. (At a random phase the outage is shorter by up to one interval,
  // and five runs of each would compare noise.)
  const advertAt = await nextAdvertFrom(lab, lab.node("n1").mac);
  const t0 = Date.now();
  release.after = t0;
  if (fault === "node-failure") {
    pullCable(); // off the network first: what runs there after this no longer matters
    lab.killAll("n1");
  } else if (fault === "graceful") {
    m1.process.kill("SIGTERM");
  } else {
    if (!vrrpPid) throw new Error("no VRRP process found on n1");
    process.kill(vrrpPid, "SIGKILL");
  }
  let figure: number;
  const n2mac = lab.node("n2").mac;
  const windowMs = 4 * masterDownMs + 3000;
  if (fault === "crash") {
    // Done when the stale address is gone from n1 and, after that, a master answers the client:
    // n2, or a VRRP process restarted on n1 that won mastership back (keepalived's parent respawns
    // its VRRP child, which removes the address at start-up and later takes it again).
    // A reply still in flight at the release does not count, so it must not end the wait either
    // (it did: such runs read "never" although n2 answered some 60 ms later).
    const answer = () => {
      const releasedAt = release.releasedAt;
      return releasedAt === undefined
        ? undefined
        : replies.replies.find((r) => r.at > releasedAt + IN_FLIGHT_MS);
    };
    await waitFor(
      () => answer() !== undefined,
      windowMs,
      "the stale address gone and a master answering",
    ).catch(() => undefined);
    const first = answer();
    figure = first === undefined ? Number.POSITIVE_INFINITY : first.at - t0;
    if (process.env.VK_BENCH_DEBUG) {
      console.error(
        `  released +${(release.releasedAt ?? NaN) - t0} ms; first answer after: +${((first?.at ?? NaN) - t0).toFixed(1)} ms from ${first?.mac}; last before release from ${replies.replies.filter((r) => r.at <= (release.releasedAt ?? 0)).at(-1)?.mac}`,
      );
    }
    await probe.stop();
  } else {
    await waitFor(() => replies.replies.some((r) => r.at > t0 && r.mac === n2mac), windowMs, "n2 to answer");
    await sleep(300);
    const result = await probe.stop();
    figure = result.longestGapMs;
    if (process.env.VK_BENCH_DEBUG) {
      const after = (t: number) => fmtDiff(t - advertAt);
      console.error(
        `  after n1's last advert (client's tcpdump): fault ${after(t0)}; the client's gap from ${after(result.gapFrom)} to ${after(result.gapTo)}`,
      );
    }
  }
  let metricMs: number | undefined;
  if (histogramBefore) {
    const after = failoverHistogram(lab);
    const count = after.count - histogramBefore.count;
    metricMs = count === 1 ? (after.sum - histogramBefore.sum) * 1000 : Number.NaN;
    if (count !== 1) console.error(`  n2's failover histogram counted ${count} failovers in this run, not 1`);
  }
  replies.stop();
  release.stop();
  pullCable(); // (unused ones must end too)
  reset(lab);
  return metricMs === undefined ? { figure } : { figure, metricMs };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (ms: number) =>
  !Number.isFinite(ms) ? "never" : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
const fmtDiff = (ms: number) => `${ms >= 0 ? "+" : ""}${ms.toFixed(1)} ms`;

/**
 * The claims of BENCHMARKS.md, checked against keepalived in the same run: node failure is bound by
 * the RFC for both (ratio at most 1.1); a graceful stop at most 25 % or 20 ms slower, whichever is
 * more; an engine crash no slower than keepalived's (the supervisor resigns for its dead engine).
 */
function ceiling(fault: Fault, intervalMs: number, ours: number, theirs: number): string | undefined {
  const limit =
    fault === "node-failure"
      ? theirs * 1.1
      : fault === "graceful"
        ? Math.max(theirs * 1.25, theirs + 20)
        : theirs;
  if (!Number.isFinite(ours)) return `${fault} at ${fmt(intervalMs)}: vipkeeper never answered`;
  return ours <= limit
    ? undefined
    : `${fault} at ${fmt(intervalMs)}: vipkeeper ${fmt(ours)} above its ceiling ${fmt(limit)} (keepalived ${fmt(theirs)})`;
}
const checks: (string | undefined)[] = [];

const lab = Lab.create({ prefix: values.prefix, nodes: 2 });
lab.destroyOnExit();
const rows: string[] = [];
const metricRows: string[] = [];
try {
  for (const intervalMs of INTERVALS_MS) {
    for (const fault of values.faults.split(",") as Fault[]) {
      const figures: Record<Impl, number[]> = { vipkeeper: [], keepalived: [] };
      const metrics: number[] = []; // vipkeeper's, run by run beside figures.vipkeeper
      for (let r = 0; r < RUNS; r++) {
        // Interleaved, so that a slow moment of the machine falls on both.
        for (const impl of IMPLS) {
          const { figure: f, metricMs } = await oneRun(lab, impl, fault, intervalMs);
          figures[impl].push(f);
          if (metricMs !== undefined) metrics.push(metricMs);
          const metric = metricMs === undefined ? "" : `; n2's metric ${metricMs.toFixed(1)} ms`;
          console.error(`${fmt(intervalMs)} ${fault} ${impl} run ${r + 1}: ${fmt(f)}${metric}`);
        }
      }
      const cell = (xs: number[]) =>
        xs.length ? `${fmt(median(xs))} (${fmt(Math.min(...xs))}–${fmt(Math.max(...xs))})` : "not run";
      // Only runs where both are known: the metric observed one failover, the client saw an answer.
      const paired = metrics
        .map((m, i) => [m, figures.vipkeeper[i]!] as const)
        .filter(([m, f]) => Number.isFinite(m) && Number.isFinite(f));
      const diffs = paired.map(([m, f]) => m - f);
      const diffCell = diffs.length
        ? `${fmtDiff(median(diffs))} (${fmtDiff(Math.min(...diffs))} to ${fmtDiff(Math.max(...diffs))})`
        : "–";
      const observed = metrics.filter(Number.isFinite);
      metricRows.push(
        `| ${fault} | ${fmt(intervalMs)} | ${observed.length ? cell(observed) : "missing"} | ${cell(figures.vipkeeper)} | ${diffCell} | ${paired.length} of ${RUNS} |`,
      );
      const ratio = median(figures.vipkeeper) / median(figures.keepalived);
      if (BOTH)
        checks.push(ceiling(fault, intervalMs, median(figures.vipkeeper), median(figures.keepalived)));
      rows.push(
        `| ${fault} | ${fmt(intervalMs)} | ${cell(figures.vipkeeper)} | ${cell(figures.keepalived)} | ${!BOTH ? "-" : Number.isFinite(ratio) ? ratio.toFixed(2) : "0 (keepalived never)"} |`,
      );
    }
  }
} finally {
  reset(lab);
  lab.destroy();
}
console.log(
  `${RUNS} runs each, ${ROUTERS} router${ROUTERS === 1 ? "" : "s"} (the client probes the first), median (min–max), ${new Date().toISOString()}`,
);
console.log("| fault | advert interval | vipkeeper | keepalived 2.2.7 | ratio |");
console.log("|---|---|---|---|---|");
for (const r of rows) console.log(r);
console.log(`
vipkeeper only, the same runs: "metric" is n2's vipkeeper_vrrp_failover_seconds (_sum and _count
read before and after the fault: the one failover it observed, from the last advert n2 heard from
n1 to n2 becoming master); "client" is the vipkeeper column above (node failure, graceful: the
client's longest gap between replies; crash: from the fault until a master answers after the
release); "metric − client" is taken per run, over the runs paired: those where the histogram
counted exactly one failover and the client saw an answer.`);
console.log("| fault | advert interval | metric | client | metric − client | runs paired |");
console.log("|---|---|---|---|---|---|");
for (const r of metricRows) console.log(r);
const broken = checks.filter((c): c is string => c !== undefined);
for (const b of broken) console.log(`ceiling broken: ${b}`);
console.log(`\n${checks.length} ceilings checked against keepalived, ${broken.length} broken`);
process.exit(broken.length ? 1 : 0);
