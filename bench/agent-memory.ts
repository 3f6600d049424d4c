// Memory of a vipkeeper agent against keepalived's VRRP process, for N routers (each its own VRID
// and address: 198.18.1.x, then 198.18.2.x), once every router is master on the node: the
// proportional set size (PSS: shared pages split between the processes that map them) of the
// agent's processes (its main process and its one engine) and of keepalived's (`keepalived --vrrp`
// on a keepalived.conf with the same routers), in a lab namespace (prefix vkmem-).
//   file mode:    `vipkeeper agent --config keepalived.conf` (that same file);
//   cluster mode: `vipkeeper agent --cluster` with N VirtualRouters (spec.vrid and the address
//                 as in the file) on a real kube-apiserver (the set-up's build), reached over TLS
//                 with a service account token, as a DaemonSet's pod does (`--api fake`: on the
//                 in-process API server of the tests, plain HTTP), the controller as a process.
//                 Counted: only the processes in the node's network namespace that are the agent
//                 (its main process and engine). The API server and the controller run outside the
//                 node's namespace and are not counted; nor is the lab's forwarder to the API
//                 server in the namespace (a stand-in for the node's network).
// The agent runs from a private copy of the Node binary, so that no other process here shares its
// pages, as on a node (see AGENT_NODE); the bench also measures reference processes from that copy
// (idle ones, one with a worker thread, one holding an HTTPS connection: referenceFloors), the
// floor of any agent made of Node processes.
// Runs dist/ (bin/vipkeeper.js; `npm run build` first). Exits 1 when an agent runs other than one
// engine process. `--cpu S` also measures CPU (utime + stime from /proc/PID/stat) over S seconds
// after the settle, and `--advert-ms` sets the advert interval (keepalived: vrrp_version 3 below 1 s).
// `--breakdown` prints each counted process's PSS by kind of mapping (binary, files, [heap], ...).
// Run (root): . scripts/env.sh && node bench/agent-memory.ts [--routers 1,16,255] [--mode file,cluster]
import {
  chmodSync,
  copyFileSync,
  existsSync,
  readFileSync,
  rmSync,
  writeFileSync,
  mkdtempSync,
} from "node:fs";
import { tmpdir, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { execFileSync, spawn } from "node:child_process";
import { createServer as createHttpsServer } from "node:https";
import { parseArgs } from "node:util";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { ClusterLab, serviceAccountCredentials, type LabApi } from "../src/lab/cluster-lab.ts";
import { Lab } from "../src/lab/lab.ts";
import { RealKube } from "../src/lab/real-kube.ts";
import { isEngineCommand } from "../src/engine/leftovers.ts";
import { startAgent, waitUntil } from "../test/support/agents.ts";
import { inProcessCluster } from "../test/support/cluster-lab.ts";

const { values } = parseArgs({
  options: {
    routers: { type: "string", default: "1,16,255" },
    mode: { type: "string", default: "file,cluster" },
    "advert-ms": { type: "string", default: "1000" },
    cpu: { type: "string", default: "0" },
    settle: { type: "string", default: "5" },
    "no-keepalived": { type: "boolean", default: false },
    breakdown: { type: "boolean", default: false },
    api: { type: "string", default: "real" },
  },
});
const sizes = values.routers.split(",").map(Number);
const modes = values.mode.split(",") as ("file" | "cluster")[];
const advertMs = Number(values["advert-ms"]);
const cpuSeconds = Number(values.cpu);
const settleMs = Number(values.settle) * 1000;
for (const n of sizes) if (!(n >= 1 && n <= 255)) throw new Error(`--routers: 1..255, not ${n}`);
if (values.api !== "real" && values.api !== "fake") throw new Error(`--api: real or fake, not ${values.api}`);
for (const m of modes as string[])
  if (m !== "file" && m !== "cluster") throw new Error(`--mode: file or cluster, not ${m}`);
if (process.env.VIPKEEPER_FROM_SOURCE === "1")
  throw new Error("unset VIPKEEPER_FROM_SOURCE: this measures dist/");
if (!existsSync(join(import.meta.dirname, "../dist/cli/main.js")))
  throw new Error("run `npm run build` first");

const PREFIX = "vkmem-";
// A PSS splits a shared page among every process that maps it: from the same binary as this
// bench, the controller, the lab's forwarder and any other Node process here, the agent's figure
// lost 30-45 MB of the binary's pages to them (BENCHMARKS.md).
const AGENT_NODE = join(mkdtempSync(join(tmpdir(), "vk-mem-node-")), "node");
copyFileSync(process.execPath, AGENT_NODE);
chmodSync(AGENT_NODE, 0o755);
process.on("exit", () => rmSync(dirname(AGENT_NODE), { recursive: true, force: true }));
/** Router i (1-based): VRID i, address 198.18.1.i up to 128, then 198.18.2.(i - 128). */
const address = (i: number) => (i <= 128 ? `198.18.1.${i}` : `198.18.2.${i - 128}`);
const addresses = (n: number) => Array.from({ length: n }, (_, i) => address(i + 1));

const conf = (n: number) =>
  (advertMs < 1000 ? "global_defs {\n    vrrp_version 3\n}\n" : "") +
  Array.from(
    { length: n },
    (_, i) => `vrrp_instance VI_${i + 1} {
    interface eth0
    state MASTER
    priority 150
    virtual_router_id ${i + 1}
    advert_int ${advertMs / 1000}
    virtual_ipaddress {
        ${address(i + 1)}/24
    }
}
`,
  ).join("");

const writeConf = (n: number) => {
  const file = join(mkdtempSync(join(tmpdir(), "vk-mem-")), "keepalived.conf");
  writeFileSync(file, conf(n));
  return file;
};

const smaps = (pid: number) => {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? 0);
  return { pss: kb("Pss") / 1024, rss: kb("Rss") / 1024, anon: kb("Pss_Anon") / 1024 };
};
/** PSS in MB by kind of mapping: the Node binary, other files, malloc's brk heap, anonymous maps. */
const breakdown = (pid: number) => {
  const out: Record<string, number> = {};
  let kind = "";
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[1]!;
      kind = name === AGENT_NODE ? "binary" : name.startsWith("/") ? "files" : name || "anonymous";
    } else if (line.startsWith("Pss:")) out[kind] = (out[kind] ?? 0) + Number(line.split(/\s+/)[1]) / 1024;
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, round1(v)]));
};
const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
/** utime + stime in clock ticks (100 per second). */
const cpuTicks = (pid: number) => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round1 = (x: number) => Math.round(x * 10) / 10;

