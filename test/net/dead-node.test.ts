// A node whose every vipkeeper process dies lets go of its VIPs by itself (the dead man's switch:
// addresses bound with a 2 s lifetime and renewed while master), IPv4 and IPv6, while the peer —
// vipkeeper or keepalived — takes over; an engine whose agent died resigns and exits instead of
// running on as an orphan; a starting agent ends what an earlier run left (engines, addresses).
import { spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import { keepalivedCommand, keepalivedConfig } from "../interop/keepalived.ts";
import {
  enginePids,
  readStatus,
  startAgent,
  waitUntil,
  writeConfig,
  type RunningAgent,
} from "../support/agents.ts";

const ROOT = process.getuid?.() === 0;
const HAVE_KEEPALIVED = spawnSync("keepalived", ["--version"]).status === 0;
if (!ROOT) console.warn("test/net/dead-node.test.ts skipped: needs root for network namespaces");

const RTNETLINK = join(import.meta.dirname, "../../src/net/rtnetlink.ts");
const VIP4 = "198.18.0.50";
const VIP6 = "2001:db8::50";
const OTHER4 = "198.18.0.60";
const router = (name: string, vrid: number, addresses: string[], priorities: Record<string, number>) =>
  `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: ${name}}
spec:
  vrid: ${vrid}
  interface: eth0
  advertInterval: 100ms
  addresses: [${addresses.map((a) => `{address: ${a}}`).join(", ")}]
  priorities: [${Object.entries(priorities)
    .map(([node, priority]) => `{node: ${node}, priority: ${priority}}`)
    .join(", ")}]
  garp: {delay: 1s, repeat: 1}
`;
const WEB = router("web", 51, [`${VIP4}/24`, `${VIP6}/64`], { n1: 150, n2: 100 });

describe.skipIf(!ROOT)("a dead node lets go of its VIPs", { timeout: 45_000 }, () => {
  let lab: Lab;
  let agents: RunningAgent[] = [];
  let others: ChildProcess[] = [];

  beforeAll(() => {
    lab = Lab.create({ prefix: "vkdn-", nodes: 2 });
  });
  afterAll(() => lab?.destroy());
  afterEach(async ({ task }) => {
    if (task.result?.state === "fail")
      console.log(agents.flatMap((a) => [`--- ${a.node}`, ...a.log.slice(-20)]).join("\n"));
    for (const n of lab.nodes) lab.killAll(n.name);
    await Promise.all(agents.map((a) => a.exited));
    agents = [];
    others = [];
    for (const n of lab.nodes)
      for (const a of [`${VIP4}/24`, `${VIP6}/64`, `${OTHER4}/24`])
        spawnSync("ip", ["-n", n.ns, "addr", "del", a, "dev", "eth0"]);
  });

  const holdsAny = (node: string) => lab.holds(node, VIP4) || lab.holds(node, VIP6);
  const holdsBoth = (node: string) => lab.holds(node, VIP4) && lab.holds(node, VIP6);
  const engines = (node: string) => enginePids(lab, node);
  const start = (node: string, file: string, extra: string[] = [], fromDist = false) => {
    const a = startAgent(lab, node, file, extra, { fromDist });
    agents.push(a);
    return a;
  };
  /** The VIPs as n1's kernel has them: lifetimes left (iproute2 6.1 does not show IFA_PROTO). */
  const vipsOnN1 = () =>
    (
      JSON.parse(
        spawnSync("ip", ["-n", lab.node("n1").ns, "-j", "addr", "show", "dev", "eth0"], {
          encoding: "utf8",
        }).stdout,
      ) as { addr_info: { local: string; valid_life_time: number; preferred_life_time: number }[] }[]
    )[0]!.addr_info.filter((a) => a.local === VIP4 || a.local === VIP6);
  /** IFA_PROTO of n1's VIPs, read with vipkeeper's own rtnetlink client inside n1. */
  const marksOnN1 = () =>
    lab
      .exec("n1", [
        process.execPath,
        "--input-type=module",
        "-e",
        `import { RtNetlink } from ${JSON.stringify(RTNETLINK)};
const nl = new RtNetlink();
for (const a of await nl.addresses()) if (a.address === "${VIP4}" || a.address === "${VIP6}") console.log(a.address, a.proto);
nl.close();`,
      ])
      .trim()
      .split("\n")
      .sort();

  /** n1 master, n2 backup; n1's agent from dist/ when `n1FromDist`. */
  const n1MasterOverN2 = async (file: string, extra: string[] = [], n1FromDist = false) => {
    start("n1", file, extra, n1FromDist);
    start("n2", file, extra);
    await waitUntil(() => holdsBoth("n1"), 12_000, "n1 to hold both VIPs");
    await waitUntil(
      async () =>
        (await readStatus(agents[1]!.socket).catch(() => undefined))?.instances.every(
          (i) => i.state === "backup",
        ) ?? false,
      10_000,
      "n2 to be backup",
    );
  };

  it("every vipkeeper process on the master killed (-9): its kernel removes both VIPs within 3 s while the vipkeeper peer takes over", async () => {
    await n1MasterOverN2(writeConfig(WEB));
    // Held with a lifetime of at most 2 s, preferred = valid (IPv6 not deprecated), and the mark.
    await new Promise((r) => setTimeout(r, 1200)); // a few renewals
    const held = vipsOnN1();
    expect(held).toHaveLength(2);
    for (const a of held) {
      expect(a.valid_life_time).toBeLessThanOrEqual(2);
      expect(a.preferred_life_time).toBe(a.valid_life_time);
    }
    expect(marksOnN1()).toEqual([`${VIP4} 112`, `${VIP6} 112`]);
    expect(lab.pids("n1").length).toBeGreaterThanOrEqual(2); // the agent and its engine
    const killedAt = Date.now();
    lab.killAll("n1");
    const gone = await waitUntil(() => !holdsAny("n1"), 3000, "n1's kernel to remove both VIPs");
    await waitUntil(() => holdsBoth("n2"), 3000 - (Date.now() - killedAt), "n2 to hold both VIPs");
    expect(lab.holders(VIP4)).toEqual(["n2"]);
    expect(lab.holders(VIP6)).toEqual(["n2"]);
    console.log(`dead node: VIPs gone from its kernel ${gone} ms after SIGKILL of every process`);
  });

  it("with --permanent-addresses the switch is off: the killed master keeps them; a restarted agent removes them before it runs, though its file no longer has that router", async () => {
    await n1MasterOverN2(writeConfig(WEB), ["--permanent-addresses"]);
    expect(vipsOnN1().every((a) => a.valid_life_time === 4294967295)).toBe(true); // forever
    lab.killAll("n1");
    await agents[0]!.exited;
    await waitUntil(() => holdsBoth("n2"), 3000, "n2 to take over");
    await new Promise((r) => setTimeout(r, 3500));
    expect(holdsBoth("n1")).toBe(true); // what keepalived's dead node does, for as long as it is dead
    // The router is deleted while the agent is down; the restarted agent runs another one.
    const restarted = start("n1", writeConfig(router("other", 52, [`${OTHER4}/24`], { n1: 150 })), [
      "--permanent-addresses",
    ]);
    await waitUntil(() => !holdsAny("n1"), 5000, "the restarted agent to remove web's VIPs");
    await waitUntil(() => lab.holds("n1", OTHER4), 5000, "n1 to run its new router");
    expect(restarted.log.join("\n")).toContain("removed virtual addresses an earlier run left bound");
    expect(lab.holders(VIP4)).toEqual(["n2"]);
  });

  it.each([
    ["the sources", false],
    ["dist/ (production)", true],
  ])(
    "SIGKILL of the agent's main process alone, running %s: its engine resigns (the peer is master within Skew_Time), releases and exits; a new agent runs exactly one engine",
    async (_, fromDist) => {
      const file = writeConfig(WEB);
      await n1MasterOverN2(file, [], fromDist);
      const [engine] = engines("n1");
      // The engine runs what the agent runs: engine-main.js from dist/, engine-main.ts from the sources.
      expect(readFileSync(`/proc/${engine}/cmdline`, "utf8")).toContain(
        fromDist ? "dist/engine/engine-main.js" : "src/engine/engine-main.ts",
      );
      expect(engine).toBeGreaterThan(0);
      const killedAt = Date.now();
      agents[0]!.child.kill("SIGKILL");
      await waitUntil(() => holdsBoth("n2"), 1000, "n2 to take over on the engine's priority 0");
      await waitUntil(() => !holdsAny("n1"), 1000, "the orphaned engine to release");
      const tookMs = Date.now() - killedAt;
      await waitUntil(() => engines("n1").length === 0, 5000, "the orphaned engine to exit");
      expect(lab.holders(VIP4)).toEqual(["n2"]);
      console.log(`main process killed (${_}): peer master and VIPs released ${tookMs} ms later`);
      start("n1", file, [], fromDist);
      await waitUntil(() => holdsBoth("n1") && !holdsAny("n2"), 10_000, "n1 to preempt again");
      await new Promise((r) => setTimeout(r, 500));
      expect(engines("n1")).toHaveLength(1);
    },
  );

  it("an engine left by an earlier run (stopped, so it could not end itself) is ended by the next agent before it binds", async () => {
    const file = writeConfig(WEB);
    await n1MasterOverN2(file);
    const [old] = engines("n1");
    process.kill(old!, "SIGSTOP");
    agents[0]!.child.kill("SIGKILL");
    await agents[0]!.exited;
    await waitUntil(() => holdsBoth("n2"), 3000, "n2 to take over from the silent master");
    const next = start("n1", file);
    await waitUntil(() => !engines("n1").includes(old!), 8000, "the left engine to be ended");
    await waitUntil(() => holdsBoth("n1") && !holdsAny("n2"), 10_000, "n1 to preempt again");
    expect(engines("n1")).toHaveLength(1);
    expect(next.log.join("\n")).toContain("ending engines an earlier run of the agent left");
  });

  it("a live engine stalled for 0.8 s (SIGSTOP, as a long pause would) keeps its VIPs throughout: renewals resume before any lifetime ends", async () => {
    // Adverts at 1 s, so that the stall is no failover either (Master_Down_Interval 3.6 s).
    const slow = WEB.replace("advertInterval: 100ms", "advertInterval: 1s");
    start("n1", writeConfig(slow));
    await waitUntil(() => holdsBoth("n1"), 15_000, "n1 to hold both VIPs");
    await new Promise((r) => setTimeout(r, 1000));
    const [engine] = engines("n1");
    const lost: string[] = [];
    const watch = setInterval(() => {
      if (!holdsBoth("n1")) lost.push(new Date().toISOString());
    }, 50);
    try {
      process.kill(engine!, "SIGSTOP");
      await new Promise((r) => setTimeout(r, 800));
      process.kill(engine!, "SIGCONT");
      await new Promise((r) => setTimeout(r, 3000)); // past every lifetime set before the stall
    } finally {
      clearInterval(watch);
    }
    // (A 2.6 s stall loses them: the kernel removes them 2 s after the last renewal.)
    expect(lost).toEqual([]);
    expect(holdsBoth("n1")).toBe(true);
  });

  it.skipIf(!HAVE_KEEPALIVED)(
    "keepalived as the peer: every vipkeeper process on the master killed, its VIPs gone within 3 s, keepalived holds both",
    async () => {
      start("n1", writeConfig(WEB));
      await waitUntil(() => holdsBoth("n1"), 12_000, "n1 to hold both VIPs");
      const { argv } = keepalivedCommand(
        keepalivedConfig(
          [
            {
              name: "web4",
              version: 3,
              vrid: 51,
              priority: 100,
              interfaceName: "eth0",
              advertIntervalS: 0.1,
              addresses: [`${VIP4}/24`],
            },
            {
              name: "web6",
              version: 3,
              vrid: 51,
              priority: 100,
              interfaceName: "eth0",
              advertIntervalS: 0.1,
              addresses: [`${VIP6}/64`],
            },
          ],
          "n2",
        ),
      );
      others.push(lab.spawn("n2", argv));
      await new Promise((r) => setTimeout(r, 2000)); // keepalived settles as backup
      expect(lab.holders(VIP4)).toEqual(["n1"]);
      expect(lab.holders(VIP6)).toEqual(["n1"]);
      lab.killAll("n1");
      const gone = await waitUntil(() => !holdsAny("n1"), 3000, "n1's kernel to remove both VIPs");
      await waitUntil(() => holdsBoth("n2"), 3000, "keepalived on n2 to hold both VIPs");
      expect(lab.holders(VIP4)).toEqual(["n2"]);
      expect(lab.holders(VIP6)).toEqual(["n2"]);
      console.log(`dead node, keepalived peer: VIPs gone ${gone} ms after SIGKILL`);
    },
  );
});
