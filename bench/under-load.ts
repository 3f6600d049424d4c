// VRRP under load (issue #17): N routers at a short advert interval on a pair of nodes (n1 master,
// priority 150; n2 backup, 100), beside health checks on the master node, for a long window; for
// vipkeeper and keepalived one after the other in one lab.
//   - Spurious transitions: any transition on n1 away from master, or on n2 to master, during the
//     window (the agents' logs: vipkeeper's "KEY: from -> to", keepalived's "Entering X STATE");
//     on the wire, adverts from n2 in the client's capture.
//   - Advert timing: |interval - advert interval| of each router's adverts from n1, from the
//     client's tcpdump timestamps (a pcap written during the window, read afterwards), over all
//     routers (p50, p99, max) and the worst router's p99. n1 pings the client every 10 ms in the
//     same capture: a silence of n1's adverts that its pings share was the node held up (CPU
//     starvation, the VM paused), not the VRRP process alone.
//   - Checks (--checks-per-second > 0): a backend in the client namespace listens on S ports
//     (S = checks/s x the check interval, 100 ms) and counts the connections it accepts. vipkeeper:
//     n1's agent has a VirtualServer (nftables backend) with those S real servers and a TCP (or
//     HTTP) health check every 100 ms, run by the agent's main process as in production.
//     keepalived: its checker needs IPVS, which this kernel lacks, so keepalived runs --vrrp only
//     and the same checks run beside it in a stand-in process on n1 (the agent's HealthScheduler
//     over the same jobs, without the dataplane): the node does the same checking work, but the
//     comparison is of VRRP timing beside it, not of the checkers.
// Run (root): . scripts/env.sh && npm run build && node bench/under-load.ts [--routers 20]
//   [--interval-ms 100] [--checks-per-second 0] [--seconds 600] [--impls vipkeeper,keepalived]
//   [--check tcp|http] [--vrrp-nice N (both VRRP processes' priority; default vipkeeper's -10)]
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer as createTcpServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import pino from "pino";
import { HealthScheduler } from "../src/health/scheduler.ts";
import { Lab } from "../src/lab/lab.ts";
import { startAgent, writeConfig } from "../test/support/agents.ts";
import { keepalivedCommand, keepalivedConfig } from "../test/interop/keepalived.ts";
import { ENGINE_NICE } from "../src/cli/agent.ts";

const BASE_PORT = 20_000;
const CHECK_INTERVAL_MS = 100;