type Kind = "agent" | "engine" | "keepalived" | "other";
const kindOf = (argv: string[]): Kind =>
  isEngineCommand(argv)
    ? "engine"
    : argv.some((a) => a.endsWith("vipkeeper.js")) && argv.includes("agent")
      ? "agent"
      : argv[0]?.endsWith("keepalived")
        ? "keepalived"
        : "other";

interface Measured {
  processes: number;
  engines: number;
  totalMb: number;
  engineMb: number;
  rssMb: number;
  anonMb: number;
  cpuPercent?: number;
  excluded: string[];
}

/** Waits until the node holds every address, lets it settle, then measures the counted processes. */
async function measure(lab: Lab, n: number, counted: Kind[], what: string): Promise<Measured> {
  const all = addresses(n);
  await waitUntil(
    () => {
      const held = new Set(lab.addresses("n1"));
      return all.every((a) => held.has(a));
    },
    180_000,
    `${what}: ${n} masters`,
  );
  await sleep(settleMs); // announcements done, heaps past start-up
  const procs = lab.pids("n1").map((pid) => {
    const argv = cmdline(pid);
    return { pid, argv, kind: kindOf(argv) };
  });
  const mine = procs.filter((p) => counted.includes(p.kind));
  let cpuPercent: number | undefined;
  if (cpuSeconds > 0) {
    const t0 = mine.reduce((s, p) => s + cpuTicks(p.pid), 0);
    await sleep(cpuSeconds * 1000);
    const t1 = mine.reduce((s, p) => s + cpuTicks(p.pid), 0);
    cpuPercent = round1((t1 - t0) / cpuSeconds); // ticks are 10 ms: ticks / s = percent
  }
  const mem = mine.map((p) => ({ ...p, ...smaps(p.pid) }));
  if (values.breakdown)
    for (const p of mine)
      process.stdout.write(`${JSON.stringify({ what, kind: p.kind, pss: breakdown(p.pid) })}\n`);
  const sum = (ps: typeof mem, k: "pss" | "rss" | "anon") => ps.reduce((s, p) => s + p[k], 0);
  const engines = mem.filter((p) => p.kind === "engine");
  return {
    processes: mine.length,
    engines: engines.length,
    totalMb: round1(sum(mem, "pss")),
    engineMb: round1(sum(engines, "pss")),
    rssMb: round1(sum(mem, "rss")),
    anonMb: round1(sum(mem, "anon")),
    ...(cpuPercent !== undefined ? { cpuPercent } : {}),
    excluded: procs.filter((p) => !counted.includes(p.kind)).map((p) => p.argv.slice(0, 3).join(" ")),
  };
}

