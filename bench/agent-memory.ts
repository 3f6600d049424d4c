// Memory of a file-mode agent against keepalived's VRRP process, on the same keepalived.conf with
// N vrrp_instances (each its own VRID and address), in a lab namespace, once every instance is
// master: the proportional set size (PSS: shared pages split between the processes that map them)
// of the agent's main process and of its engines (one per router), and of keepalived's processes.
// Run (root): . scripts/env.sh && node bench/agent-memory.ts [--routers 1,4,16]
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Lab } from "../src/lab/lab.ts";
import { startAgent, waitUntil } from "../test/support/agents.ts";

const { values } = parseArgs({ options: { routers: { type: "string", default: "1,4,16" } } });
const sizes = values.routers.split(",").map(Number);

const conf = (n: number) =>
  Array.from(
    { length: n },
    (_, i) => `vrrp_instance VI_${i + 1} {
    interface eth0
    state MASTER
    priority 150
    virtual_router_id ${i + 1}
    advert_int 1
    virtual_ipaddress {
        198.18.1.${i + 1}/24
    }
}
`,
  ).join("");

const pssMb = (pid: number) =>
  Number(/Pss:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? 0) / 1024;
const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ");

async function measure(lab: Lab, n: number, impl: "vipkeeper" | "keepalived") {
  const dir = mkdtempSync(join(tmpdir(), "vk-mem-"));
  const file = join(dir, "keepalived.conf");
  writeFileSync(file, conf(n));
  if (impl === "vipkeeper") startAgent(lab, "n1", file);
  else
    lab.spawn("n1", [
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
  const all = Array.from({ length: n }, (_, i) => `198.18.1.${i + 1}`);
  await waitUntil(() => all.every((a) => lab.holds("n1", a)), 60_000, `${impl}: ${n} masters`);
  await new Promise((r) => setTimeout(r, 2000)); // settled: announcements done, heaps past start-up
  const pids = lab.pids("n1");
  const engines = pids.filter((p) => cmdline(p).includes("engine-main"));
  const total = pids.reduce((s, p) => s + pssMb(p), 0);
  const row = {
    impl,
    routers: n,
    processes: pids.length,
    totalMb: Math.round(total),
    engineMb: engines.length
      ? Math.round(engines.reduce((s, p) => s + pssMb(p), 0) / engines.length)
      : undefined,
  };
  lab.killAll("n1");
  await new Promise((r) => setTimeout(r, 500));
  return row;
}

const lab = Lab.create({ prefix: "vkbm-", nodes: 1 });
lab.exec("n1", ["ip", "addr", "add", "198.18.1.250/24", "dev", "eth0"]);
try {
  const rows = [];
  for (const n of sizes) {
    const v = await measure(lab, n, "vipkeeper");
    const k = await measure(lab, n, "keepalived");
    rows.push({ ...v, keepalivedMb: k.totalMb, ratio: Number((v.totalMb / k.totalMb).toFixed(1)) });
    process.stdout.write(`${JSON.stringify(rows.at(-1))}\n`);
  }
  process.stdout.write(
    `\n| routers | vipkeeper PSS (processes) | per engine | keepalived PSS | ratio |\n| --- | --- | --- | --- | --- |\n${rows
      .map(
        (r) =>
          `| ${r.routers} | ${r.totalMb} MB (${r.processes}) | ${r.engineMb} MB | ${r.keepalivedMb} MB | ${r.ratio}x |`,
      )
      .join("\n")}\n`,
  );
} finally {
  lab.destroy();
}
