// Health checks against keepalived's checker, inside one User-mode Linux guest (its own kernel has
// IPVS, which keepalived's checker needs and the host's kernel lacks). The guest serves N HTTP real
// servers on its loopback (100 addresses x N/100 ports, a few node:http processes), writes one
// keepalived.conf (one virtual_server per port, HTTP_GET status 200, delay_loop 1, connect_timeout
// 1, retry 0), and runs on it, one after the other, keepalived 2.2.7 and `vipkeeper agent` (which
// programs the same IPVS services). For each: the checking process's CPU from /proc/PID/stat
// (keepalived's checker child; the agent's main process, where its checks run) over a window, the
// checks per second the servers answered, and, after 10% of the servers start answering 503, the
// time until each leaves the kernel's IPVS table (/proc/net/ip_vs, what `ipvsadm -Ln` prints, read
// every 50 ms). UML runs on one host core and is several times slower than the host, so N is kept
// where the guest copes; the ratios matter, not the absolute figures.
// Run (root): . scripts/env.sh && node bench/health-keepalived.ts [--servers 200,500,1000] [--runs 3]
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { startUml, umlMissing } from "../test/uml/uml.ts";

const ADDRESSES = 100;
const BASE_PORT = 20_000;
const SERVER_PROCESSES = 2;
const WARMUP_MS = 5_000;
// 30 s: the agent resyncs IPVS every 30 s, so each window holds one resync, as steady state does.
const WINDOW_MS = 30_000;
const REMOVAL_WAIT_MS = 10_000;
const POLL_MS = 50;
const STRACE_MS = 5_000;
const CHECKERS = ["keepalived", "vipkeeper"] as const;
type Checker = (typeof CHECKERS)[number];

/** Real server a (0..99) lives at this loopback address; virtual server p at 198.19.0.(p+1):80. */
const address = (a: number) => `198.18.40.${a + 1}`;
/** 10% of the servers, spread over every virtual server and over the checks' schedule. */
const failing = (a: number, p: number) => (a + p) % 10 === 0;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What one checker did, as the guest reports it (one JSON line). */
export interface CheckerFigures {
  checker: Checker;
  servers: number;
  /** Share of one (guest) CPU the checking process used over the window. */
  cpuShare: number;
  checksPerSecond: number;
  cpuPerCheckUs: number;
  /** The same from the window's median second. */
  cpuPerCheckMedianUs: number;
  /** Minor page faults of the checking process per check, over the window. */
  faultsPerCheck: number;
  /** Share of the guest's CPU that was busy over the window (all processes and the kernel). */
  guestBusy: number;
  /** The server processes' CPU over the window, in shares of one CPU. */
  serversCpuShare: number;
  /** Servers missing from IPVS before any server failed (should be 0). */
  removedBeforeFailure: number;
  /** Removals the checker logged before any server failed, by the reason it logged. */
  downsBeforeFailure: Record<string, number>;
  failing: number;
  removed: number;
  removalP50: number;
  removalP99: number;
  /** From start until the IPVS table held every real server. */
  programmedMs: number;
  /** The window, in epoch ms (UML's clock is the host's): the host tells what else ran then. */
  windowFrom: number;
  windowTo: number;
  /** The checking process's CPU ticks (1/100 s) in each second of the window. */
  cpuBySecond: number[];
  /** Time between two checks of one server, at the servers, over the window. */
  periodP50: number;
  periodP99: number;
  /** System calls per check of the checking process (all its threads), under strace after the rest. */
  syscallsPerCheck: number;
  /** Its most frequent system calls, per check. */
  topSyscalls: Record<string, number>;
}

// ---- the real servers (a process per share of the ports; IPC from the guest's driver) ----------

function serve(ports: number[]): void {
  let fail = false;
  let count = 0;
  // Each server's time between two checks (its check period as the checker keeps it), while asked.
  const last = new Map<string, number>();
  let periods: number[] | undefined;
  process.on("message", (m: { type: string; on?: boolean }) => {
    if (m.type === "fail") fail = m.on ?? false;
    if (m.type === "periods") {
      process.send!({ type: m.type, count, periods: periods ?? [] });
      periods = m.on ? [] : undefined;
    } else process.send!({ type: m.type, count });
  });
  let listening = 0;
  for (const port of ports) {
    createServer((req, res) => {
      count++;
      const key = `${req.socket.localAddress}:${port}`;
      const now = performance.now();
      const before = last.get(key);
      if (periods && before !== undefined) periods.push(now - before);
      last.set(key, now);
      const a = Number(req.socket.localAddress?.split(".")[3]) - 1;
      const bad = fail && failing(a, port - BASE_PORT);
      res.writeHead(bad ? 503 : 200, { connection: "close" }).end("ok");
    }).listen(port, "0.0.0.0", 1024, () => {
      if (++listening === ports.length) process.send!({ type: "listening", count });
    });
  }
}