const keepalivedFigures = new Map<number, Measured>();
async function keepalived(lab: Lab, n: number): Promise<Measured | undefined> {
  if (values["no-keepalived"]) return undefined;
  const cached = keepalivedFigures.get(n);
  if (cached) return cached;
  const file = writeConf(n);
  const dir = join(file, "..");
  const k = lab.spawn("n1", [
    "keepalived",
    "--dont-fork",
    "--vrrp",
    "-f",
    file,
    "-p",
    join(dir, "k.pid"),
    "-r",
    join(dir, "v.pid"),
  ]);
  try {
    const m = await measure(lab, n, ["keepalived"], "keepalived");
    keepalivedFigures.set(n, m);
    return m;
  } finally {
    k.kill("SIGKILL");
    for (const pid of lab.pids("n1")) if (kindOf(cmdline(pid)) === "keepalived") process.kill(pid, "SIGKILL");
    await waitUntil(() => !lab.addresses("n1").includes(address(1)), 10_000, "keepalived's addresses gone");
  }
}

async function fileMode(n: number) {
  const lab = Lab.create({ prefix: PREFIX, nodes: 1 });
  try {
    lab.exec("n1", ["ip", "addr", "add", "198.18.1.250/24", "dev", "eth0"]);
    lab.exec("n1", ["ip", "addr", "add", "198.18.2.250/24", "dev", "eth0"]);
    const agent = startAgent(lab, "n1", writeConf(n), [], { nodeBinary: AGENT_NODE });
    const v = await measure(lab, n, ["agent", "engine"], "vipkeeper file mode").catch((err: Error) => {
      throw new Error(`${err.message}\n${agent.log.slice(-30).join("\n")}`);
    });
    lab.killAll("n1");
    await waitUntil(() => lab.pids("n1").length === 0, 10_000, "the agent gone");
    // Its addresses expire within 2.25 s of its death (the dead man's switch).
    await waitUntil(() => !lab.addresses("n1").includes(address(1)), 10_000, "the agent's addresses gone");
    return { v, k: await keepalived(lab, n) };
  } finally {
    lab.destroy();
  }
}

const VR = { group: "vipkeeper.io", version: "v1alpha1", plural: "virtualrouters" };
/** A one-node cluster lab on the real API server (the agent's credentials are its pod's) or the fake one. */
async function clusterLab(): Promise<{ c: ClusterLab<LabApi>; custom: CustomObjectsApi }> {
  if (values.api === "fake") {
    const c = await inProcessCluster(PREFIX, 1);
    return { c, custom: c.api.kubeConfig().makeApiClient(CustomObjectsApi) };
  }
  const kube = await RealKube.start();
  try {
    await kube.installCrds();
    await kube.installRbac();
    const c = await ClusterLab.createWith(PREFIX, 1, kube, serviceAccountCredentials(kube));
    return { c, custom: kube.kubeConfig().makeApiClient(CustomObjectsApi) };
  } catch (err) {
    await kube.stop();
    throw err;
  }
}
async function clusterMode(n: number) {
  const { c, custom } = await clusterLab();
  try {
    c.startController();
    for (let i = 1; i <= n; i++)
      await custom.createClusterCustomObject({
        ...VR,
        body: {
          apiVersion: "vipkeeper.io/v1alpha1",
          kind: "VirtualRouter",
          metadata: { name: `vr-${i}` },
          spec: {
            vrid: i,
            interface: "eth0",
            addresses: [{ address: `${address(i)}/24` }],
            advertInterval: `${advertMs}ms`,
          },
        },
      });
    c.startAgent("n1", [], AGENT_NODE);
    const v = await measure(c.lab, n, ["agent", "engine"], "vipkeeper cluster mode").catch((err: Error) => {
      throw new Error(`${err.message}\n${c.dump(30)}`);
    });
    c.killAgent("n1");
    await waitUntil(
      () => !c.lab.pids("n1").some((p) => kindOf(cmdline(p)) !== "other"),
      10_000,
      "the agent gone",
    );
    await waitUntil(() => !c.lab.addresses("n1").includes(address(1)), 10_000, "the agent's addresses gone");
    return { v, k: await keepalived(c.lab, n) };
  } finally {
    await c.destroy();
  }
}

