// The fault lab: four nodes keep one VIP per family (vipkeeper's agents on n1, n3, n4 and a real
// keepalived on n2, one mixed VRRP group; priorities 150, 130, 110, 90; adverts every 100 ms),
// a client probes who answers ARP / ND for each VIP every 10 ms (src/lab/neighbour-prober.ts),
// and every node's kernel reports who holds them (src/lab/holder-watch.ts). Faults drawn from
// the seed (src/lab/fault-schedule.ts) land one at a time; each is held, undone, and left to
// settle; then src/lab/invariants.ts judges the whole timeline. The same schedule then runs with
// keepalived on all four nodes ("the same positions") for its figures beside ours.
// Run (root): . scripts/env.sh && node bench/faults.ts --seconds 600 --seed 18
//   [--compare keepalived|none] [--kinds link,partition,...]
// --seconds is the time for injecting faults in the mixed group; the keepalived group then gets
// the same faults in the same order. Prints the report; its last line
// says how many invariant breaks the mixed group had; exits 1 if any.
import type { ChildProcess } from "node:child_process";
import { randomInt } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  aimAt,
  describeFault,
  FAULT_KINDS,
  faultSchedule,
  type Fault,
  type FaultKind,
} from "../src/lab/fault-schedule.ts";
import { HolderWatch } from "../src/lab/holder-watch.ts";
import {
  checkInvariants,
  type Answer,
  type FaultWindow,
  type Timeline,
  type Verdict,
} from "../src/lab/invariants.ts";
import { Lab } from "../src/lab/lab.ts";
import { masterDownIntervalMs } from "../src/vrrp/timers.ts";
import { member, setTrackFlag, type GroupSettings, type Impl, type Member } from "./fault-members.ts";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "600" },
    seed: { type: "string" },
    compare: { type: "string", default: "keepalived" },
    kinds: { type: "string" },
  },
});
const SECONDS = Number(values.seconds);
const SEED = values.seed === undefined ? randomInt(1, 2 ** 31) : Number(values.seed);
const KINDS = (values.kinds?.split(",") ?? FAULT_KINDS) as FaultKind[];
for (const k of KINDS) if (!FAULT_KINDS.includes(k)) throw new Error(`unknown fault kind ${k}`);

// Agents run the sources, as in the tests: never a stale dist/.
process.env.VIPKEEPER_FROM_SOURCE ??= "1";

const NODES = ["n1", "n2", "n3", "n4"];
const SETTINGS: GroupSettings = {
  vrid: 51,
  advertIntervalMs: 100,
  vip4: "198.18.0.50",
  vip6: "2001:db8::50",
  priorities: { n1: 150, n2: 130, n3: 110, n4: 90 },
  flagDir: mkdtempSync(join(tmpdir(), "vkfl-flags-")),
  trackWeight: -50,
  trackIntervalS: 1,
};
const MIXED: Record<string, Impl> = { n1: "vipkeeper", n2: "keepalived", n3: "vipkeeper", n4: "vipkeeper" };
const ALL_KEEPALIVED: Record<string, Impl> = {
  n1: "keepalived",
  n2: "keepalived",
  n3: "keepalived",
  n4: "keepalived",
};
const VIPS = [SETTINGS.vip4, SETTINGS.vip6];
const INTERVAL = SETTINGS.advertIntervalMs;

// Thresholds from the protocol, not from measurements:
/** The slowest backup's Master_Down_Interval: the lowest configured priority's. */
const MASTER_DOWN_MS = masterDownIntervalMs(3, Math.min(...Object.values(SETTINGS.priorities)), INTERVAL);
/** Removing an address: one netlink request, then its event through `ip monitor`. */
const RELEASE_MS = 50;
const LIMITS = {
  unansweredMs: MASTER_DOWN_MS + 100, // the brief's bound
  healMs: INTERVAL + RELEASE_MS, // the higher master's next advert makes the lower one step down
};
/** A dead node's kernel drops the addresses at most 2.25 s after the last renewal (dead man's switch). */
const ADDRESS_LIFETIME_MAX_MS = 2250;
/**
 * After a fault is undone and its processes run: the slowest of a dead node's addresses expiring
 * and a tracked script's next run, then a backup's Master_Down_Interval, then the master's next
 * advert that makes a lower master step down.
 */
const SETTLE_MS =
  Math.max(ADDRESS_LIFETIME_MAX_MS, SETTINGS.trackIntervalS * 1000) + MASTER_DOWN_MS + INTERVAL;
/** The window after settling in which exactly one node must hold each VIP. */
const QUIET_MS = 5 * INTERVAL;
const PROBE_PERIOD_MS = 10;
/** A process start (Node type-stripping the sources, keepalived reading its file) may take this long. */
const READY_TIMEOUT_MS = 40_000;