// ---- the guest's driver -----------------------------------------------------------------------

/** keepalived.conf: one virtual_server per port, its 100 real servers at that port. */
export function keepalivedConf(servers: number): string {
  const ports = servers / ADDRESSES;
  const out = ["global_defs {", "  router_id vkhk", "}"];
  for (let p = 0; p < ports; p++) {
    out.push(`virtual_server 198.19.0.${p + 1} 80 {`, "  delay_loop 1", "  lb_algo rr", "  lb_kind NAT");
    out.push("  protocol TCP");
    for (let a = 0; a < ADDRESSES; a++)
      out.push(
        `  real_server ${address(a)} ${BASE_PORT + p} {`,
        "    weight 1",
        "    HTTP_GET {",
        "      url {",
        "        path /",
        "        status_code 200",
        "      }",
        "      connect_timeout 1",
        "      retry 0",
        "      delay_before_retry 1",
        "    }",
        "  }",
      );
    out.push("}");
  }
  return `${out.join("\n")}\n`;
}

/** The real servers (addr:port, as the kernel shows them in hex) in /proc/net/ip_vs. */
function ipvsDestinations(): Set<string> {
  const text = readFileSync("/proc/net/ip_vs", "utf8");
  const out = new Set<string>();
  for (const m of text.matchAll(/^\s+->\s+([0-9A-F]{8}):([0-9A-F]{4})\s/gm)) out.add(`${m[1]}:${m[2]}`);
  return out;
}
const hexKey = (a: number, p: number) =>
  `${address(a)
    .split(".")
    .map((o) => Number(o).toString(16).toUpperCase().padStart(2, "0"))
    .join("")}:${(BASE_PORT + p).toString(16).toUpperCase().padStart(4, "0")}`;

const procStat = (pid: number) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
/** utime + stime of a process, in clock ticks. */
function cpuTicks(pid: number): number {
  const f = procStat(pid);
  return Number(f[11]) + Number(f[12]);
}
/** Minor page faults of a process (each one a trip through the UML kernel, which makes them dear). */
const minorFaults = (pid: number) => Number(procStat(pid)[7]);
/** The guest's busy and total jiffies (first line of /proc/stat). */
function guestJiffies(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((s, x) => s + x, 0);
  return { busy: total - f[3]! - (f[4] ?? 0), total };
}

interface ServerReply {
  type: string;
  count: number;
  periods?: number[];
}

class Servers {
  private readonly procs: ChildProcess[] = [];
  private readonly replies = new Map<ChildProcess, ((m: ServerReply) => void)[]>();