process.stdout.write(
  `${new Date().toISOString()} load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}; adverts every ${advertMs} ms; dist/ (bin/vipkeeper.js)\n`,
);
const rows: string[] = [];
let failed = false;
for (const mode of modes)
  for (const n of sizes) {
    const { v, k } = mode === "file" ? await fileMode(n) : await clusterMode(n);
    process.stdout.write(`${JSON.stringify({ mode, routers: n, vipkeeper: v, keepalived: k })}\n`);
    if (v.engines !== 1) {
      failed = true;
      process.stdout.write(`FAIL: ${mode} mode with ${n} routers ran ${v.engines} engine processes, not 1\n`);
    }
    const cpu = cpuSeconds > 0 ? ` ${v.cpuPercent}% | ${k?.cpuPercent ?? "-"}% |` : "";
    rows.push(
      `| ${mode} | ${n} | ${v.processes} | ${v.engines} | ${Math.round(v.totalMb)} MB | ${Math.round(v.engineMb)} MB | ${
        k ? `${Math.round(k.totalMb)} MB | ${(v.totalMb / k.totalMb).toFixed(1)}x` : "- | -"
      } |${cpu}`,
    );
  }
// What any agent made of Node processes starts from: reference processes from the same binary
// copy, measured the same way (3 s after start). One idle process; two (the floor of a main process
// and an engine); one with an idle worker thread (the engine as a thread instead of a process); two,
// one of which made an HTTPS request and keeps the connection (cluster mode's floor: the API is
// HTTPS). The TLS server is this bench's process, on a unix socket (no traffic on any address).
const IDLE = "setInterval(() => {}, 1000)";
async function referencePss(scripts: string[], ready = 0): Promise<number> {
  const procs = scripts.map((script) =>
    spawn(AGENT_NODE, ["-e", script], { stdio: ["ignore", "pipe", "inherit"] }),
  );
  try {
    // A script that prints "ready" has done its work (the TLS request) before the 3 s start.
    await Promise.all(
      procs.slice(0, ready).map(
        (c) =>
          new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error("reference process: not ready in 10 s")), 10_000);
            c.stdout.on("data", (d: Buffer) => {
              if (!d.toString().includes("ready")) return;
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
    await sleep(3000);
    return round1(procs.reduce((sum, c) => sum + smaps(c.pid!).pss, 0));
  } finally {
    for (const c of procs) c.kill("SIGKILL");
  }
}
async function referenceFloors() {
  const dir = mkdtempSync(join(tmpdir(), "vk-mem-tls-"));
  try {
    const [key, cert] = [join(dir, "key.pem"), join(dir, "cert.pem")];
    // RSA 2048, as the lab's kube-apiserver serves (scripts/kube-up.sh).
    const req =
      "req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost";
    execFileSync("openssl", [...req.split(" "), "-keyout", key, "-out", cert], { stdio: "ignore" });
    const socket = join(dir, "tls.sock");
    const server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_q, r) =>
      r.end("{}"),
    );
    await new Promise<void>((r) => server.listen(socket, r));
    const tlsClient =
      `const https = require("node:https");` +
      `https.get({ socketPath: ${JSON.stringify(socket)}, servername: "localhost", ca: ${JSON.stringify(readFileSync(cert, "utf8"))},` +
      ` agent: new https.Agent({ keepAlive: true }) }, (r) => { r.resume(); r.on("end", () => console.log("ready")); });` +
      IDLE;
    try {
      return {
        oneIdle: await referencePss([IDLE]),
        twoIdle: await referencePss([IDLE, IDLE]),
        oneWithWorker: await referencePss([
          `new (require("node:worker_threads").Worker)(${JSON.stringify(IDLE)}, { eval: true }); ${IDLE}`,
        ]),
        twoIdleOneTls: await referencePss([tlsClient, IDLE], 1),
      };
    } finally {
      server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const floors = await referenceFloors();
const floorMb = floors.twoIdle;
process.stdout.write(`${JSON.stringify({ floorsMb: floors })}\n`);
process.stdout.write(
  `\nReference processes from the agent's binary copy (PSS together): one idle Node process ${Math.round(floors.oneIdle)} MB;` +
    ` two ${Math.round(floorMb)} MB (the floor of a main process and an engine); one with an idle worker thread ${Math.round(floors.oneWithWorker)} MB;` +
    ` two, one of them holding an HTTPS connection ${Math.round(floors.twoIdleOneTls)} MB (cluster mode's floor).` +
    `\nCounted: the agent's processes in the node's network namespace (main + engine). Not counted: the API server and the controller (outside the namespace) and the lab's forwarder to the API server (in cluster mode's namespace).\n\n` +
    `| mode | routers | processes | engines | vipkeeper PSS | engine PSS | keepalived PSS | ratio |${
      cpuSeconds > 0 ? " vipkeeper CPU | keepalived CPU |" : ""
    }\n| --- | --- | --- | --- | --- | --- | --- | --- |${cpuSeconds > 0 ? " --- | --- |" : ""}\n${rows.join("\n")}\n`,
);
process.exit(failed ? 1 : 0);