/**
 * A signal to a process that may have ended meanwhile (a tracked script's run lives a few ms;
 * a VRRP process may just have been restarted): a process already gone is not an error here.
 */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => console.error(`${new Date().toISOString()} ${s}`);

class ProberOutput {
  readonly answers: Answer[] = [];
  private buf = "";
  private readonly child: ChildProcess;
  constructor(lab: Lab) {
    // Real-time priority: it stamps each answer as it reads it, and a node process starting on a
    // busy core must not pass for an unanswered VIP.
    const child = lab.spawn("client", [
      "chrt",
      "-f",
      "20",
      process.execPath,
      join(import.meta.dirname, "../src/lab/neighbour-prober.ts"),
      "eth0",
      lab.client.mac,
      lab.client.ipv4,
      lab.client.ipv6,
      String(PROBE_PERIOD_MS),
      ...VIPS,
    ]);
    this.child = child;
    const byMac = new Map(lab.nodes.map((n) => [n.mac, n.name]));
    child.stdout?.on("data", (d: Buffer) => {
      this.buf += d.toString();
      const lines = this.buf.split("\n");
      this.buf = lines.pop() ?? "";
      for (const l of lines) {
        const a = JSON.parse(l) as { at: number; vip: string; mac: string };
        this.answers.push({ at: a.at, vip: a.vip, node: byMac.get(a.mac) ?? "?" });
      }
    });
    child.stderr?.on("data", (d: Buffer) => log(`prober: ${d.toString().trim()}`));
  }
  stop(): void {
    this.child.kill();
  }
}

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return true;
    await sleep(20);
  }
  return false;
}

function resetLab(lab: Lab): void {
  lab.heal();
  for (const n of lab.nodes) {
    lab.killAll(n.name);
    lab.linkUp(n.name);
    for (const a of [`${SETTINGS.vip4}/24`, `${SETTINGS.vip6}/64`])
      lab.exec(n.name, ["sh", "-c", `ip addr del ${a} dev eth0 2>/dev/null; true`]);
    setTrackFlag(SETTINGS, n.name, false);
  }
}

interface PhaseResult {
  timeline: Timeline;
  verdict: Verdict;
  injected: Map<FaultKind, number>;
  members: Member[];
}

/** Faults for `seconds`, or exactly `count` faults (the keepalived group repeats the mixed group's). */
type Budget = { seconds: number } | { count: number };

async function runPhase(
  lab: Lab,
  impls: Record<string, Impl>,
  label: string,
  budget: Budget,
): Promise<PhaseResult> {
  resetLab(lab);
  const holders = new HolderWatch(lab, VIPS);
  const members = NODES.map((n) => member(lab, impls[n]!, n, SETTINGS));
  for (const m of members) m.start();
  for (const m of members)
    if (!(await m.ready(READY_TIMEOUT_MS)))
      throw new Error(`${label}: ${m.node} (${m.impl}) did not start:\n${m.log().join("\n")}`);
  if (!(await waitFor(() => VIPS.every((v) => holders.holders(v).join() === "n1"), 20_000)))
    throw new Error(
      `${label}: n1 never became the only holder: ${VIPS.map((v) => holders.holders(v)).join(" / ")}`,
    );
  await sleep(QUIET_MS);
  const prober = new ProberOutput(lab);
  await sleep(QUIET_MS);
  const windows: FaultWindow[] = [];
  const injected = new Map<FaultKind, number>();
  const reloads = new Map<string, number>();
  const started = Date.now();
  for (const drawn of faultSchedule({
    seed: SEED,
    nodes: NODES,
    masterDownMs: MASTER_DOWN_MS,
    kinds: KINDS,
  })) {
    if ("seconds" in budget ? Date.now() - started >= budget.seconds * 1000 : drawn.index >= budget.count)
      break;
    // The master now: the IPv4 VIP's only holder (the fault before has settled).
    const [master, ...more] = holders.holders(SETTINGS.vip4);
    const fault = aimAt(drawn, more.length ? undefined : master);
    log(`${label} ${describeFault(fault)}`);
    windows.push(await inject(lab, fault, members, reloads));
    injected.set(fault.kind, (injected.get(fault.kind) ?? 0) + 1);
  }
  const end = Date.now();
  prober.stop();
  holders.stop();
  const timeline: Timeline = {
    vips: VIPS,
    holders: holders.changes,
    answers: prober.answers,
    faults: windows,
    end,
  };
  const verdict = checkInvariants(timeline, LIMITS);
  if (process.env.VK_FAULTS_DEBUG)
    for (const w of windows) {
      log(
        `${label} ${describeFault(w.fault)}: injected ${new Date(w.injectedAt).toISOString()}, undone +${w.revertedAt - w.injectedAt} ms`,
      );
      for (const c of timeline.holders)
        if (c.at >= w.injectedAt && c.at <= w.settleTo)
          log(`  +${c.at - w.injectedAt} ms ${c.node} ${c.held ? "holds" : "released"} ${c.vip}`);
      for (const vip of VIPS) {
        const seen = timeline.answers.filter(
          (a) => a.vip === vip && a.at >= w.injectedAt - 100 && a.at <= w.settleTo,
        );
        for (let i = 1; i < seen.length; i++)
          if (seen[i]!.at - seen[i - 1]!.at > 3 * PROBE_PERIOD_MS)
            log(
              `  ${vip} unanswered from +${seen[i - 1]!.at - w.injectedAt} ms (${seen[i - 1]!.node}) to +${seen[i]!.at - w.injectedAt} ms (${seen[i]!.node})`,
            );
      }
    }
  for (const m of members) for (const pid of m.pids()) signal(pid, "SIGKILL");
  return { timeline, verdict, injected, members };
}

