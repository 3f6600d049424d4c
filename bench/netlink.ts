// Binding and releasing addresses: 1,000 add + delete cycles of a virtual address through the
// agent's rtnetlink client, against the same work done by one `ip -batch -` (iproute2's fastest
// path) in the same run, in a network namespace of its own.
// Run (root): . scripts/env.sh && node bench/netlink.ts
import { execFileSync, spawnSync } from "node:child_process";
import { RtNetlink } from "../src/net/rtnetlink.ts";

const NS = "vkbench-nl";
const CYCLES = 1000;
const RUNS = 5;

/** Inside the namespace (a netlink socket talks to the namespace it was made in). */
async function cyclesInside(ifindex: number): Promise<number> {
  const nl = new RtNetlink();
  const req = { ifindex, family: 4 as const, address: "198.18.0.50", prefixLength: 24 };
  const t0 = performance.now();
  for (let i = 0; i < CYCLES; i++) {
    await nl.addAddress(req);
    await nl.removeAddress(req);
  }
  const ms = performance.now() - t0;
  nl.close();
  return ms;
}

function outside(): void {
  const run = (argv: string[], input?: string) => execFileSync(argv[0]!, argv.slice(1), { input });
  spawnSync("ip", ["netns", "del", NS]);
  run(["ip", "netns", "add", NS]);
  try {
    run(["ip", "-n", NS, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"]);
    run(["ip", "-n", NS, "link", "set", "eth0", "up"]);
    const [link] = JSON.parse(run(["ip", "-n", NS, "-j", "link", "show", "eth0"]).toString()) as {
      ifindex: number;
    }[];
    const batch = `${Array.from({ length: CYCLES }, () => "address add 198.18.0.50/24 dev eth0\naddress del 198.18.0.50/24 dev eth0").join("\n")}\n`;
    const results: Record<string, number[]> = { "vipkeeper rtnetlink": [], "ip -batch": [] };
    for (let r = 0; r < RUNS; r++) {
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
      results["vipkeeper rtnetlink"]!.push(Number(out.toString().trim()));
      const t0 = performance.now();
      run(["ip", "-n", NS, "-batch", "-"], batch);
      results["ip -batch"]!.push(performance.now() - t0);
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    console.log(`${CYCLES} add + delete cycles of one IPv4 address, ${RUNS} runs, median (min–max)`);
    for (const [k, xs] of Object.entries(results))
      console.log(
        `${k.padEnd(20)} ${median(xs).toFixed(0)} ms (${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)})`,
      );
    console.log(
      `ratio: ${(median(results["vipkeeper rtnetlink"]!) / median(results["ip -batch"]!)).toFixed(2)} (ip -batch includes its process start)`,
    );
  } finally {
    spawnSync("ip", ["netns", "del", NS]);
  }
}

if (process.argv[2] === "--inside") process.stdout.write(`${await cyclesInside(Number(process.argv[3]))}\n`);
else outside();
