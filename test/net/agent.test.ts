// Real agents on a real (namespaced) network: raw VRRP sockets, addresses bound by netlink,
// gratuitous ARP, link tracking from kernel events, the supervisor's crash handover.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import { Probe } from "../../src/lab/probe.ts";
import { ENGINE_NICE } from "../../src/cli/agent.ts";
import {
  enginePid,
  readStatus,
  startAgent,
  waitUntil,
  writeConfig,
  type RunningAgent,
} from "../support/agents.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/agent.test.ts skipped: needs root for network namespaces");

const VIP4 = "198.18.0.50";
const VIP6 = "2001:db8::50";
const ROUTER = (extra = "") => `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: web}
spec:
  vrid: 51
  interface: eth0
  advertInterval: 100ms
  addresses: [{address: ${VIP4}/24}, {address: ${VIP6}/64}]
  priorities: [{node: n1, priority: 150}, {node: n2, priority: 100}, {node: n3, priority: 50}]
  garp: {delay: 1s, repeat: 2}
${extra}`;

// Each case starts three agents and waits for elections: ~5 s on a quiet machine, vitest's default
// limit; a loaded one needs more.
describe.skipIf(!ROOT)("agents in the lab", { timeout: 30_000 }, () => {
  let lab: Lab;
  let agents: RunningAgent[] = [];
  const config = () => writeConfig(ROUTER());

  beforeAll(() => {
    lab = Lab.create({ prefix: "vkt-", nodes: 3 });
  });
  afterAll(() => lab?.destroy());
  afterEach(async () => {
    for (const a of agents) a.child.kill("SIGKILL");
    for (const n of lab.nodes) lab.killAll(n.name);
    await Promise.all(agents.map((a) => a.exited));
    agents = [];
    lab.heal();
    for (const n of lab.nodes) {
      lab.linkUp(n.name);
      for (const vip of [`${VIP4}/24`, `${VIP6}/64`])
        spawnSync("ip", ["-n", n.ns, "addr", "del", vip, "dev", "eth0"]);
    }
  });

  const startAll = async (file: string) => {
    agents = lab.nodes.map((n) => startAgent(lab, n.name, file));
    await waitUntil(
      () => lab.holders(VIP4).join() === "n1" && lab.holders(VIP6).join() === "n1",
      10_000,
      "n1 to hold both VIPs",
    );
    // stable: nobody else takes it
    await new Promise((r) => setTimeout(r, 500));
    expect(lab.holders(VIP4)).toEqual(["n1"]);
    expect(lab.holders(VIP6)).toEqual(["n1"]);
  };

  it("elects the highest priority, which alone holds the VIPs and answers the client; adverts carry TTL 255", async () => {
    await startAll(config());
    const status = await readStatus(agents[0]!.socket);
    expect(status.instances.map((i) => [i.key, i.state])).toEqual([
      ["web/ipv4", "master"],
      ["web/ipv6", "master"],
    ]);
    const backup = await readStatus(agents[1]!.socket);
    expect(backup.instances.every((i) => i.state === "backup")).toBe(true);
    expect(backup.counters['adverts_received{instance="web/ipv4"}']).toBeGreaterThan(0);
    expect(backup.counters['adverts_received{instance="web/ipv6"}']).toBeGreaterThan(0);
    // The engine runs ahead of the rest of the agent (--engine-nice, default -10); the agent's
    // main process, which runs the health checks, at the default.
    const nice = (pid: number) =>
      Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[16]);
    expect(nice(enginePid(lab, "n1")!)).toBe(ENGINE_NICE);
    expect(nice(agents[0]!.child.pid!)).toBe(0);
    expect(lab.exec("client", ["ping", "-c", "1", "-W", "1", VIP4])).toContain("1 received");
    expect(lab.exec("client", ["ping", "-6", "-c", "1", "-W", "1", VIP6])).toContain("1 received");
    // tcpdump on the backup n2: what arrives there from the master. `timeout` ends it (exit 124).
    const wire = spawnSync(
      "ip",
      [
        "netns",
        "exec",
        lab.node("n2").ns,
        "timeout",
        "0.5",
        "tcpdump",
        "-l",
        "-n",
        "-v",
        "-i",
        "eth0",
        "ip proto 112 or ip6 proto 112",
      ],
      {
        encoding: "utf8",
      },
    ).stdout;
    expect(wire).toMatch(/ttl 255, .*proto VRRP/);
    expect(wire).toMatch(/hlim 255, next-header VRRP/);
    expect(wire).toContain("198.18.0.11 > 224.0.0.18: VRRPv3, Advertisement, vrid 51, prio 150, intvl 10cs");
    expect(wire).toContain(
      "fe80::ff:fe00:11 > ff02::12: VRRPv3, Advertisement, vrid 51, prio 150, intvl 10cs",
    );
  });

  it("SIGTERM resigns and releases; the next priority takes over within Skew_Time and the agent exits 0", async () => {
    await startAll(config());
    const stopAt = Date.now();
    agents[0]!.child.kill("SIGTERM");
    expect(await agents[0]!.exited).toBe(0);
    expect(lab.holders(VIP4)).not.toContain("n1");
    const took = await waitUntil(
      () => lab.holds("n2", VIP4) && lab.holds("n2", VIP6),
      2000,
      "n2 to take over",
    );
    // Skew_Time for priority 100 at 100 ms is 61 ms; process start-up of nothing, just delivery.
    expect(Date.now() - stopAt).toBeLessThan(1000);
    expect(took).toBeLessThan(1000);
    // The engine's line comes on its own stream, which may end after its parent's exit.
    await waitUntil(
      () => agents[0]!.log.some((l) => l.includes("master -> initialize (shutdown)")),
      2000,
      "the engine's shutdown line",
    );
  });

  it("a killed engine is resigned for by its supervisor: the address moves at once and is on one node only", async () => {
    await startAll(config());
    const pid = enginePid(lab, "n1")!;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, "SIGKILL");
    await waitUntil(() => !lab.holds("n1", VIP4) && !lab.holds("n1", VIP6), 500, "n1 to release");
    await waitUntil(() => lab.holders(VIP4).join() === "n2", 1000, "n2 to hold the VIP");
    expect(agents[0]!.log.join("\n")).toContain("resigning for the instances it held as master");
    // The supervisor restarts the engine, which takes mastership back (highest priority).
    await waitUntil(() => lab.holders(VIP4).join() === "n1", 10_000, "n1 back after the restart");
  }, 15_000); // its own waits add up to more than the default 5 s

  it("node failure: the client's outage stays near Master_Down_Interval and the client's ARP entry moves", async () => {
    await startAll(config());
    const probe = new Probe(lab, "client", VIP4);
    await waitUntil(() => probe.received > 20, 2000, "replies before the failure");
    lab.killAll("n1");
    lab.linkDown("n1");
    // n1's kernel keeps the address (nothing runs there to remove it), but n1 is off the network.
    await waitUntil(() => lab.holds("n2", VIP4), 2000, "n2 to take over");
    await new Promise((r) => setTimeout(r, 300));
    const result = await probe.stop();
    // Master_Down_Interval at 100 ms adverts for priority 100 is 361 ms from n1's last advert; the
    // client's outage starts later, when n1's link goes down (its kernel answers until then), up to
    // one interval after that advert plus the time `ip` takes to run under load.
    expect(result.longestGapMs).toBeGreaterThan(150);
    expect(result.longestGapMs).toBeLessThan(700);
    expect(lab.exec("client", ["ip", "neigh", "show", VIP4])).toContain(lab.node("n2").mac);
  });

  it("tracks its interface: link down puts it in Fault and the next node takes over; link up brings it back", async () => {
    await startAll(config());
    lab.linkDown("n1");
    await waitUntil(
      async () => (await readStatus(agents[0]!.socket)).instances.every((i) => i.state === "fault"),
      2000,
      "n1 in fault",
    );
    await waitUntil(() => lab.holders(VIP4).includes("n2"), 2000, "n2 to take over");
    expect(lab.holds("n1", VIP4)).toBe(false);
    lab.linkUp("n1");
    await waitUntil(() => lab.holders(VIP4).join() === "n1", 5000, "n1 back after link up");
  });

  it("counts malformed and foreign VRRP packets by reason and is not disturbed", async () => {
    await startAll(config());
    // A VRRPv3 advert for VRID 51 with a wrong checksum, one for VRID 99, and one too short.
    const send = (hex: string) =>
      lab.exec("client", [
        "python3",
        "-c",
        `import socket;s=socket.socket(socket.AF_INET,socket.SOCK_RAW,112);s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_TTL,255);s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_IF,socket.inet_aton("198.18.0.100"));s.sendto(bytes.fromhex("${hex}"),("224.0.0.18",0))`,
      ]);
    send("3133ff0100641234c6120032");
    send("3163ff0100640000c6120032");
    send("31");
    await waitUntil(
      async () => {
        const c = (await readStatus(agents[1]!.socket)).counters;
        return (
          (c['drops{instance="web/ipv4",reason="bad-length"}'] ?? 0) +
            (c['drops{instance="web/ipv4",reason="bad-checksum"}'] ?? 0) >
            0 &&
          (c['drops{reason="unknown-vrid"}'] ?? 0) > 0 &&
          (c['drops{reason="too-short"}'] ?? 0) > 0
        );
      },
      2000,
      "the drops to be counted",
    );
    expect(lab.holders(VIP4)).toEqual(["n1"]);
  });

  it("an invalid file is refused with a message naming the field, and nothing is bound", () => {
    const file = writeConfig(ROUTER().replace("vrid: 51", "vrid: 300"));
    const r = spawnSync(
      "ip",
      [
        "netns",
        "exec",
        lab.node("n1").ns,
        process.execPath,
        "bin/vipkeeper.js",
        "agent",
        "--config",
        file,
        "--node",
        "n1",
      ],
      {
        encoding: "utf8",
      },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("spec.vrid: must be <= 255");
    expect(lab.holds("n1", VIP4)).toBe(false);
  });
});