  async start(ports: number): Promise<void> {
    const per = Math.ceil(ports / SERVER_PROCESSES);
    for (let s = 0; s < SERVER_PROCESSES; s++) {
      const mine = Array.from({ length: ports }, (_, p) => BASE_PORT + p).slice(s * per, (s + 1) * per);
      if (mine.length === 0) continue;
      const c = spawn(process.execPath, [import.meta.filename, "server", mine.join(",")], {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      this.procs.push(c);
      this.replies.set(c, []);
      c.on("message", (m: ServerReply) => this.replies.get(c)!.shift()?.(m));
      await new Promise<void>((resolve, reject) => {
        this.replies.get(c)!.push(() => resolve());
        c.once("exit", (code) => reject(new Error(`a server process exited ${code}`)));
      });
    }
  }

  private ask(msg: object): Promise<ServerReply[]> {
    return Promise.all(
      this.procs.map(
        (c) =>
          new Promise<ServerReply>((resolve) => {
            this.replies.get(c)!.push(resolve);
            c.send(msg);
          }),
      ),
    );
  }
  private total = (rs: ServerReply[]) => rs.reduce((s, r) => s + r.count, 0);
  /** Requests answered so far, by every server together. */
  count = async () => this.total(await this.ask({ type: "count" }));
  setFailing = async (on: boolean) => this.total(await this.ask({ type: "fail", on }));
  /** Starts (on) or ends recording check periods; returns those recorded since the last start. */
  periods = async (on: boolean) => (await this.ask({ type: "periods", on })).flatMap((r) => r.periods ?? []);
  ticks = () => this.procs.reduce((s, c) => s + cpuTicks(c.pid!), 0);
  stop = () => this.procs.forEach((c) => c.kill("SIGKILL"));
}

async function waitFor<T>(what: string, ms: number, probe: () => T | undefined): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Starts one checker on the configuration; returns the pid whose CPU is its checks' cost. */
async function startChecker(
  checker: Checker,
  conf: string,
  out: string,
): Promise<{ pid: number; proc: ChildProcess }> {
  const log = `${out}/${checker}.log`;
  if (checker === "keepalived") {
    const proc = spawn(
      "sh",
      [
        "-c",
        `exec keepalived --dont-fork --log-console -f ${conf} -p /run/vkhk-k.pid -r /run/vkhk-v.pid -c /run/vkhk-c.pid > ${log} 2>&1`,
      ],
      { stdio: "ignore" },
    );
    // The checker is keepalived's child; it writes its pid into the -c file.
    const pid = await waitFor("keepalived's checker pid", 30_000, () => {
      if (!existsSync("/run/vkhk-c.pid")) return undefined;
      const n = Number(readFileSync("/run/vkhk-c.pid", "utf8").trim());
      return n > 0 && existsSync(`/proc/${n}/stat`) ? n : undefined;
    });
    return { pid, proc };
  }
  // The agent's main process runs the load balancer and its checks (the VRRP engine is a child).
  const proc = spawn(
    "sh",
    ["-c", `exec node bin/vipkeeper.js agent --config ${conf} --node x --lb-backend ipvs > ${log} 2>&1`],
    { stdio: "ignore" },
  );
  return { pid: proc.pid!, proc };
}

async function measure(
  checker: Checker,
  servers: number,
  conf: string,
  srv: Servers,
): Promise<CheckerFigures> {
  const out = process.env.OUT!;
  const ports = servers / ADDRESSES;
  const all: string[] = [];
  const bad: string[] = [];
  for (let a = 0; a < ADDRESSES; a++)
    for (let p = 0; p < ports; p++) {
      all.push(hexKey(a, p));
      if (failing(a, p)) bad.push(hexKey(a, p));
    }
  const t0 = Date.now();
  const { pid, proc } = await startChecker(checker, conf, out);
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  try {
    await waitFor(`${checker} to program ${servers} real servers`, 120_000, () => {
      if (proc.exitCode !== null) throw new Error(`${checker} exited ${proc.exitCode} (see ${checker}.log)`);
      const table = ipvsDestinations();
      return all.every((k) => table.has(k)) ? true : undefined;
    });
    const programmedMs = Date.now() - t0;
    await sleep(WARMUP_MS);
    const c0 = cpuTicks(pid);
    const f0 = minorFaults(pid);
    const s0 = srv.ticks();
    const g0 = guestJiffies();
    await srv.periods(true);
    const n0 = await srv.count();
    const w0 = performance.now();
    const windowFrom = Date.now();
    // The checker's CPU second by second, to see whether it is steady or comes in bursts.
    const cpuBySecond: number[] = [];
    for (let t = cpuTicks(pid), i = 0; i < WINDOW_MS / 1000; i++) {
      await sleep(1000);
      const now = cpuTicks(pid);
      cpuBySecond.push(now - t);
      t = now;
    }
    const windowTo = Date.now();
    const n1 = await srv.count();
    const periods = await srv.periods(false);
    const elapsed = (performance.now() - w0) / 1000;
    const c1 = cpuTicks(pid);
    const f1 = minorFaults(pid);
    const s1 = srv.ticks();
    const g1 = guestJiffies();
    const before = ipvsDestinations();
    const removedBeforeFailure = all.filter((k) => !before.has(k)).length;
    // 10% of the servers answer 503 from now; each one's removal is when it leaves the table.
    const failAt = performance.now();
    const failAtEpoch = Date.now();
    await srv.setFailing(true);
    const removedAt = new Map<string, number>();
    while (removedAt.size < bad.length && performance.now() - failAt < REMOVAL_WAIT_MS) {
      await sleep(POLL_MS);
      const table = ipvsDestinations();
      const now = performance.now();
      for (const k of bad) if (!table.has(k) && !removedAt.has(k)) removedAt.set(k, now - failAt);
    }
    await srv.setFailing(false);
    const syscalls = await countSyscalls(pid, srv, `${out}/${checker}.strace`);
    const delays = [...removedAt.values()];
    const hz = 100; // USER_HZ: /proc/PID/stat counts in 1/100 s
    const cpuShare = (c1 - c0) / hz / elapsed;
    const checksPerSecond = (n1 - n0) / elapsed;
    return {
      checker,
      servers,
      cpuShare,
      checksPerSecond,
      cpuPerCheckUs: (cpuShare * 1e6) / checksPerSecond,
      // The median second, which a burst (the host taking its core from the guest, which the guest
      // then charges to whoever ran) does not move.
      cpuPerCheckMedianUs: (pct(cpuBySecond, 0.5) * 1e4) / checksPerSecond,
      faultsPerCheck: Math.round(((f1 - f0) / (n1 - n0)) * 100) / 100,
      guestBusy: (g1.busy - g0.busy) / (g1.total - g0.total),
      serversCpuShare: (s1 - s0) / hz / elapsed,
      removedBeforeFailure,
      downsBeforeFailure: downsBefore(checker, `${out}/${checker}.log`, failAtEpoch),
      failing: bad.length,
      removed: delays.length,
      removalP50: Math.round(pct(delays, 0.5)),
      removalP99: Math.round(pct(delays, 0.99)),
      programmedMs,
      windowFrom,
      windowTo,
      cpuBySecond,
      periodP50: Math.round(pct(periods, 0.5)),
      periodP99: Math.round(pct(periods, 0.99)),
      ...syscalls,
    };
  } finally {
    proc.kill("SIGTERM");
    await Promise.race([exited, sleep(15_000)]);
    proc.kill("SIGKILL");
    // keepalived removes its services on exit; the agent leaves them for its successor.
    execFileSync("ipvsadm", ["-C"]);
    execFileSync("rm", ["-rf", "/run/vipkeeper"]);
  }
}

/**
 * Healthy servers the checker took out before any failed, by reason, from its own log: the agent's
 * "is down" lines (JSON, ISO times, with the check's detail), keepalived's failure lines (its timestamps are
 * whole seconds: lines of the failure's own second are left out).
 */
function downsBefore(checker: Checker, log: string, epochMs: number): Record<string, number> {
  const out: Record<string, number> = {};
  const add = (reason: string) => (out[reason] = (out[reason] ?? 0) + 1);
  for (const line of readFileSync(log, "utf8").split("\n")) {
    if (checker === "vipkeeper") {
      if (!line.startsWith("{")) continue;
      const l = JSON.parse(line) as { time?: string; healthy?: boolean; detail?: string };
      if (l.healthy === false && Date.parse(l.time ?? "") < epochMs) add(l.detail ?? "?");
    } else {
      const m = /^(\w{3} \w{3} +\d+ [\d:]+ \d{4}): (.*)$/.exec(line);
      if (!m || Date.parse(m[1]!) >= Math.floor(epochMs / 1000) * 1000) continue;
      if (/Removing service/.test(m[2]!)) add("removed");
      else if (/timeout|error|fail/i.test(m[2]!)) add(m[2]!.replace(/\[[\d.]+\]:(tcp:)?\d+/g, "[..]"));
    }
  }
  return out;
}

/**
 * The checker's system calls per check, counted by strace -c over a few seconds (it slows the
 * checker; the count per check is what matters: UML makes every system call expensive).
 */
async function countSyscalls(
  pid: number,
  srv: Servers,
  file: string,
): Promise<{ syscallsPerCheck: number; topSyscalls: Record<string, number> }> {
  const strace = spawn("strace", ["-c", "-f", "-p", String(pid), "-o", file], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  // Counting starts once strace says it attached (then a moment for the other threads).
  await new Promise((r) => strace.stderr.once("data", r));
  await sleep(300);
  const n0 = await srv.count();
  await sleep(STRACE_MS);
  const n1 = await srv.count();
  strace.kill("SIGINT");
  await new Promise((r) => strace.once("exit", r));
  const rows = readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 5 && /^\d+\.\d+$/.test(f[0]!));
  const checks = n1 - n0;
  const calls = (f: string[]) => Number(f[3]);
  const total = rows.find((f) => f.at(-1) === "total");
  const top = rows
    .filter((f) => f.at(-1) !== "total")
    .sort((a, b) => calls(b) - calls(a))
    .slice(0, 6);
  return {
    // strace counts until it has detached, a moment after the checks are counted: a slight overcount.
    syscallsPerCheck: total ? Math.round((calls(total) / checks) * 10) / 10 : NaN,
    topSyscalls: Object.fromEntries(top.map((f) => [f.at(-1)!, Math.round((calls(f) / checks) * 10) / 10])),
  };
}

async function inGuest(servers: number, order: Checker[]): Promise<void> {
  if (servers % ADDRESSES !== 0) throw new Error(`--servers: ${servers} is not a multiple of ${ADDRESSES}`);
  const clkTck = execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim();
  if (clkTck !== "100") throw new Error(`CLK_TCK is ${clkTck}, the bench assumes 100`);
  execFileSync("sysctl", ["-qw", "net.ipv4.ip_local_port_range=1024 65000"]);
  execFileSync("sysctl", ["-qw", "net.ipv4.tcp_tw_reuse=1"]);
  const batch = Array.from({ length: ADDRESSES }, (_, a) => `address add ${address(a)}/32 dev lo`).join("\n");
  execFileSync("ip", ["-batch", "-"], { input: `${batch}\n` });
  const conf = `${process.env.OUT}/keepalived.conf`;
  writeFileSync(conf, keepalivedConf(servers));
  const srv = new Servers();
  try {
    await srv.start(servers / ADDRESSES);
    for (const checker of order)
      process.stdout.write(`${JSON.stringify(await measure(checker, servers, conf, srv))}\n`);
  } finally {
    srv.stop();
  }
}

// ---- the host: one guest per run and size; a table with the ratios -----------------------------

/**
 * What the host's CPUs did while a guest ran, sampled twice a second: all of their busy time, and
 * the guest's own share (every host process of its process group). The rest is other work on the
 * shared machine, which takes CPU from the guest and inflates what the guest accounts.
 */
class HostSampler {
  private readonly samples: { t: number; busy: number; guest: number }[] = [];
  private readonly timer: NodeJS.Timeout;
  private pgid: string | undefined;

  constructor(guestDir: string) {
    const sample = () => {
      this.pgid ??= findGroup(`init=${guestDir}/init.sh`);
      if (!this.pgid) return;
      this.samples.push({ t: Date.now(), busy: guestJiffies().busy, guest: groupTicks(this.pgid) });
    };
    this.timer = setInterval(sample, 500);
  }
  stop = () => clearInterval(this.timer);
  /** Host cores used by other work and by the guest, between two epoch ms. */
  between(from: number, to: number): { others: number; guest: number } {
    const a = this.samples.find((x) => x.t >= from);
    const b = this.samples.findLast((x) => x.t <= to);
    if (!a || !b || b.t <= a.t) return { others: NaN, guest: NaN };
    const seconds = (b.t - a.t) / 1000;
    const guest = (b.guest - a.guest) / 100 / seconds;
    return { others: (b.busy - a.busy) / 100 / seconds - guest, guest };
  }
}

/** The process group of the host process whose command line holds `mark`. */
function findGroup(mark: string): string | undefined {
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(mark)) return procStat(Number(pid))[2];
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** utime + stime of every process in a process group (threads included), in clock ticks. */
function groupTicks(pgid: string): number {
  let sum = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const f = procStat(Number(pid));
      if (f[2] === pgid) sum += Number(f[11]) + Number(f[12]);
    } catch {
      // gone meanwhile
    }
  }
  return sum;
}