const role = process.argv[2];
if (role === "backend") {
  // The real servers: every port of [from, to) on every address; counts what it accepts and
  // prints the count each second.
  const [from, to] = process.argv.slice(3, 5).map(Number) as [number, number];
  const http = process.argv[5] === "http";
  let count = 0;
  let listening = 0;
  const ready = () => {
    if (++listening === to - from) process.stdout.write("listening\n");
  };
  for (let port = from; port < to; port++) {
    if (http)
      createHttpServer((_req, res) => {
        count++;
        res.writeHead(200, { connection: "close" }).end("ok");
      }).listen(port, "0.0.0.0", 4096, ready);
    else
      createTcpServer((sock) => {
        count++;
        sock.on("error", () => undefined);
        sock.end();
      }).listen(port, "0.0.0.0", 4096, ready);
  }
  setInterval(() => process.stdout.write(`count ${count}\n`), 1000);
} else if (role === "checker") {
  // keepalived's runs: the agent's scheduler over the same jobs, in n1's namespace.
  const [address, servers, kind] = [process.argv[3]!, Number(process.argv[4]), process.argv[5]];
  const scheduler = new HealthScheduler({ log: pino({ level: "silent" }), onChange: () => undefined });
  scheduler.start(
    Array.from({ length: servers }, (_, i) => ({
      service: "bench/load",
      server: `${address}:${BASE_PORT + i}`,
      target: { address, port: BASE_PORT + i },
      spec:
        kind === "http" ? { type: "http" as const, path: "/", statusCodes: [200] } : { type: "tcp" as const },
      intervalMs: CHECK_INTERVAL_MS,
      timeoutMs: 1000,
      retries: 1,
      delayBeforeRetryMs: 100,
      rise: 1,
      fall: 1,
    })),
  );
} else {
  await main();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      routers: { type: "string", default: "20" },
      "interval-ms": { type: "string", default: "100" },
      "checks-per-second": { type: "string", default: "0" },
      seconds: { type: "string", default: "600" },
      impls: { type: "string", default: "vipkeeper,keepalived" },
      check: { type: "string", default: "tcp" },
      "notrack-checks": { type: "boolean", default: false },
      // Both VRRP processes' nice value: vipkeeper's --engine-nice, keepalived's vrrp_priority.
      "vrrp-nice": { type: "string", default: String(ENGINE_NICE) },
    },
  });
  const NICE = Number(values["vrrp-nice"]);
  const withVrrpPriority = (conf: string) =>
    conf.replace("global_defs {\n", `global_defs {\n  vrrp_priority ${NICE}\n`);
  const ROUTERS = Number(values.routers);
  const INTERVAL_MS = Number(values["interval-ms"]);
  const CHECKS = Number(values["checks-per-second"]);
  const SECONDS = Number(values.seconds);
  const CHECK = values.check === "http" ? "http" : "tcp";
  const NOTRACK = values["notrack-checks"];
  const SERVERS = Math.round((CHECKS * CHECK_INTERVAL_MS) / 1000);
  if (!(ROUTERS >= 1 && ROUTERS <= 255)) throw new Error("--routers: 1..255");
  if (INTERVAL_MS < 10 || INTERVAL_MS % 10 !== 0) throw new Error("--interval-ms: centiseconds, >= 10");

  type Impl = "vipkeeper" | "keepalived";
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  /** Router i (1..N): VRID i, one address in 198.18.1.1-127 then 198.18.2.1-128. */
  const address = (i: number) => (i <= 127 ? `198.18.1.${i}` : `198.18.2.${i - 127}`);
  const PRIORITY: Record<string, number> = { n1: 150, n2: 100 };

  function vipkeeperConfig(withServer: boolean): string {
    const docs = Array.from(
      { length: ROUTERS },
      (_, k) => `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: r${k + 1}}
spec:
  vrid: ${k + 1}
  interface: eth0
  advertInterval: ${INTERVAL_MS}ms
  addresses: [{address: ${address(k + 1)}/24}]
  priorities: [{node: n1, priority: 150}, {node: n2, priority: 100}]
`,
    );
    if (withServer)
      docs.push(`apiVersion: vipkeeper.io/v1alpha1
kind: VirtualServer
metadata: {name: load, namespace: bench}
spec:
  address: ${address(1)}
  port: 80
  routerRef: r1
  scheduler: rr
  realServers:
${Array.from({ length: SERVERS }, (_, i) => `    - {address: ${lab.client.ipv4}, port: ${BASE_PORT + i}}`).join("\n")}
  healthCheck:
    ${CHECK === "http" ? "httpGet: {path: /}" : "tcp: {}"}
    interval: ${CHECK_INTERVAL_MS}ms
    timeout: 1s
    retries: 1
    delayBeforeRetry: 100ms
`);
    return docs.join("---\n");
  }

  interface Running {
    log: string[];
    /** Transitions in log lines: [node, instance, to] from the given log index on. */
    transitions(from: number): { node: string; instance: string; from?: string; to: string }[];
  }

  function startMember(impl: Impl, node: string): Running {
    if (impl === "vipkeeper") {
      const withServer = node === "n1" && CHECKS > 0;
      const agent = startAgent(
        lab,
        node,
        writeConfig(vipkeeperConfig(withServer)),
        [`--engine-nice=${NICE}`, ...(withServer ? ["--lb-backend", "nftables"] : [])],
        { fromDist: true },
      );
      return {
        log: agent.log,
        transitions: (from) =>
          agent.log.slice(from).flatMap((l) => {
            const m = /"msg":"([^"]+): (\w+) -> (\w+) \(/.exec(l);
            return m ? [{ node, instance: m[1]!, from: m[2]!, to: m[3]! }] : [];
          }),
      };
    }
    const { argv } = keepalivedCommand(
      // The VRRP process at the same priority as vipkeeper's engine (keepalived's vrrp_priority).
      withVrrpPriority(
        keepalivedConfig(
          Array.from({ length: ROUTERS }, (_, k) => ({
            name: `r${k + 1}`,
            version: 3 as const,
            vrid: k + 1,
            priority: PRIORITY[node]!,
            interfaceName: "eth0",
            advertIntervalS: INTERVAL_MS / 1000,
            addresses: [`${address(k + 1)}/24`],
          })),
          node,
        ),
      ),
      // Without --log-detail: every gratuitous ARP of 255 routers on the console is load of its own.
      { logDetail: false },
    );
    const child = lab.spawn(node, argv);
    const log: string[] = [];
    let buf = "";
    const collect = (d: Buffer) => {
      buf += d.toString();
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      log.push(...lines);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);
    return {
      log,
      transitions: (from) =>
        log.slice(from).flatMap((l) => {
          const m = /\((r\d+)\) Entering (\w+) STATE/.exec(l);
          return m ? [{ node, instance: m[1]!, to: m[2]!.toLowerCase() }] : [];
        }),
    };
  }

  /** utime + stime (clock ticks) of every process in a node's namespace now, by pid. */
  function cpuTicks(node: string): Map<number, number> {
    const out = new Map<number, number>();
    for (const pid of lab.pids(node)) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        out.set(pid, Number(f[11]) + Number(f[12]));
      } catch {
        // gone
      }
    }
    return out;
  }
  const cpuShare = (a: Map<number, number>, b: Map<number, number>, ms: number) => {
    let ticks = 0;
    for (const [pid, t] of b) ticks += t - (a.get(pid) ?? 0);
    return ticks / 100 / (ms / 1000);
  };

  function startBackend(): Promise<{ child: ChildProcess; count: () => number }> {
    const child = lab.spawn("client", [
      process.execPath,
      import.meta.filename,
      "backend",
      String(BASE_PORT),
      String(BASE_PORT + SERVERS),
      CHECK,
    ]);
    child.stderr?.pipe(process.stderr);
    let count = 0;
    return new Promise((resolve, reject) => {
      let buf = "";
      child.stdout?.on("data", (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split("\n");
        buf = lines.pop() ?? "";
        for (const l of lines) {
          if (l === "listening") resolve({ child, count: () => count });
          else if (l.startsWith("count ")) count = Number(l.slice(6));
        }
      });
      child.once("exit", (code: number | null) => reject(new Error(`backend exited: ${code}`)));
    });
  }

  const pct = (sorted: number[], p: number) =>
    sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

  /** Reads the capture: deviations of n1's adverts per VRID, and adverts from n2. */
  async function readCapture(file: string, n1: string, n2: string) {
    const r = spawn("tcpdump", ["-r", file, "-n", "-tt"], { stdio: ["ignore", "pipe", "ignore"] });
    const last = new Map<number, number>();
    const byRouter = new Map<number, number[]>();
    let fromN2 = 0;
    let others = 0;
    // n1 silent on every router at once: the engine (or the whole node) stalled.
    let lastN1: number | undefined;
    const silences: { at: number; ms: number }[] = [];
    /** Gaps of over 50 ms between n1's pings (sent every 10 ms). */
    const pingGaps: { at: number; ms: number }[] = [];
    let lastPing: number | undefined;
    for await (const line of createInterface({ input: r.stdout })) {
      const ping = /^(\d+\.\d+) IP (\S+) > \S+ ICMP echo request/.exec(line);
      if (ping && ping[2] === n1) {
        const t = Number(ping[1]) * 1000;
        if (lastPing !== undefined && t - lastPing > 50) pingGaps.push({ at: lastPing, ms: t - lastPing });
        lastPing = t;
        continue;
      }
      const m = /^(\d+\.\d+) IP (\S+) > \S+ VRRPv\d, Advertisement, vrid (\d+),/.exec(line);
      if (!m) continue;
      if (m[2] === n2) {
        fromN2++;
        continue;
      }
      if (m[2] !== n1) {
        others++;
        continue;
      }
      const t = Number(m[1]) * 1000;
      if (lastN1 !== undefined && t - lastN1 > 1.5 * INTERVAL_MS)
        silences.push({ at: lastN1, ms: t - lastN1 });
      lastN1 = t;
      const vrid = Number(m[3]);
      const prev = last.get(vrid);
      if (prev !== undefined) {
        let xs = byRouter.get(vrid);
        if (!xs) byRouter.set(vrid, (xs = []));
        xs.push(Math.abs(t - prev - INTERVAL_MS));
      }
      last.set(vrid, t);
    }
    // A silence shared: a ping gap overlapping at least half of it.
    const overlap = (a: { at: number; ms: number }, b: { at: number; ms: number }) =>
      Math.max(0, Math.min(a.at + a.ms, b.at + b.ms) - Math.max(a.at, b.at));
    const shared = silences.filter((x) => pingGaps.some((g) => overlap(x, g) >= x.ms / 2)).length;
    return { byRouter, fromN2, others, silences, pingGaps, shared };
  }

  async function measure(impl: Impl) {
    for (const n of lab.nodes) lab.killAll(n.name);
    await sleep(300);
    for (const n of lab.nodes)
      for (let i = 1; i <= ROUTERS; i++)
        spawnSync("ip", ["-n", n.ns, "addr", "del", `${address(i)}/24`, "dev", "eth0"], { stdio: "ignore" });
    // n1 first, alone until it holds every address, then n2, which finds a master on every router
    // (started together, 255 keepalived routers on a busy machine took minutes to settle: both
    // nodes master, elections forced back and forth).
    const n1 = startMember(impl, "n1");
    const checker =
      impl === "keepalived" && CHECKS > 0
        ? lab.spawn("n1", [
            process.execPath,
            import.meta.filename,
            "checker",
            lab.client.ipv4,
            String(SERVERS),
            CHECK,
          ])
        : undefined;
    checker?.stdout?.resume();
    checker?.stderr?.pipe(process.stderr);
    let members = { n1, n2: n1 };
    const settled = async (withN2: boolean) => {
      const end = Date.now() + 90_000;
      for (;;) {
        const a1 = new Set(lab.addresses("n1"));
        const a2 = new Set(lab.addresses("n2"));
        let ok = true;
        for (let i = 1; i <= ROUTERS && ok; i++) ok = a1.has(address(i)) && !a2.has(address(i));
        if (ok) return;
        if (Date.now() > end) {
          console.error(`n1 holds ${[...a1].join(" ")}; n2 holds ${[...a2].join(" ")}`);
          console.error(members.n1.log.slice(-20).join("\n"));
          if (withN2) console.error("--- n2", members.n2.log.slice(-20).join("\n"));
          throw new Error(`${impl}: not settled (n1 master of all, n2 of none) in 90 s`);
        }
        await sleep(200);
      }
    };
    await settled(false);
    await sleep(2000);
    members = { n1, n2: startMember(impl, "n2") };
    await sleep(3 * 4 * INTERVAL_MS + 1000); // n2 past a Master_Down_Interval
    await settled(true);
    await sleep(5000); // announcements done, checks at their pace
    const logFrom = { n1: members.n1.log.length, n2: members.n2.log.length };
    const dir = mkdtempSync(join(tmpdir(), "vkld-"));
    const pcap = join(dir, "adverts.pcap");
    const load0 = loadavg();
    const cpu0 = { n1: cpuTicks("n1"), n2: cpuTicks("n2") };
    const count0 = backend?.count() ?? 0;
    const t0 = Date.now();
    // Not spawnSync: this process keeps reading the agents' and the backend's output meanwhile
    // (an agent blocks on a full pipe).
    const dumper = spawn("ip", [
      "netns",
      "exec",
      lab.node("client").ns,
      "timeout",
      String(SECONDS),
      "tcpdump",
      "-n",
      "-s",
      "96",
      "-B",
      "16384",
      "-i",
      "eth0",
      "-w",
      pcap,
      "vrrp or icmp",
    ]);
    // The control: ping from n1 every 10 ms, in the same capture. A silence of n1's adverts that
    // its pings share was the node (or the machine) held up, not the VRRP process alone.
    const pinger = spawn(
      "ip",
      [
        "netns",
        "exec",
        lab.node("n1").ns,
        "ping",
        "-q",
        "-i",
        "0.01",
        "-w",
        String(SECONDS),
        lab.client.ipv4,
      ],
      { stdio: "ignore" },
    );
    dumper.stdout.resume();
    let dumpErr = "";
    dumper.stderr.on("data", (d: Buffer) => (dumpErr += d.toString()));
    await new Promise((r) => dumper.once("exit", r));
    pinger.kill();
    const elapsed = Date.now() - t0;
    const cpu = {
      n1: cpuShare(cpu0.n1, cpuTicks("n1"), elapsed),
      n2: cpuShare(cpu0.n2, cpuTicks("n2"), elapsed),
    };
    // The backend prints its count each second: both ends lag by up to a second alike.
    await sleep(1100);
    const checksPerSecond = backend ? ((backend.count() - count0) * 1000) / elapsed : 0;
    const load1 = loadavg();
    const spurious = [
      ...members.n1.transitions(logFrom.n1).filter((t) => t.to !== "master"),
      ...members.n2.transitions(logFrom.n2).filter((t) => t.to === "master"),
    ];
    const allTransitions =
      members.n1.transitions(logFrom.n1).length + members.n2.transitions(logFrom.n2).length;
    const held = lab.addresses("n1");
    const conntrack =
      spawnSync(
        "ip",
        ["netns", "exec", lab.node("n1").ns, "cat", "/proc/sys/net/netfilter/nf_conntrack_count"],
        {
          encoding: "utf8",
        },
      ).stdout.trim() || "–";
    const windowLog = members.n1.log.slice(logFrom.n1);
    const notSent = windowLog.filter((l) => l.includes('"advert not sent"')).length;
    const serverDowns = windowLog.filter((l) => / of bench\/load is down"/.test(l)).length;
    const n1HoldsAll = Array.from({ length: ROUTERS }, (_, k) => address(k + 1)).every((a) =>
      held.includes(a),
    );
    checker?.kill("SIGKILL");
    for (const n of lab.nodes) lab.killAll(n.name);
    const dropped = /(\d+) packets dropped by kernel/.exec(dumpErr)?.[1] ?? "?";
    const cap = await readCapture(pcap, lab.node("n1").ipv4, lab.node("n2").ipv4);
    if (process.env.VK_BENCH_KEEP) console.error(`kept ${pcap}; logs ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
    if (process.env.VK_BENCH_KEEP) {
      writeFileSync(join(dir, "n1.log"), members.n1.log.join("\n"));
      writeFileSync(join(dir, "n2.log"), members.n2.log.join("\n"));
    }
    const all = [...cap.byRouter.values()].flat().sort((a, b) => a - b);
    const perRouterP99 = [...cap.byRouter.values()].map((xs) =>
      pct(
        [...xs].sort((a, b) => a - b),
        99,
      ),
    );
    const worst = [...cap.byRouter.entries()]
      .map(([vrid, xs]) => ({
        vrid,
        p99: pct(
          [...xs].sort((a, b) => a - b),
          99,
        ),
        max: Math.max(...xs),
      }))
      .sort((a, b) => b.p99 - a.p99)[0];
    return {
      impl,
      adverts: all.length,
      routersSeen: cap.byRouter.size,
      p50: pct(all, 50),
      p99: pct(all, 99),
      p999: pct(all, 99.9),
      max: all.at(-1) ?? Number.NaN,
      medianRouterP99: pct(
        [...perRouterP99].sort((a, b) => a - b),
        50,
      ),
      worst,
      over5: all.filter((d) => d > 5).length,
      silences: cap.silences,
      pingGaps: cap.pingGaps,
      sharedSilences: cap.shared,
      conntrack,
      notSent,
      serverDowns,
      spurious,
      allTransitions,
      fromN2: cap.fromN2,
      others: cap.others,
      dropped,
      n1HoldsAll,
      checksPerSecond,
      cpu,
      elapsed,
      load: [load0, load1],
    };
  }

  const lab: Lab = Lab.create({ prefix: "vkld-", nodes: 2 });
  lab.destroyOnExit();
  let backend: { child: ChildProcess; count: () => number } | undefined;
  const results: Awaited<ReturnType<typeof measure>>[] = [];
  try {
    if (CHECKS > 0) {
      for (const n of ["n1"])
        for (const [k, v] of [
          ["net.ipv4.ip_local_port_range", "1024 65000"],
          ["net.ipv4.tcp_tw_reuse", "1"],
        ])
          lab.exec(n, ["sysctl", "-qw", `${k}=${v}`]);
      if (NOTRACK) {
        // The checks' own connections (n1 <-> the backend's ports) untracked, as an operator
        // would set it: the nftables backend's NAT puts conntrack on n1, and 10,000 checks a
        // second leave ~1.2 M connections in TIME_WAIT's 120 s, over the table's 262,144; a
        // full table drops new packets, the VRRP adverts too (sendmsg EPERM).
        const ports = `${BASE_PORT}-${BASE_PORT + SERVERS - 1}`;
        const n1 = lab.node("n1").ipv4;
        const c = lab.client.ipv4;
        lab.exec(
          "n1",
          ["nft", "-f", "-"],
          `table inet vkld_notrack {
  chain out { type filter hook output priority raw; ip saddr ${n1} ip daddr ${c} tcp dport ${ports} notrack; }
  chain pre { type filter hook prerouting priority raw; ip saddr ${c} ip daddr ${n1} tcp sport ${ports} notrack; }
}
`,
        );
      }
      backend = await startBackend();
    }
    console.error(
      `${new Date().toISOString()}: ${ROUTERS} routers at ${INTERVAL_MS} ms, ${CHECKS ? `${SERVERS} ${CHECK} checks every ${CHECK_INTERVAL_MS} ms on n1` : "no checks"}, ${SECONDS} s per implementation; VRRP processes at nice ${NICE}; load ${loadavg()
        .map((x) => x.toFixed(2))
        .join(" ")}`,
    );
    for (const impl of values.impls.split(",") as Impl[]) {
      const r = await measure(impl);
      results.push(r);
      console.error(
        JSON.stringify({ ...r, spurious: r.spurious.slice(0, 20), spuriousCount: r.spurious.length }),
      );
    }
  } finally {
    backend?.child.kill("SIGKILL");
    lab.destroy();
  }
  const f = (x: number) => x.toFixed(2);
  const la = (l: number[]) => l.map((x) => x.toFixed(1)).join(" ");
  console.log(
    `${new Date().toISOString()}: ${ROUTERS} routers at ${INTERVAL_MS} ms on n1 (150) and n2 (100); checks: ${CHECKS ? `${SERVERS} real servers, ${CHECK} every ${CHECK_INTERVAL_MS} ms on n1 (target ${CHECKS}/s)${NOTRACK ? ", their connections untracked (notrack)" : ""}` : "none"}; ${SECONDS} s window each`,
  );
  console.log(`|interval - ${INTERVAL_MS} ms| of n1's adverts at the client, ms`);
  console.log(
    "| implementation | adverts | p50 | p99 | p99.9 | max | > 5 ms | worst router p99 (max) | spurious transitions | adverts from n2 | checks/s done | CPU n1 / n2 (cores) | load avg start → end |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of results)
    console.log(
      `| ${r.impl}${r.impl === "keepalived" && CHECKS ? " (VRRP; checks by a stand-in)" : ""} | ${r.adverts} | ${f(r.p50)} | ${f(r.p99)} | ${f(r.p999)} | ${f(r.max)} | ${r.over5} | ${r.worst ? `${f(r.worst.p99)} (${f(r.worst.max)})` : "–"} | ${r.spurious.length} | ${r.fromN2} | ${Math.round(r.checksPerSecond)} | ${f(r.cpu.n1)} / ${f(r.cpu.n2)} | ${la(r.load[0]!)} → ${la(r.load[1]!)} |`,
    );
  for (const r of results) {
    if (r.routersSeen !== ROUTERS)
      console.log(`${r.impl}: adverts of ${r.routersSeen} routers seen, not ${ROUTERS}`);
    if (r.silences.length) {
      const longest = [...r.silences].sort((a, b) => b.ms - a.ms).slice(0, 5);
      console.log(
        `${r.impl}: n1 silent on all routers for more than 1.5 intervals ${r.silences.length} times; longest: ${longest.map((x) => `${f(x.ms)} ms at ${new Date(x.at).toISOString().slice(11, 23)}`).join(", ")}`,
      );
    }
    const longestGap = Math.max(0, ...r.pingGaps.map((g) => g.ms));
    console.log(
      `${r.impl}: n1's pings (every 10 ms) paused over 50 ms ${r.pingGaps.length} times (longest ${f(longestGap)} ms); n1's advert silences the pings shared (the node held up, not the VRRP process alone): ${r.sharedSilences} of ${r.silences.length}`,
    );
    console.log(
      `${r.impl}: n1's conntrack entries at the end ${r.conntrack}; adverts the kernel refused to send ${r.notSent}; real servers marked down ${r.serverDowns} (vipkeeper's log)`,
    );
    if (!r.n1HoldsAll) console.log(`${r.impl}: n1 did not hold every address at the end`);
    if (r.dropped !== "0") console.log(`${r.impl}: tcpdump dropped ${r.dropped} packets`);
    if (r.spurious.length)
      console.log(
        `${r.impl}: spurious: ${r.spurious
          .slice(0, 10)
          .map((t) => `${t.node} ${t.instance} -> ${t.to}`)
          .join(", ")}`,
      );
  }
  process.exit(0);
}