async function inject(
  lab: Lab,
  f: Fault,
  members: Member[],
  reloads: Map<string, number>,
): Promise<FaultWindow> {
  const m = members.find((x) => x.node === f.nodes[0]);
  const injectedAt = Date.now();
  let observers: string[] | undefined;
  let reports: number | undefined;
  let mustRestart = false;
  switch (f.kind) {
    case "engine-kill": {
      const pid = m!.vrrpPid();
      if (pid === undefined) log(`  ${m!.node}: no VRRP process to kill (restarting)`);
      else signal(pid, "SIGKILL");
      // Restarted by its parent: vipkeeper's supervisor, keepalived's parent process.
      await waitFor(() => {
        const now = m!.vrrpPid();
        return now !== undefined && now !== pid;
      }, READY_TIMEOUT_MS);
      mustRestart = true;
      break;
    }
    case "node-kill":
      for (const pid of m!.pids()) signal(pid, "SIGKILL");
      await sleep(f.holdMs);
      m!.start();
      mustRestart = true;
      break;
    case "stop": {
      const pid = m!.vrrpPid();
      if (pid !== undefined) signal(pid, "SIGSTOP");
      await sleep(f.holdMs);
      if (pid !== undefined) signal(pid, "SIGCONT");
      break;
    }
    case "link":
      lab.linkDown(m!.node);
      await sleep(f.holdMs);
      lab.linkUp(m!.node);
      break;
    case "partition": {
      const cut = new Set([...f.nodes, ...f.others!]);
      const hearBoth = members.filter((x) => x.impl === "vipkeeper" && !cut.has(x.node));
      observers = hearBoth.map((x) => x.node);
      const count = async () =>
        (await Promise.all(hearBoth.map((x) => x.splitBrains()))).reduce<number>((s, n) => s + (n ?? 0), 0);
      const before = await count();
      for (const a of f.nodes) for (const b of f.others!) lab.cut(a, b);
      await sleep(f.holdMs);
      reports = (await count()) - before;
      break;
    }
    case "loss":
      lab.dropVrrp(f.lossPercent!);
      await sleep(f.holdMs);
      break;
    case "track":
      setTrackFlag(SETTINGS, m!.node, true);
      await sleep(f.holdMs);
      setTrackFlag(SETTINGS, m!.node, false);
      break;
    case "restart":
      await m!.stop();
      m!.start();
      mustRestart = true;
      break;
    case "reload": {
      // Alternately up and back by 5: the order of the priorities stays, the router changes.
      const n = reloads.get(m!.node) ?? 0;
      reloads.set(m!.node, n + 1);
      m!.reload(n % 2 === 0 ? 5 : -5);
      break;
    }
  }
  if (f.kind === "partition" || f.kind === "loss") lab.heal();
  const revertedAt = Date.now();
  if (mustRestart && !(await m!.ready(READY_TIMEOUT_MS)))
    log(`  ${m!.node}: not running again after ${READY_TIMEOUT_MS} ms`);
  const settleFrom = Date.now() + SETTLE_MS;
  await sleep(SETTLE_MS + QUIET_MS);
  return {
    fault: f,
    injectedAt,
    revertedAt,
    settleFrom,
    settleTo: Date.now(),
    ...(observers ? { splitBrainObservers: observers, splitBrainReports: reports ?? 0 } : {}),
  };
}

const fmt = (ms: number | undefined) => (ms === undefined ? "–" : `${Math.round(ms)} ms`);

interface KindRow {
  injected: number;
  onMaster: number;
  longest: number;
  twoHolders: number;
}

function kindRows(r: PhaseResult): Map<FaultKind, KindRow> {
  const out = new Map<FaultKind, KindRow>();
  for (const [i, o] of r.verdict.outcomes.entries()) {
    const row = out.get(o.kind) ?? { injected: 0, onMaster: 0, longest: 0, twoHolders: 0 };
    row.injected++;
    if (r.timeline.faults[i]!.fault.onMaster) row.onMaster++;
    row.longest = Math.max(row.longest, o.longestUnansweredMs);
    row.twoHolders = Math.max(row.twoHolders, o.longestMultiHolderMs);
    out.set(o.kind, row);
  }
  return out;
}

