// Advert send jitter: how far the master's adverts stray from their 100 ms interval, seen on the
// wire by the client (tcpdump's timestamps), for vipkeeper and keepalived side by side, with
// 20 instances on one node, under three loads:
//   idle      nothing else runs;
//   cpu       two busy processes keep both cores full (the node is busy with other pods);
//   status    the cpu load, and for vipkeeper also a client asking its status socket 500 times a
//             second (work on the engine's own event loop, which keepalived has no equivalent of).
// Run (root): . scripts/env.sh && node bench/jitter.ts [--seconds 10]
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { connect } from "node:net";
import { parseArgs } from "node:util";
import { Lab } from "../src/lab/lab.ts";
import { startAgent, writeConfig } from "../test/support/agents.ts";
import { keepalivedCommand, keepalivedConfig } from "../test/interop/keepalived.ts";

const { values } = parseArgs({ options: { seconds: { type: "string", default: "10" } } });
const SECONDS = Number(values.seconds);
const INSTANCES = 20;
const INTERVAL_MS = 100;

type Impl = "vipkeeper" | "keepalived";
type Load = "idle" | "cpu" | "status";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function start(lab: Lab, impl: Impl): { socket?: string } {
  if (impl === "vipkeeper") {
    const docs = Array.from(
      { length: INSTANCES },
      (_, i) => `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: r${i + 1}}
spec:
  vrid: ${i + 1}
  interface: eth0
  advertInterval: ${INTERVAL_MS}ms
  addresses: [{address: 198.18.1.${i + 1}/24}]
  priorities: [{node: n1, priority: 150}]
`,
    );
    const agent = startAgent(lab, "n1", writeConfig(docs.join("---\n")));
    return { socket: agent.socket };
  }
  const { argv } = keepalivedCommand(
    keepalivedConfig(
      Array.from({ length: INSTANCES }, (_, i) => ({
        name: `r${i + 1}`,
        version: 3 as const,
        vrid: i + 1,
        priority: 150,
        interfaceName: "eth0",
        advertIntervalS: INTERVAL_MS / 1000,
        addresses: [`198.18.1.${i + 1}/24`],
      })),
      "n1",
    ),
  );
  const child = lab.spawn("n1", argv);
  child.stdout?.resume();
  child.stderr?.resume();
  return {};
}

function cpuHogs(): ChildProcess[] {
  return [0, 1].map(() => spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" }));
}

/** Asks the status socket again and again, about `perSecond` times a second. */
function statusHammer(socket: string, perSecond: number): () => void {
  let stop = false;
  const tick = () => {
    if (stop) return;
    const c = connect(socket);
    c.on("data", () => undefined);
    c.on("error", () => undefined);
    c.on("close", () => undefined);
    setTimeout(tick, 1000 / perSecond);
  };
  tick();
  return () => (stop = true);
}

async function measure(lab: Lab, impl: Impl, load: Load): Promise<number[]> {
  const running = start(lab, impl);
  await sleep(3000); // every instance master (alone on the network) and announced
  const hogs = load === "cpu" || (load === "status" && impl === "keepalived") ? cpuHogs() : [];
  const stopHammer =
    load === "status" && running.socket ? statusHammer(running.socket, 500) : () => undefined;
  if (load === "status" && running.socket) hogs.push(...cpuHogs());
  await sleep(500);
  const dump = spawnSync(
    "ip",
    [
      "netns",
      "exec",
      lab.node("client").ns,
      "timeout",
      String(SECONDS),
      "tcpdump",
      "-n",
      "-tt",
      "-i",
      "eth0",
      "vrrp",
    ],
    { encoding: "utf8", maxBuffer: 64 << 20 },
  ).stdout;
  stopHammer();
  for (const h of hogs) h.kill("SIGKILL");
  lab.killAll("n1");
  for (let i = 1; i <= INSTANCES; i++)
    spawnSync("ip", ["-n", lab.node("n1").ns, "addr", "del", `198.18.1.${i}/24`, "dev", "eth0"]);
  const last = new Map<number, number>();
  const deviations: number[] = [];
  for (const line of dump.split("\n")) {
    const m = /^(\d+\.\d+) .* vrid (\d+),/.exec(line);
    if (!m) continue;
    const t = Number(m[1]) * 1000;
    const vrid = Number(m[2]);
    const prev = last.get(vrid);
    if (prev !== undefined) deviations.push(Math.abs(t - prev - INTERVAL_MS));
    last.set(vrid, t);
  }
  return deviations;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

const lab = Lab.create({ prefix: "vkj-", nodes: 1 });
lab.destroyOnExit();
console.log(
  `${INSTANCES} instances at ${INTERVAL_MS} ms on one node, ${SECONDS} s per cell; |interval - ${INTERVAL_MS} ms| in ms`,
);
console.log("| load | implementation | adverts | median | p99 | max |");
console.log("|---|---|---|---|---|---|");
try {
  for (const load of ["idle", "cpu", "status"] as Load[]) {
    for (const impl of ["vipkeeper", "keepalived"] as Impl[]) {
      const d = await measure(lab, impl, load);
      const f = (x: number) => x.toFixed(2);
      console.log(
        `| ${load} | ${impl} | ${d.length} | ${f(pct(d, 50))} | ${f(pct(d, 99))} | ${f(Math.max(...d))} |`,
      );
    }
  }
} finally {
  lab.destroy();
}
process.exit(0);
