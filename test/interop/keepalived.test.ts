// vipkeeper beside real keepalived (Debian's 2.2.7) in lab nodes: one master across a mixed group,
// takeover in both directions after a kill, preemption in both directions, and mismatched adverts
// dropped and counted rather than obeyed. Each case runs for v3 over IPv4, v3 over IPv6 and v2 with
// PASS authentication, over multicast and over unicast.
import { spawnSync, type ChildProcess } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import { readStatus, startAgent, waitUntil, writeConfig, type RunningAgent } from "../support/agents.ts";
import { keepalivedCommand, keepalivedConfig, type KeepalivedInstance } from "./keepalived.ts";

const ROOT = process.getuid?.() === 0;
const HAVE_KEEPALIVED = spawnSync("keepalived", ["--version"]).status === 0;
if (!ROOT) console.warn("test/interop skipped: needs root for network namespaces");
else if (!HAVE_KEEPALIVED)
  console.warn("test/interop skipped: keepalived is not installed (scripts/setup.sh)");

interface Variant {
  name: string;
  version: 2 | 3;
  family: 4 | 6;
  unicast: boolean;
  password?: string;
}

const VARIANTS: Variant[] = [];
for (const unicast of [false, true]) {
  VARIANTS.push(
    { name: `v3 IPv4 ${unicast ? "unicast" : "multicast"}`, version: 3, family: 4, unicast },
    { name: `v3 IPv6 ${unicast ? "unicast" : "multicast"}`, version: 3, family: 6, unicast },
    {
      name: `v2 PASS ${unicast ? "unicast" : "multicast"}`,
      version: 2,
      family: 4,
      unicast,
      password: "secret",
    },
  );
}

const VRID = 51;
const vip = (family: 4 | 6) => (family === 4 ? "198.18.0.50" : "2001:db8::50");
const cidr = (family: 4 | 6) => (family === 4 ? "198.18.0.50/24" : "2001:db8::50/64");
// v2 counts the interval in whole seconds; v3 runs at 100 ms to keep the suite short.
const intervalS = (v: Variant) => (v.version === 2 ? 1 : 0.1);
const nodeAddress = (lab: Lab, node: string, family: 4 | 6) =>
  family === 4 ? lab.node(node).ipv4 : lab.node(node).ipv6;