function partitionLine(r: PhaseResult): string {
  const parts = r.timeline.faults.filter((w) => w.fault.kind === "partition");
  const outcomes = r.verdict.outcomes.filter((o) => o.kind === "partition");
  const split = outcomes.filter((o) => (o.splitBrainMs ?? 0) > 0);
  const observable = parts.filter(
    (w, i) => (w.splitBrainObservers?.length ?? 0) > 0 && (outcomes[i]?.splitBrainMs ?? 0) > 0,
  );
  const reported = observable.filter((w) => (w.splitBrainReports ?? 0) > 0);
  const ends = outcomes.map((o) => o.endedAfterHealMs ?? 0);
  return `partitions ${parts.length}, with a split brain ${split.length}, heard by a vipkeeper node ${observable.length} (reported ${reported.length}); split brain ended after the heal within ${fmt(ends.length ? Math.max(...ends) : undefined)}`;
}

function printBreaks(label: string, r: PhaseResult): void {
  for (const b of r.verdict.breaks) {
    const w = r.timeline.faults.find((x) => x.fault.index === b.fault);
    console.log(`  ${label}: ${b.kind} ${b.vip}${w ? ` under ${describeFault(w.fault)}` : ""}: ${b.detail}`);
  }
}

const lab = Lab.create({ prefix: "vkfl-", nodes: NODES.length });
lab.destroyOnExit();
log(
  `seed ${SEED} (replay: node bench/faults.ts --seconds ${SECONDS} --seed ${SEED}${values.kinds ? ` --kinds ${values.kinds}` : ""})`,
);
let mixed: PhaseResult;
let baseline: PhaseResult | undefined;
try {
  mixed = await runPhase(lab, MIXED, "mixed", { seconds: SECONDS });
  if (mixed.verdict.breaks.length)
    for (const m of mixed.members) log(`--- ${m.node} (${m.impl})\n${m.log().join("\n")}`);
  if (values.compare === "keepalived")
    baseline = await runPhase(lab, ALL_KEEPALIVED, "keepalived", { count: mixed.timeline.faults.length });
} finally {
  resetLab(lab);
  lab.destroy();
  rmSync(SETTINGS.flagDir, { recursive: true, force: true });
}

console.log(
  `fault lab, seed ${SEED}, ${SECONDS} s of faults, ${mixed.timeline.faults.length} faults, ${new Date().toISOString()}`,
);
console.log(
  `adverts every ${INTERVAL} ms; Master_Down_Interval (priority ${Math.min(...Object.values(SETTINGS.priorities))}) ${MASTER_DOWN_MS.toFixed(1)} ms; limits: unanswered ${LIMITS.unansweredMs.toFixed(1)} ms, split brain after heal ${LIMITS.healMs} ms; settle ${SETTLE_MS.toFixed(0)} ms + ${QUIET_MS} ms checked`,
);
console.log(
  `mixed group: vipkeeper on n1, n3, n4, keepalived on n2${baseline ? "; beside it keepalived 2.2.7 on all four" : ""}`,
);
const ours = kindRows(mixed);
const theirs = baseline ? kindRows(baseline) : undefined;
console.log(
  `| fault | injected (on the master) | longest unanswered: mixed | ${theirs ? "keepalived ×4 | " : ""}longest with two holders: mixed |${theirs ? " keepalived ×4 |" : ""}`,
);
console.log(`|---|---|---|${theirs ? "---|---|---|" : "---|"}`);
for (const kind of KINDS) {
  const a = ours.get(kind);
  const b = theirs?.get(kind);
  const cells = [`${a?.injected ?? 0} (${a?.onMaster ?? 0})`, fmt(a?.longest)];
  if (theirs) cells.push(fmt(b?.longest));
  cells.push(fmt(a?.twoHolders));
  if (theirs) cells.push(fmt(b?.twoHolders));
  console.log(`| ${kind} | ${cells.join(" | ")} |`);
}
console.log(`mixed group: ${partitionLine(mixed)}`);
if (baseline) console.log(`keepalived ×4: ${partitionLine(baseline)} (keepalived reports no split brain)`);
printBreaks("mixed", mixed);
if (baseline) {
  printBreaks("keepalived", baseline);
  console.log(
    `keepalived ×4: ${baseline.verdict.breaks.length} invariant breaks (keepalived's own, not counted below)`,
  );
}
console.log(`${mixed.verdict.breaks.length} invariant breaks`);
process.exit(mixed.verdict.breaks.length ? 1 : 0);
