// Health checking at size: 10,000 distinct HTTP real servers (100 addresses x 100 ports on the
// loopback of a namespace of our own, answered by a few server processes) checked by the agent's
// HealthScheduler every second. Measures, in the checker process: CPU (process.cpuUsage over a
// window, as a share of one core), checks per second achieved, and, after 1,000 of the servers
// (every tenth port) start answering 503, the delay from that moment to each server's removal decision (p50, p99).
// Run (root): . scripts/env.sh && node bench/health.ts
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { cpus, loadavg } from "node:os";
import pino from "pino";
import { HealthScheduler, type CheckJob } from "../src/health/scheduler.ts";

const NS = "vkbh-health";
const ADDRESSES = 100;
const PORTS = 100;
const BASE_PORT = 20_000;
const SERVER_PROCESSES = 4;
const FAILING = 1_000; // every tenth port of every address
const WARMUP_MS = 4_000;
const WINDOW_MS = 10_000;

const address = (i: number) => `198.18.${Math.floor(i / 200) + 40}.${(i % 200) + 1}`;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
};

const role = process.argv[2];

if (role === "server") {
  // Ports [from, to): every address of the namespace's loopback answers on them. SIGUSR1: the
  // failing servers answer 503 from then on.
  const [from, to] = process.argv.slice(3).map(Number) as [number, number];
  let fail = false;
  process.on("SIGUSR1", () => (fail = true));
  let listening = 0;
  for (let port = from; port < to; port++) {
    createServer((req, res) => {
      // Every tenth port on every address: failing servers spread over the checks' schedule.
      const bad = fail && ((req.socket.localPort ?? 0) - BASE_PORT) % 10 === 0;
      res.writeHead(bad ? 503 : 200, { connection: "close" }).end("ok");
    }).listen(port, "0.0.0.0", 1024, () => {
      if (++listening === to - from) process.stdout.write("listening\n");
    });
  }
} else if (role === "checker") {
  // The agent's scheduler over every target; reports its figures as one JSON line.
  const jobs: CheckJob[] = [];
  for (let a = 0; a < ADDRESSES; a++)
    for (let p = 0; p < PORTS; p++)
      jobs.push({
        service: "bench/health",
        server: `${address(a)}:${BASE_PORT + p}`,
        target: { address: address(a), port: BASE_PORT + p },
        spec: { type: "http", path: "/", statusCodes: [200] },
        intervalMs: 1000,
        timeoutMs: 1000,
        retries: 0,
        delayBeforeRetryMs: 0,
        rise: 1,
        fall: 1,
      });
  let checks = 0;
  let failedChecks = 0;
  let latencies: number[] | undefined; // sampled in the window only
  const reasons = new Map<string, number>();
  const downAt = new Map<string, number>();
  const scheduler = new HealthScheduler({
    log: pino({ level: "silent" }),
    concurrency: 1024,
    onResult: (_job, r) => {
      checks++;
      if (!r.ok) failedChecks++;
      latencies?.push(r.latencyMs);
      if (!r.ok && latencies) reasons.set(r.detail, (reasons.get(r.detail) ?? 0) + 1);
    },
    onChange: (job, healthy) => {
      if (!healthy) downAt.set(job.server, Date.now());
    },
  });
  scheduler.start(jobs);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const checks0 = checks;
  latencies = [];
  const failed0 = failedChecks;
  await new Promise((r) => setTimeout(r, WINDOW_MS));
  const cpu = process.cpuUsage(cpu0);
  const elapsed = performance.now() - t0;
  const window = {
    cpuShare: (cpu.user + cpu.system) / 1000 / elapsed,
    checksPerSecond: ((checks - checks0) * 1000) / elapsed,
    failedInWindow: failedChecks - failed0,
    downBeforeFailure: downAt.size,
    latencyP50: pct(latencies, 0.5),
    latencyP99: pct(latencies, 0.99),
    reasons: Object.fromEntries(reasons),
  };
  latencies = undefined;
  process.stdout.write(`${JSON.stringify({ type: "window", ...window })}\n`);
  // The parent now makes 1,000 servers fail and tells us when (its clock is ours: one host).
  process.stdin.setEncoding("utf8");
  let failAt = 0;
  process.stdin.on("data", (d: string) => (failAt = Number(d.trim())));
  while (failAt === 0) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 3_000));
  scheduler.stop();
  const delays = [...downAt.values()].filter((t) => t >= failAt).map((t) => t - failAt);
  process.stdout.write(`${JSON.stringify({ type: "removal", count: delays.length, delays })}\n`);
  process.exit(0);
} else {
  spawnSync("ip", ["netns", "del", NS]);
  execFileSync("ip", ["netns", "add", NS]);
  const children: ChildProcess[] = [];
  try {
    const nsExec = (...args: string[]) => execFileSync("ip", ["netns", "exec", NS, ...args]);
    nsExec("ip", "link", "set", "lo", "up");
    nsExec("sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65000");
    nsExec("sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1");
    const batch = Array.from({ length: ADDRESSES }, (_, i) => `address add ${address(i)}/32 dev lo`).join(
      "\n",
    );
    execFileSync("ip", ["-n", NS, "-batch", "-"], { input: `${batch}\n` });
    const ready = (c: ChildProcess) =>
      new Promise<void>((resolve, reject) => {
        c.stdout!.once("data", () => resolve());
        c.once("exit", (code) => reject(new Error(`exited ${code}`)));
      });
    const per = PORTS / SERVER_PROCESSES;
    for (let s = 0; s < SERVER_PROCESSES; s++) {
      const c = spawn(
        "ip",
        [
          "netns",
          "exec",
          NS,
          process.execPath,
          import.meta.filename,
          "server",
          String(BASE_PORT + s * per),
          String(BASE_PORT + (s + 1) * per),
        ],
        { stdio: ["ignore", "pipe", "inherit"] },
      );
      children.push(c);
      await ready(c);
    }
    const checker = spawn("ip", ["netns", "exec", NS, process.execPath, import.meta.filename, "checker"], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    children.push(checker);
    const lines: Record<string, unknown>[] = [];
    let buffered = "";
    checker.stdout.setEncoding("utf8");
    checker.stdout.on("data", (d: string) => {
      buffered += d;
      for (let i = buffered.indexOf("\n"); i >= 0; i = buffered.indexOf("\n")) {
        lines.push(JSON.parse(buffered.slice(0, i)) as Record<string, unknown>);
        buffered = buffered.slice(i + 1);
      }
    });
    const line = async (type: string) => {
      for (;;) {
        const found = lines.find((l) => l.type === type);
        if (found) return found;
        if (checker.exitCode !== null) throw new Error("the checker exited early");
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    // The servers' CPU over the same window, to see who is short of it.
    const ticks = () =>
      children
        .slice(0, SERVER_PROCESSES)
        .map((c) => readFileSync(`/proc/${c.pid}/stat`, "utf8").split(") ")[1]!.split(" "))
        .reduce((sum, f) => sum + Number(f[11]) + Number(f[12]), 0);
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    const serverTicks0 = ticks();
    const window = await line("window");
    const serverShare = (ticks() - serverTicks0) / 100 / (WINDOW_MS / 1000);
    const failAt = Date.now();
    for (const c of children.slice(0, SERVER_PROCESSES)) c.kill("SIGUSR1");
    checker.stdin.write(`${failAt}\n`);
    const removal = (await line("removal")) as { count: number; delays: number[] };
    const w = window as {
      cpuShare: number;
      checksPerSecond: number;
      failedInWindow: number;
      downBeforeFailure: number;
      latencyP50: number;
      latencyP99: number;
    };
    console.log(
      `targets: ${ADDRESSES * PORTS} distinct (${ADDRESSES} addresses x ${PORTS} ports), interval 1 s`,
    );
    console.log(
      `checks per second: ${Math.round(w.checksPerSecond)} (failed in the window: ${w.failedInWindow}, servers marked down before any failure: ${w.downBeforeFailure})`,
    );
    console.log(
      `failures in the window, by reason: ${JSON.stringify((window as { reasons: unknown }).reasons)}`,
    );
    console.log(
      `checker CPU: ${(w.cpuShare * 100).toFixed(0)}% of one core over ${WINDOW_MS / 1000} s, ${((w.cpuShare * 1e6) / w.checksPerSecond).toFixed(0)} µs per check`,
    );
    console.log(
      `check latency: p50 ${w.latencyP50.toFixed(1)} ms, p99 ${w.latencyP99.toFixed(1)} ms; the ${SERVER_PROCESSES} server processes: ${(serverShare * 100).toFixed(0)}% of one core together; load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`,
    );
    console.log(
      `removal decision after failure: ${removal.count} of ${FAILING} servers, p50 ${pct(removal.delays, 0.5)} ms, p99 ${pct(removal.delays, 0.99)} ms`,
    );
  } finally {
    for (const c of children) c.kill("SIGKILL");
    spawnSync("ip", ["netns", "del", NS]);
  }
}