const fmt = (x: number, digits = 0) => x.toLocaleString("en-US", { maximumFractionDigits: digits });

async function onHost(sizes: number[], runs: number): Promise<void> {
  const missing = umlMissing();
  if (missing) throw new Error(`bench/health-keepalived: ${missing}`);
  if (!existsSync("/usr/sbin/keepalived")) throw new Error("bench/health-keepalived: keepalived is missing");
  const rows: string[] = [];
  const pairs: { servers: number; k: CheckerFigures; v: CheckerFigures }[] = [];
  for (let run = 0; run < runs; run++)
    for (const servers of sizes) {
      // Alternate which checker goes first, so neither always has the fresher guest.
      const order = run % 2 === 0 ? [...CHECKERS] : [...CHECKERS].reverse();
      const loadBefore = loadavg()[0]!;
      const guest = startUml({
        command: `ulimit -n 65536; VK_IN_UML=1 node bench/health-keepalived.ts --servers ${servers} --order ${order.join(",")}`,
        timeoutMs: 900_000,
      });
      const sampler = new HostSampler(guest.dir);
      await guest.exited;
      sampler.stop();
      const loadAfter = loadavg()[0]!;
      const stdout = guest.read("stdout");
      const rc = guest.read("rc").trim();
      const figures = stdout
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as CheckerFigures)
        .map((f) => {
          const host = sampler.between(f.windowFrom, f.windowTo);
          return { ...f, hostOthers: host.others, hostGuest: host.guest };
        });
      for (const f of figures) console.log(JSON.stringify({ run: run + 1, ...f, hostLoad: loadBefore }));
      const k = figures.find((f) => f.checker === "keepalived");
      const v = figures.find((f) => f.checker === "vipkeeper");
      if (rc !== "0" || !k || !v) {
        console.error(`run ${run + 1} (${servers} servers) failed, rc ${rc || "none"}:`);
        console.error(guest.read("stderr").slice(-3000) || guest.console().slice(-3000));
        console.error(`guest files kept in ${guest.dir}`);
        process.exitCode = 1;
        continue;
      }
      guest.cleanup();
      const load = `${loadBefore.toFixed(1)}–${loadAfter.toFixed(1)}`;
      const row = (f: CheckerFigures & { hostOthers: number; hostGuest: number }) =>
        `| ${servers} | ${f.checker} | ${fmt(f.checksPerSecond)} | ${f.periodP50} / ${f.periodP99} ms | ${fmt(f.cpuShare * 100, 1)}% | ${fmt(f.cpuPerCheckUs)} / ${fmt(f.cpuPerCheckMedianUs)} µs | ${f.syscallsPerCheck} | ${f.faultsPerCheck} | ${f.removed}/${f.failing}: ${f.removalP50} / ${f.removalP99} ms | ${fmt(f.guestBusy * 100)}% | ${fmt(f.serversCpuShare * 100)}% | ${f.hostGuest.toFixed(2)} / ${f.hostOthers.toFixed(2)} | ${load} |`;
      const ratio = (a: number, b: number) => (a / b).toFixed(2);
      rows.push(row(k), row(v));
      pairs.push({ servers, k, v });
      rows.push(
        `| ${servers} | ratio v/k | ${ratio(v.checksPerSecond, k.checksPerSecond)} | | ${ratio(v.cpuShare, k.cpuShare)} | ${ratio(v.cpuPerCheckUs, k.cpuPerCheckUs)} / ${ratio(v.cpuPerCheckMedianUs, k.cpuPerCheckMedianUs)} | | | ${ratio(v.removalP50, k.removalP50)} / ${ratio(v.removalP99, k.removalP99)} | | | | |`,
      );
    }
  console.log(
    "\n| servers | checker | checks/s | period p50 / p99 | checker CPU | CPU per check: window / median second | syscalls per check | page faults per check | removed: p50 / p99 | guest busy | servers' CPU | host cores: guest / others | host load |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const r of rows) console.log(r);
  // The ratios' medians over the runs, per size.
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const servers of sizes) {
    const ps = pairs.filter((p) => p.servers === servers);
    if (ps.length === 0) continue;
    const m = (f: (x: CheckerFigures) => number) => median(ps.map((p) => f(p.v) / f(p.k))).toFixed(2);
    console.log(
      `${servers} servers, median of ${ps.length} runs, vipkeeper / keepalived: CPU per check ${m((f) => f.cpuPerCheckUs)} (median second ${m((f) => f.cpuPerCheckMedianUs)}), checks/s ${m((f) => f.checksPerSecond)}, removal p50 ${m((f) => f.removalP50)}, p99 ${m((f) => f.removalP99)}`,
    );
  }
}

const role = process.argv[2];
if (role === "server") serve(process.argv[3]!.split(",").map(Number));
else {
  const { values } = parseArgs({
    options: {
      servers: { type: "string", default: "200,500,1000" },
      runs: { type: "string", default: "1" },
      order: { type: "string", default: CHECKERS.join(",") },
    },
  });
  const sizes = values.servers.split(",").map(Number);
  for (const n of sizes)
    if (!Number.isInteger(n) || n <= 0 || n % ADDRESSES !== 0)
      throw new Error(`--servers: '${values.servers}' must list multiples of ${ADDRESSES}`);
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: '${values.runs}' is not a count`);
  if (process.env.VK_IN_UML) {
    const order = values.order.split(",") as Checker[];
    for (const c of order) if (!CHECKERS.includes(c)) throw new Error(`--order: '${c}' is not a checker`);
    await inGuest(sizes[0]!, order);
  } else await onHost(sizes, runs);
}