describe.skipIf(!ROOT || !HAVE_KEEPALIVED)(
  "interoperability with keepalived 2.2.7",
  { timeout: 45_000 },
  () => {
    let lab: Lab;
    let agents: RunningAgent[] = [];
    let keepaliveds: ChildProcess[] = [];
    const keepalivedLog: string[] = [];

    beforeAll(() => {
      lab = Lab.create({ prefix: "vki-", nodes: 2 });
    });
    afterAll(() => lab?.destroy());
    afterEach(async ({ task }) => {
      // On failure, both sides' logs explain more than a timeout does.
      if (task.result?.state === "fail") {
        // What each agent heard and dropped tells a deaf vipkeeper from a silent keepalived.
        const counters = await Promise.all(
          agents.map(async (a) =>
            JSON.stringify((await readStatus(a.socket).catch(() => undefined))?.counters),
          ),
        );
        console.log(
          `vipkeeper:\n${agents.flatMap((a) => a.log.slice(-15)).join("\n")}\ncounters: ${counters.join("\n")}\nkeepalived:\n${keepalivedLog.join("").split("\n").slice(-30).join("\n")}`,
        );
      }
      keepalivedLog.length = 0;
      for (const n of lab.nodes) lab.killAll(n.name);
      await Promise.all(agents.map((a) => a.exited));
      agents = [];
      keepaliveds = [];
      lab.heal();
      for (const n of lab.nodes)
        for (const a of ["198.18.0.50/24", "198.18.0.51/24", "2001:db8::50/64"])
          spawnSync("ip", ["-n", n.ns, "addr", "del", a, "dev", "eth0"]);
    });

    /** The VirtualRouter file every vipkeeper node reads, with `priorities` per node. */
    const routerFile = (v: Variant, priorities: Record<string, number>, over: { vrid?: number } = {}) => {
      const peers = v.unicast
        ? `\n  unicast: {peers: [${lab.nodes.map((n) => nodeAddress(lab, n.name, v.family)).join(", ")}]}`
        : "";
      const auth = v.password ? `\n  authentication: {type: PASS, password: ${v.password}}` : "";
      return writeConfig(`apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: web}
spec:
  vrid: ${over.vrid ?? VRID}
  version: ${v.version}
  interface: eth0
  advertInterval: ${v.version === 2 ? "1s" : "100ms"}
  addresses: [{address: ${cidr(v.family)}}]
  priorities: [${Object.entries(priorities)
    .map(([node, priority]) => `{node: ${node}, priority: ${priority}}`)
    .join(", ")}]
  garp: {delay: 1s, repeat: 1}${peers}${auth}
`);
    };

    const startKeepalived = (
      v: Variant,
      node: string,
      priority: number,
      over: Partial<KeepalivedInstance> = {},
    ): ChildProcess => {
      const other = lab.nodes.map((n) => n.name).filter((n) => n !== node);
      const instance: KeepalivedInstance = {
        name: "web",
        version: v.version,
        vrid: VRID,
        priority,
        interfaceName: "eth0",
        advertIntervalS: intervalS(v),
        addresses: [cidr(v.family)],
        ...(v.password ? { password: v.password } : {}),
        ...(v.unicast
          ? {
              unicastSource: nodeAddress(lab, node, v.family),
              unicastPeers: other.map((n) => nodeAddress(lab, n, v.family)),
            }
          : {}),
        ...over,
      };
      const { argv } = keepalivedCommand(keepalivedConfig([instance], node));
      const child = lab.spawn(node, argv);
      child.stdout?.on("data", (d: Buffer) => keepalivedLog.push(d.toString()));
      child.stderr?.on("data", (d: Buffer) => keepalivedLog.push(d.toString()));
      keepaliveds.push(child);
      return child;
    };

    /** The agent's state, or undefined while its status socket is not up yet. */
    const stateOf = async (agent: RunningAgent) =>
      (await readStatus(agent.socket).catch(() => undefined))?.instances[0]?.state;
    const holders = (v: Variant) => lab.holders(vip(v.family));
    /** One holder, and it stays alone for a few advert intervals. */
    const settlesOn = async (v: Variant, node: string, timeoutMs = 12_000) => {
      await waitUntil(() => holders(v).join() === node, timeoutMs, `${node} alone to hold ${vip(v.family)}`);
      await new Promise((r) => setTimeout(r, intervalS(v) * 3000));
      expect(holders(v)).toEqual([node]);
    };

    describe.each(VARIANTS)("$name", (v) => {
      it("keepalived master, vipkeeper backup: one master; vipkeeper takes over when keepalived is killed; keepalived preempts back", async () => {
        startKeepalived(v, "n1", 150);
        await waitUntil(() => holders(v).join() === "n1", 12_000, "keepalived on n1 to become master");
        const agent = startAgent(lab, "n2", routerFile(v, { n2: 100 }));
        agents.push(agent);
        await waitUntil(
          async () => (await stateOf(agent)) === "backup",
          5000,
          "vipkeeper to settle as backup",
        );
        await settlesOn(v, "n1");
        expect(await stateOf(agent)).toBe("backup");
        const counters = (await readStatus(agent.socket)).counters;
        expect(counters[`adverts_received{instance="web/ipv${v.family}"}`]).toBeGreaterThan(0);
        expect(Object.keys(counters).filter((k) => k.startsWith("drops{instance"))).toEqual([]);

        // keepalived dies hard: its VIP stays in n1's kernel, vipkeeper takes over by Master_Down.
        lab.killAll("n1");
        await waitUntil(async () => (await stateOf(agent)) === "master", 6000, "vipkeeper to take over");
        expect(lab.holds("n2", vip(v.family))).toBe(true);

        // keepalived restarts, removes its stale VIP, and preempts with its higher priority.
        spawnSync("ip", ["-n", lab.node("n1").ns, "addr", "del", cidr(v.family), "dev", "eth0"]);
        startKeepalived(v, "n1", 150);
        await waitUntil(async () => (await stateOf(agent)) === "backup", 12_000, "vipkeeper to yield");
        await settlesOn(v, "n1");
      });

      it("vipkeeper master, keepalived backup: keepalived takes over when vipkeeper is killed; vipkeeper preempts back", async () => {
        const file = routerFile(v, { n1: 150 });
        let agent = startAgent(lab, "n1", file);
        agents.push(agent);
        await waitUntil(
          async () => (await stateOf(agent)) === "master",
          12_000,
          "vipkeeper to become master",
        );
        startKeepalived(v, "n2", 100);
        await settlesOn(v, "n1");
        expect(await stateOf(agent)).toBe("master");

        // The whole agent dies hard (supervisor and engine): keepalived takes over by Master_Down.
        lab.killAll("n1");
        await agent.exited;
        await waitUntil(() => lab.holds("n2", vip(v.family)), 6000, "keepalived on n2 to take over");

        // vipkeeper restarts: it removes the address its dead run left, then preempts.
        agent = startAgent(lab, "n1", file);
        agents.push(agent);
        await waitUntil(async () => (await stateOf(agent)) === "master", 12_000, "vipkeeper to preempt");
        await settlesOn(v, "n1");
      });
    });

    it("an advert for another VRID is dropped and counted, not obeyed", async () => {
      const v = VARIANTS[0]!;
      startKeepalived(v, "n1", 200, { vrid: 52, addresses: ["198.18.0.51/24"] });
      const agent = startAgent(lab, "n2", routerFile(v, { n2: 100 }));
      agents.push(agent);
      await waitUntil(async () => (await stateOf(agent)) === "master", 6000, "vipkeeper master of VRID 51");
      await waitUntil(() => lab.holds("n1", "198.18.0.51"), 6000, "keepalived master of VRID 52");
      await waitUntil(
        async () => ((await readStatus(agent.socket)).counters['drops{reason="unknown-vrid"}'] ?? 0) > 3,
        3000,
        "VRID 52 adverts to be counted as drops",
      );
      expect(holders(v)).toEqual(["n2"]);
    });

    it.each([VARIANTS[2]!, VARIANTS[5]!])(
      "$name: an advert with another password is dropped and counted, not obeyed",
      async (v) => {
        startKeepalived(v, "n1", 200, { password: "other" });
        const agent = startAgent(lab, "n2", routerFile(v, { n2: 100 }));
        agents.push(agent);
        // A higher priority would make vipkeeper a backup, if it obeyed. (keepalived 2.2.7 as master
        // goes quiet while it hears adverts it rejects: each one re-arms its timer, so few arrive.)
        await waitUntil(async () => (await stateOf(agent)) === "master", 6000, "vipkeeper to stay master");
        await waitUntil(
          async () =>
            ((await readStatus(agent.socket)).counters['drops{instance="web/ipv4",reason="auth-mismatch"}'] ??
              0) > 0,
          6000,
          "keepalived's adverts to be counted as auth-mismatch drops",
        );
        await new Promise((r) => setTimeout(r, 2500));
        expect(await stateOf(agent)).toBe("master");
      },
    );
  },
);
