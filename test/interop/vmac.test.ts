// The virtual MAC (keepalived's use_vmac) in a mixed group: vipkeeper on n1, keepalived 2.2.7 with
// use_vmac on n2, one VRID, over IPv4 and over IPv6. Whichever is master answers ARP for the VIP
// with 00:00:5e:00:01:VRID (neighbour solicitations with 00:00:5e:00:02:VRID) from its macvlan, and the client's neighbour entry for the VIP stays the same across a failover
// in either direction while the client keeps reaching the VIP. vipkeeper's macvlan is gone when
// its agent stops, and one left by an agent killed outright is removed by the next start.
// Lab prefix "vkvm-m".
import { spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import { startAgent, waitUntil, writeConfig, type RunningAgent } from "../support/agents.ts";
import { keepalivedCommand, keepalivedConfig } from "./keepalived.ts";

const ROOT = process.getuid?.() === 0;
const HAVE_KEEPALIVED = spawnSync("keepalived", ["--version"]).status === 0;
if (!ROOT || !HAVE_KEEPALIVED) console.warn("test/interop/vmac.test.ts skipped: needs root and keepalived");

const VRID = 51;
const VMAC = "00:00:5e:00:01:33";
const VIP = "198.18.0.50";
const VMAC6 = "00:00:5e:00:02:33";
const VIP6 = "2001:db8::50";

const routerYaml = (priority: number, address = `${VIP}/24`) => `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: web}
spec:
  vrid: ${VRID}
  interface: eth0
  advertInterval: 100ms
  addresses: [{address: "${address}"}]
  priorities: [{node: n1, priority: ${priority}}]
  virtualMAC: {}
  garp: {delay: 1s}
`;

/** keepalived's configuration with use_vmac (the lab helper writes the rest). */
const keepalivedVmac = (priority: number, address = `${VIP}/24`) =>
  keepalivedConfig([
    {
      name: "VI_1",
      version: 3,
      vrid: VRID,
      priority,
      interfaceName: "eth0",
      advertIntervalS: 0.1,
      addresses: [address],
    },
  ]).replace("  interface eth0\n", "  interface eth0\n  use_vmac\n");

describe.skipIf(!ROOT || !HAVE_KEEPALIVED)(
  "the virtual MAC beside keepalived's use_vmac",
  { timeout: 60_000 },
  () => {
    let lab: Lab;
    let agent: RunningAgent | undefined;
    let keepalived: ChildProcess | undefined;
    const keepalivedLog: string[] = [];

    /** Every address of a host, on any interface, with the interface's name. */
    const addressesOf = (host: string) =>
      (
        JSON.parse(lab.exec(host, ["ip", "-j", "addr", "show"])) as {
          ifname: string;
          address?: string;
          addr_info: { local: string }[];
        }[]
      ).flatMap((l) => l.addr_info.map((a) => ({ dev: l.ifname, mac: l.address, address: a.local })));
    const holder = () =>
      lab.nodes.flatMap((n) =>
        addressesOf(n.name)
          .filter((a) => a.address === VIP)
          .map((a) => ({ node: n.name, ...a })),
      );
    const linkNames = (host: string) =>
      (JSON.parse(lab.exec(host, ["ip", "-j", "link", "show"])) as { ifname: string }[]).map((l) => l.ifname);
    /** The MACs that answer ARP for the VIP, as the client's arping sees them. */
    const arpReplies = () => {
      const out = spawnSync(
        "ip",
        ["netns", "exec", lab.client.ns, "arping", "-c", "3", "-w", "3", "-I", "eth0", VIP],
        {
          encoding: "utf8",
        },
      ).stdout;
      return [...out.matchAll(/reply from \S+ \[([0-9A-Fa-f:]+)\]/g)].map((m) => m[1]!.toLowerCase());
    };
    const clientNeighbour = () => lab.exec("client", ["ip", "neigh", "show", VIP]).trim();
    const ping = () =>
      spawnSync("ip", ["netns", "exec", lab.client.ns, "ping", "-c", "3", "-i", "0.2", "-W", "1", VIP])
        .status === 0;

    const startKeepalived = (priority: number, address?: string) => {
      const { argv } = keepalivedCommand(keepalivedVmac(priority, address));
      keepalived = lab.spawn("n2", argv);
      keepalived.stdout?.on("data", (d: Buffer) => keepalivedLog.push(d.toString()));
      keepalived.stderr?.on("data", (d: Buffer) => keepalivedLog.push(d.toString()));
    };

    beforeAll(() => {
      lab = Lab.create({ prefix: "vkvm-m", nodes: 2 });
      // keepalived sets arp_ignore and arp_filter on the parent but leaves arp_announce to the admin
      // (its NOTE_vrrp_vmac.txt): without it, its node's ARP requests from the parent carry the VIP
      // and teach the client the parent's MAC. vipkeeper sets it itself (n1 is left as it comes).
      lab.exec("n2", ["sysctl", "-qw", "net.ipv4.conf.eth0.arp_announce=2"]);
    });
    afterAll(() => lab?.destroy());
    afterEach(async ({ task }) => {
      if (task.result?.state === "fail")
        console.log(
          `vipkeeper:\n${agent?.log.slice(-30).join("\n")}\nkeepalived:\n${keepalivedLog.join("").split("\n").slice(-30).join("\n")}`,
        );
      keepalivedLog.length = 0;
      for (const n of lab.nodes) lab.killAll(n.name);
      if (agent) await agent.exited;
      agent = keepalived = undefined;
      for (const n of lab.nodes)
        for (const l of linkNames(n.name).filter((l) => l.startsWith("vrrp")))
          spawnSync("ip", ["-n", n.ns, "link", "del", l]);
      spawnSync("ip", ["-n", lab.client.ns, "neigh", "flush", "dev", "eth0"]);
    });

    it("vipkeeper master, then keepalived: one MAC answers, the client's entry never changes", async () => {
      agent = startAgent(lab, "n1", writeConfig(routerYaml(150)));
      await waitUntil(() => holder().some((h) => h.node === "n1"), 15_000, "vipkeeper to take the VIP");
      startKeepalived(100);
      // The VIP is on the macvlan, whose MAC is the virtual one; the parent keeps its own.
      const held = holder();
      expect(held).toEqual([{ node: "n1", dev: "vrrp.51", mac: VMAC, address: VIP }]);
      // The settings that make only the macvlan answer for the VIP, set by netlink (IFLA_AF_SPEC).
      const sysctl = (path: string) => lab.exec("n1", ["cat", `/proc/sys/net/${path}`]).trim();
      expect(["arp_ignore", "arp_filter", "arp_announce"].map((k) => sysctl(`ipv4/conf/eth0/${k}`))).toEqual([
        "1",
        "1",
        "2",
      ]);
      expect(
        ["arp_ignore", "arp_filter", "rp_filter", "accept_local"].map((k) =>
          sysctl(`ipv4/conf/vrrp.51/${k}`),
        ),
      ).toEqual(["1", "0", "0", "1"]);
      expect(sysctl("ipv6/conf/vrrp.51/addr_gen_mode")).toBe("1");
      const replies = arpReplies();
      expect(replies.length).toBeGreaterThan(0);
      expect(new Set(replies)).toEqual(new Set([VMAC]));
      expect(ping()).toBe(true);
      const before = clientNeighbour();
      expect(before).toContain(`lladdr ${VMAC}`);
      // keepalived is backup with its own vrrp.51 up (same MAC), and must not take over meanwhile.
      await waitUntil(() => linkNames("n2").includes("vrrp.51"), 10_000, "keepalived's macvlan");
      await new Promise((r) => setTimeout(r, 1000));
      expect(holder().map((h) => h.node)).toEqual(["n1"]);

      agent.child.kill("SIGTERM");
      expect(await agent.exited).toBe(0);
      await waitUntil(() => holder().some((h) => h.node === "n2"), 5000, "keepalived to take the VIP");
      expect(linkNames("n1")).not.toContain("vrrp.51"); // removed on stop
      expect(holder()).toEqual([{ node: "n2", dev: "vrrp.51", mac: VMAC, address: VIP }]);
      expect(ping()).toBe(true);
      expect(clientNeighbour()).toContain(`lladdr ${VMAC}`);
      expect(new Set(arpReplies())).toEqual(new Set([VMAC]));
    });

    it("keepalived master, then vipkeeper: the client keeps its entry and reaches the VIP", async () => {
      startKeepalived(150);
      await waitUntil(() => holder().some((h) => h.node === "n2"), 15_000, "keepalived to take the VIP");
      agent = startAgent(lab, "n1", writeConfig(routerYaml(100)));
      await waitUntil(() => linkNames("n1").includes("vrrp.51"), 10_000, "vipkeeper's macvlan");
      expect(ping()).toBe(true);
      expect(clientNeighbour()).toContain(`lladdr ${VMAC}`);
      // vipkeeper hears keepalived's adverts on its own macvlan (same source MAC) and stays backup.
      await new Promise((r) => setTimeout(r, 1500));
      expect(holder().map((h) => h.node)).toEqual(["n2"]);
      expect(new Set(arpReplies())).toEqual(new Set([VMAC]));

      keepalived!.kill("SIGKILL");
      await waitUntil(() => holder().some((h) => h.node === "n1"), 5000, "vipkeeper to take the VIP");
      // keepalived killed outright leaves its macvlan, without the VIP: take it away as a dead node would be.
      spawnSync("ip", ["-n", lab.node("n2").ns, "link", "del", "vrrp.51"]);
      expect(holder()).toEqual([{ node: "n1", dev: "vrrp.51", mac: VMAC, address: VIP }]);
      expect(ping()).toBe(true);
      expect(clientNeighbour()).toContain(`lladdr ${VMAC}`);
      expect(new Set(arpReplies())).toEqual(new Set([VMAC]));
    });

    describe("IPv6", () => {
      const holder6 = () =>
        lab.nodes.flatMap((n) =>
          addressesOf(n.name)
            .filter((a) => a.address === VIP6)
            .map((a) => ({ node: n.name, ...a })),
        );
      const ping6 = () =>
        spawnSync("ip", [
          "netns",
          "exec",
          lab.client.ns,
          "ping",
          "-6",
          "-c",
          "3",
          "-i",
          "0.2",
          "-W",
          "1",
          VIP6,
        ]).status === 0;
      /** The client's entry, learned afresh: flushed, then a ping makes it solicit the VIP. */
      const neighbour6 = () => lab.exec("client", ["ip", "-6", "neigh", "show", VIP6]).trim();

      it("vipkeeper master, then keepalived: the client's entry is the IPv6 virtual MAC throughout", async () => {
        agent = startAgent(lab, "n1", writeConfig(routerYaml(150, `${VIP6}/64`)));
        await waitUntil(() => holder6().some((h) => h.node === "n1"), 15_000, "vipkeeper to take the VIP");
        startKeepalived(100, `${VIP6}/64`);
        expect(holder6()).toEqual([{ node: "n1", dev: "vrrp.51", mac: VMAC6, address: VIP6 }]);
        expect(ping6()).toBe(true);
        expect(neighbour6()).toContain(`lladdr ${VMAC6}`);
        await new Promise((r) => setTimeout(r, 1500));
        expect(holder6().map((h) => h.node)).toEqual(["n1"]); // keepalived stays backup

        agent.child.kill("SIGTERM");
        expect(await agent.exited).toBe(0);
        await waitUntil(() => holder6().some((h) => h.node === "n2"), 5000, "keepalived to take the VIP");
        expect(linkNames("n1")).not.toContain("vrrp.51");
        expect(ping6()).toBe(true);
        expect(neighbour6()).toContain(`lladdr ${VMAC6}`);
        spawnSync("ip", ["-n", lab.client.ns, "neigh", "flush", "dev", "eth0"]);
        expect(ping6()).toBe(true);
        expect(neighbour6()).toContain(`lladdr ${VMAC6}`); // keepalived's node answers with it too
      });

      it("keepalived master, then vipkeeper", async () => {
        startKeepalived(150, `${VIP6}/64`);
        await waitUntil(() => holder6().some((h) => h.node === "n2"), 15_000, "keepalived to take the VIP");
        agent = startAgent(lab, "n1", writeConfig(routerYaml(100, `${VIP6}/64`)));
        await waitUntil(() => linkNames("n1").includes("vrrp.51"), 10_000, "vipkeeper's macvlan");
        expect(ping6()).toBe(true);
        const before = neighbour6();
        expect(before).toContain(`lladdr ${VMAC6}`);
        await new Promise((r) => setTimeout(r, 1500));
        expect(holder6().map((h) => h.node)).toEqual(["n2"]); // vipkeeper stays backup

        keepalived!.kill("SIGKILL");
        await waitUntil(() => holder6().some((h) => h.node === "n1"), 5000, "vipkeeper to take the VIP");
        for (const l of linkNames("n2").filter((l) => l.startsWith("vrrp")))
          spawnSync("ip", ["-n", lab.node("n2").ns, "link", "del", l]);
        expect(holder6()).toEqual([{ node: "n1", dev: "vrrp.51", mac: VMAC6, address: VIP6 }]);
        expect(ping6()).toBe(true);
        expect(neighbour6()).toContain(`lladdr ${VMAC6}`);
      });
    });

    it("advertsOnParent beside keepalived's vmac_xmit_base: adverts from the parent, the VIP still on the macvlan", async () => {
      const xmitBase = (yaml: string) =>
        yaml.replace("virtualMAC: {}", "virtualMAC: {advertsOnParent: true}");
      agent = startAgent(lab, "n1", writeConfig(xmitBase(routerYaml(150))));
      await waitUntil(() => holder().some((h) => h.node === "n1"), 15_000, "vipkeeper to take the VIP");
      const { argv } = keepalivedCommand(
        keepalivedVmac(100).replace("  use_vmac\n", "  use_vmac\n  vmac_xmit_base\n"),
      );
      keepalived = lab.spawn("n2", argv);
      keepalived.stdout?.on("data", (d: Buffer) => keepalivedLog.push(d.toString()));
      // The adverts leave n1 with its parent's MAC.
      const frames = spawnSync(
        "ip",
        [
          "netns",
          "exec",
          lab.client.ns,
          "timeout",
          "2",
          "tcpdump",
          "-lnei",
          "eth0",
          "-c",
          "3",
          "ip proto 112",
        ],
        { encoding: "utf8" },
      );
      expect(frames.stdout, frames.stderr).toContain(`${lab.node("n1").mac} > 01:00:5e:00:00:12`);
      expect(frames.stdout).not.toContain(VMAC);
      await waitUntil(() => linkNames("n2").includes("vrrp.51"), 10_000, "keepalived's macvlan");
      await new Promise((r) => setTimeout(r, 1000));
      expect(holder()).toEqual([{ node: "n1", dev: "vrrp.51", mac: VMAC, address: VIP }]); // keepalived is backup
      expect(ping()).toBe(true);
      expect(clientNeighbour()).toContain(`lladdr ${VMAC}`);

      agent.child.kill("SIGTERM");
      expect(await agent.exited).toBe(0);
      await waitUntil(() => holder().some((h) => h.node === "n2"), 5000, "keepalived to take the VIP");
      expect(ping()).toBe(true);
      expect(clientNeighbour()).toContain(`lladdr ${VMAC}`);
    });

    it("a macvlan left by an agent killed outright goes at the next start, which makes its own", async () => {
      agent = startAgent(lab, "n1", writeConfig(routerYaml(150)));
      await waitUntil(() => holder().some((h) => h.node === "n1"), 15_000, "vipkeeper to take the VIP");
      lab.killAll("n1"); // SIGKILL to every process: nobody removes the macvlan
      await agent.exited;
      expect(linkNames("n1")).toContain("vrrp.51");
      // The dead man's switch still takes the VIP away.
      await waitUntil(() => holder().length === 0, 4000, "the VIP to expire");
      agent = startAgent(lab, "n1", writeConfig(routerYaml(150)));
      await waitUntil(
        () => agent!.log.some((l) => l.includes("removed virtual MAC interfaces an earlier run left")),
        10_000,
        "the leftover sweep",
      );
      await waitUntil(() => holder().some((h) => h.node === "n1"), 15_000, "vipkeeper to take the VIP again");
      expect(holder()).toEqual([{ node: "n1", dev: "vrrp.51", mac: VMAC, address: VIP }]);
      agent.child.kill("SIGTERM");
      expect(await agent.exited).toBe(0);
      expect(linkNames("n1")).not.toContain("vrrp.51");
    });

    it("a crashed engine's macvlan is removed by its supervisor, and the restarted engine makes it again", async () => {
      agent = startAgent(lab, "n1", writeConfig(routerYaml(150)));
      await waitUntil(() => holder().some((h) => h.node === "n1"), 15_000, "vipkeeper to take the VIP");
      const engine = lab.pids("n1").find((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, "utf8").includes("engine-main");
        } catch {
          return false;
        }
      });
      expect(engine).toBeDefined();
      const logged = agent.log.length;
      process.kill(engine!, "SIGKILL");
      await waitUntil(
        () => agent!.log.slice(logged).some((l) => l.includes("virtual MAC interface removed")),
        5000,
        "the supervisor to remove the macvlan",
      );
      await waitUntil(
        () => agent!.log.slice(logged).some((l) => l.includes("virtual MAC interface made")),
        10_000,
        "the new engine's macvlan",
      );
      await waitUntil(() => holder().some((h) => h.node === "n1"), 10_000, "the VIP again");
      expect(holder()).toEqual([{ node: "n1", dev: "vrrp.51", mac: VMAC, address: VIP }]);
      // The resign path found the addresses' macvlan already gone with the engine's, and said nothing.
      expect(agent.log.slice(logged).filter((l) => l.includes("resigning failed"))).toEqual([]);
    });

    it("a reload that restarts the router makes its macvlan again in the running engine, whose sockets follow", async () => {
      // Two routers share the engine: the reload stops the changed one (its macvlan goes) and starts
      // it again (a new macvlan, a new ifindex), so its VRRP socket must be opened again on it.
      const other = `---
apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: other}
spec:
  vrid: 60
  interface: eth0
  advertInterval: 100ms
  addresses: [{address: 198.18.0.60/24}]
  priorities: [{node: n1, priority: 150}]
`;
      const file = writeConfig(routerYaml(150) + other);
      agent = startAgent(lab, "n1", file);
      await waitUntil(() => holder().some((h) => h.node === "n1"), 15_000, "vipkeeper to take the VIP");
      const link = () => {
        const r = spawnSync("ip", ["-n", lab.node("n1").ns, "-j", "-d", "link", "show", "vrrp.51"], {
          encoding: "utf8",
        });
        return r.status === 0
          ? (JSON.parse(r.stdout) as { ifindex: number; ifalias?: string }[])[0]
          : undefined;
      };
      startKeepalived(100);
      await new Promise((r) => setTimeout(r, 1500)); // keepalived hears n1 and settles as backup
      const before = link();
      expect(before?.ifalias).toMatch(/^vipkeeper vmac web\/ipv4 engine \d+$/);
      const logged = agent.log.length;
      writeFileSync(file, routerYaml(150).replace("advertInterval: 100ms", "advertInterval: 200ms") + other);
      agent.child.kill("SIGHUP");
      await waitUntil(
        () => agent!.log.some((l) => l.includes("configuration reloaded")),
        10_000,
        "the reload",
      );
      await waitUntil(
        () => link() !== undefined && link()!.ifindex !== before!.ifindex,
        10_000,
        "the macvlan made again",
      );
      expect(link()?.ifalias).toBe(before?.ifalias); // the same engine made it
      // n1 resigned the router (keepalived took over meanwhile) and preempts back through the new
      // macvlan's socket: keepalived on n2 hears its adverts and lets go (it would keep the VIP if
      // they went out on the dead interface).
      await waitUntil(
        () =>
          JSON.stringify(holder()) ===
          JSON.stringify([{ node: "n1", dev: "vrrp.51", mac: VMAC, address: VIP }]),
        10_000,
        "the VIP back on n1's new macvlan alone",
      );
      await new Promise((r) => setTimeout(r, 1500));
      expect(holder()).toEqual([{ node: "n1", dev: "vrrp.51", mac: VMAC, address: VIP }]);
      const since = agent.log.slice(logged);
      expect(since.filter((l) => l.includes("other/ipv4") && l.includes("->"))).toEqual([]);
    });

    it("a name vipkeeper did not make is refused, and nothing is bound", async () => {
      lab.exec("n1", ["ip", "link", "add", "vrrp.51", "type", "veth", "peer", "name", "vkvm-peer"]);
      agent = startAgent(lab, "n1", writeConfig(routerYaml(150)));
      await waitUntil(
        () => agent!.log.some((l) => l.includes("is not the virtual MAC vipkeeper made")),
        10_000,
        "the refusal",
      );
      expect(holder()).toEqual([]);
      expect(linkNames("n1")).toContain("vrrp.51"); // the foreign interface is left alone
    });
  },
);
