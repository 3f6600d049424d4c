// `vipkeeper lab`: a three-node lab in network namespaces, an agent on each node, a client pinging
// the virtual address; the master fails and the client's outage is measured. Cleans up on exit.
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Lab } from "../lab/lab.ts";
import { Probe } from "../lab/probe.ts";
import { runClusterLab } from "./lab-cluster.ts";

const HELP = `Usage: vipkeeper lab [options]

Builds a lab in network namespaces (a switch, nodes n1..n3 and a client; addresses in
198.18.0.0/15 and 2001:db8::/32), runs \`vipkeeper agent\` on each node with examples/lab.yaml
(VIP 198.18.0.50 and 2001:db8::50, adverts every 100 ms), shows which node is master, fails the
master (its processes killed and its cable pulled), and prints how long the client lost the VIP.
Needs root. Everything is removed on exit or Ctrl-C.

With --cluster, the same as a cluster runs it: a real kube-apiserver and etcd (built by the
set-up), the controller, and agents on the lab's nodes with their own service accounts; applies
examples/ with kubectl, shows \`kubectl get vr\` with its MASTER column, the VirtualServer's real
servers and the LoadBalancer Service's address, kills the master's agent, and prints the status
moving and the client's outage.

Options:
  --config FILE   the VirtualRouter file to run (default examples/lab.yaml)
  --cluster       the cluster demo above (instead of --config)
  -h, --help      show this help
`;

const ROOT = join(import.meta.dirname, "../..");
const VIP4 = "198.18.0.50";
const VIP6 = "2001:db8::50";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runLab(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: "string" },
        cluster: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    process.stderr.write(`vipkeeper lab: ${(err as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write("vipkeeper lab: needs root (network namespaces)\n");
    return 1;
  }
  if (values.cluster) {
    if (values.config !== undefined) {
      process.stderr.write("vipkeeper lab: --cluster applies examples/; --config is for the file-mode lab\n");
      return 2;
    }
    return runClusterLab();
  }
  const config = values.config ?? join(ROOT, "examples/lab.yaml");
  const t0 = Date.now();
  let quiet = false;
  const say = (text: string) => {
    if (!quiet) process.stdout.write(`${((Date.now() - t0) / 1000).toFixed(3).padStart(8)} s  ${text}\n`);
  };

  const lab = Lab.create({ prefix: "vklab-", nodes: 3 });
  lab.destroyOnExit();
  try {
    say(`lab up: ${lab.nodes.map((n) => `${n.name} ${n.ipv4}`).join(", ")}, client ${lab.client.ipv4}`);
    const startAgent = (node: string) => {
      const child = lab.spawn(node, [
        process.execPath,
        join(ROOT, "bin/vipkeeper.js"),
        "agent",
        "--config",
        config,
        "--node",
        node,
      ]);
      let buf = "";
      child.stdout?.on("data", (chunk: Buffer) => {
        buf += chunk.toString();
        const lines = buf.split("\n");
        buf = lines.pop() ?? "";
        for (const line of lines) {
          try {
            const entry = JSON.parse(line) as { msg?: string; level?: string; from?: string };
            if (entry.from !== undefined || entry.level === "error") say(`${node}: ${entry.msg}`);
          } catch {
            // not a log line
          }
        }
      });
      child.stderr?.on("data", (chunk: Buffer) => process.stderr.write(`${node}: ${chunk.toString()}`));
      return child;
    };
    for (const n of lab.nodes) startAgent(n.name);

    /** The one node holding the address, once it has held it for `stableMs`. */
    const waitForHolder = async (exclude: string | undefined, stableMs: number): Promise<string> => {
      let holder: string | undefined;
      let since = Date.now();
      for (let i = 0; i < 4000; i++) {
        const holders = lab.holders(VIP4).filter((h) => h !== exclude);
        const now = holders.length === 1 ? holders[0] : undefined;
        if (now !== holder) [holder, since] = [now, Date.now()];
        if (holder && Date.now() - since >= stableMs) return holder;
        await sleep(5);
      }
      throw new Error("no node kept the virtual address");
    };
    const master = await waitForHolder(undefined, 1000);
    say(`${master} is master and holds ${VIP4} and ${VIP6}`);

    const probe4 = new Probe(lab, "client", VIP4);
    const probe6 = new Probe(lab, "client", VIP6);
    await sleep(1500);
    say(`client: ${probe4.received} replies from ${VIP4}, ${probe6.received} from ${VIP6}`);

    say(`failing ${master}: all its processes killed, its cable pulled`);
    const failAt = Date.now();
    lab.killAll(master);
    lab.linkDown(master);
    const next = await waitForHolder(master, 0);
    say(`${next} holds the virtual addresses now`);
    await sleep(1000);
    const r4 = await probe4.stop();
    const r6 = await probe6.stop();
    for (const [vip, r] of [
      [VIP4, r4],
      [VIP6, r6],
    ] as const) {
      const from = ((r.gapFrom - failAt) / 1000).toFixed(3);
      const to = ((r.gapTo - failAt) / 1000).toFixed(3);
      say(`client: ${vip} silent from +${from} s to +${to} s after the failure`);
    }
    process.stdout.write(
      `\nOutage seen by the client (pings every ${probe4.intervalMs} ms): IPv4 ${r4.longestGapMs.toFixed(0)} ms, IPv6 ${r6.longestGapMs.toFixed(0)} ms\n` +
        `(VRRP at 100 ms adverts: Master_Down_Interval for priority 100 is 361 ms)\n\n`,
    );

    say(`${master} comes back`);
    lab.linkUp(master);
    startAgent(master);
    // It starts as backup and preempts (the highest priority): give it time to start and elect.
    for (let i = 0; i < 1600 && lab.holders(VIP4).join() !== master; i++) await sleep(5);
    const again = await waitForHolder(undefined, 500);
    say(
      `${again} holds the virtual addresses${again === master ? " again (it has the highest priority and preempts)" : ""}`,
    );
    await sleep(500);
    return 0;
  } finally {
    say("removing the lab");
    quiet = true;
    lab.destroy();
  }
}
