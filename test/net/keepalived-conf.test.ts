// The tutorial's haproxy pair, run by vipkeeper agents straight from keepalived.conf in the lab:
// weighted vrrp_scripts move mastership; notify scripts, mail and metrics report each transition.
import { spawnSync, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync, chmodSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import { readStatus, startAgent, waitUntil, type RunningAgent } from "../support/agents.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/keepalived-conf.test.ts skipped: needs root for network namespaces");

const FIXTURE = join(import.meta.dirname, "../fixtures/keepalived/haproxy-pair-master.conf");
const VIP = "198.18.0.60";
const SINK = join(import.meta.dirname, "../support/smtp-sink.ts");

describe.skipIf(!ROOT)("a keepalived.conf in the lab", { timeout: 60_000 }, () => {
  let lab: Lab;
  const agents: RunningAgent[] = [];
  const haproxies = new Map<string, ChildProcess>();
  const dir = mkdtempSync(join(tmpdir(), "vk-kconf-"));

  beforeAll(() => {
    lab = Lab.create({ prefix: "vkk-", nodes: 2 });
  });
  afterAll(async () => {
    for (const n of lab.nodes) lab.killAll(n.name);
    await Promise.all(agents.map((a) => a.exited));
    lab.destroy();
  });

  /**
   * The file as the tutorial wrote it, with what a lab must change: addresses into 198.18.0.0/15,
   * and node-local names, since lab nodes share one process table and one filesystem (killall
   * would see the other node's haproxy).
   */
  const nodeFile = (node: string, priority: number) => {
    const text = readFileSync(FIXTURE, "utf8")
      .replace("172.16.100.1/16", `${VIP}/24`)
      .replace("priority 101", `priority ${priority}`)
      .replace("killall -0 haproxy", `killall -0 haproxy-${node}`)
      .replace("/etc/keepalived/down", join(dir, `${node}-down`))
      .replaceAll("/etc/keepalived/notify.sh", join(dir, `notify-${node}.sh`))
      // The tutorial's mail settings, with keepalived's switch that turns them on.
      .replace("router_id LVS_DEVEL", "router_id LVS_DEVEL\n   smtp_alert");
    const file = join(dir, `${node}.conf`);
    writeFileSync(file, text);
    writeFileSync(
      join(dir, `notify-${node}.sh`),
      `#!/bin/sh\necho "$1" >> ${join(dir, `${node}.notified`)}\n`,
    );
    chmodSync(join(dir, `notify-${node}.sh`), 0o755);
    return file;
  };
  const notified = (node: string) => {
    const f = join(dir, `${node}.notified`);
    return existsSync(f) ? readFileSync(f, "utf8").trim().split("\n") : [];
  };
  const mails = (node: string) => {
    const f = join(dir, `${node}.mail`);
    return existsSync(f) ? readFileSync(f, "utf8").trim().split("\n") : [];
  };
  const priorityOf = async (a: RunningAgent) => (await readStatus(a.socket)).instances[0]?.effectivePriority;

  it("elects by priority plus script weights; a dead haproxy and a maintenance file move the VIP; notify scripts run", async () => {
    // A process called haproxy-nX on each node, for the tutorial's `killall -0 haproxy` check.
    for (const n of ["n1", "n2"]) {
      const bin = join(dir, `haproxy-${n}`);
      copyFileSync("/bin/sleep", bin);
      chmodSync(bin, 0o755);
      haproxies.set(n, lab.spawn(n, [bin, "600"]));
    }
    // The tutorial's smtp_server is 127.0.0.1: a mail sink on each node.
    const sinks = ["n1", "n2"].map((n) => {
      const sink = lab.spawn(n, [process.execPath, SINK, "25", join(dir, `${n}.mail`)]);
      return new Promise((resolve) => sink.stdout?.once("data", resolve));
    });
    await Promise.all(sinks);
    agents.push(
      startAgent(lab, "n1", nodeFile("n1", 101)),
      startAgent(lab, "n2", nodeFile("n2", 100), ["--metrics", ":9650"]),
    );
    const [a1, a2] = agents as [RunningAgent, RunningAgent];
    await waitUntil(() => lab.holders(VIP).join() === "n1", 15_000, "n1 to hold the VIP");
    await waitUntil(
      async () => (await priorityOf(a1)) === 105 && (await priorityOf(a2)) === 104,
      5000,
      "both scripts healthy",
    );
    expect(a1.log.join("\n")).toContain("keepalived.conf:");
    await waitUntil(
      () => notified("n1").includes("master") && notified("n2").includes("backup"),
      3000,
      "notify",
    );

    // haproxy dies on n1: 101 + 2 (maintenance check) = 103 < 104.
    haproxies.get("n1")!.kill("SIGKILL");
    await waitUntil(async () => (await priorityOf(a1)) === 103, 5000, "n1's priority to drop by the weight");
    await waitUntil(() => lab.holders(VIP).join() === "n2", 10_000, "n2 to take over");
    await waitUntil(
      () => notified("n2").includes("master") && notified("n1").at(-1) === "backup",
      3000,
      "notify",
    );
    await waitUntil(() => mails("n2").some((m) => m.includes("Entering MASTER state")), 5000, "n2's mail");
    const mail = mails("n2").find((m) => m.includes("Entering MASTER state"))!;
    expect(mail).toContain("Subject: [LVS_DEVEL] VRRP Instance VI_1 - Entering MASTER state");
    expect(mail).toContain('"to":["root@localhost"]');
    expect(mail).toContain('"from":"keepalived@localhost"');

    // A v2 advert for the pair's VRID with a bad checksum, from the client: counted by reason.
    lab.exec("client", [
      "python3",
      "-c",
      `import socket;s=socket.socket(socket.AF_INET,socket.SOCK_RAW,112);s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_TTL,255);s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_IF,socket.inet_aton("198.18.0.100"));s.sendto(bytes.fromhex("213364010101ffffc612003c" + b"password".hex()),("224.0.0.18",0))`,
    ]);
    await waitUntil(
      async () =>
        ((await readStatus(a2.socket)).counters['drops{instance="vi-1/ipv4",reason="bad-checksum"}'] ?? 0) >
        0,
      2000,
      "the bad advert to be counted",
    );

    // n2's metrics port, scraped from the lab's client as Prometheus would.
    const scrape = lab.exec("client", ["curl", "-s", "--max-time", "2", "http://198.18.0.12:9650/metrics"]);
    const sample = (name: string, labels: string[], value?: string) =>
      scrape
        .split("\n")
        .some(
          (l) =>
            l.startsWith(`${name}{`) &&
            labels.every((x) => l.includes(x)) &&
            (value === undefined || l.endsWith(` ${value}`)),
        );
    const n2 = ['router="vi-1"', 'family="ipv4"', 'node="n2"'];
    expect(sample("vipkeeper_vrrp_instance_state", [...n2, 'state="master"'], "1")).toBe(true);
    expect(sample("vipkeeper_vrrp_addresses_bound", n2, "1")).toBe(true);
    expect(sample("vipkeeper_vrrp_failover_seconds_count", n2, "1")).toBe(true);
    expect(sample("vipkeeper_vrrp_drops_total", [...n2, 'reason="bad-checksum"'], "1")).toBe(true);
    expect(sample("vipkeeper_vrrp_transitions_total", [...n2, 'to="fault"'], "0")).toBe(true);
    // No label of Prometheus' own target labels, which a scrape would rename.
    expect(scrape).not.toMatch(/[{,](instance|job)="/);
    for (const name of [
      "vipkeeper_vrrp_transitions_total",
      "vipkeeper_vrrp_adverts_sent_total",
      "vipkeeper_vrrp_adverts_received_total",
      "vipkeeper_vrrp_effective_priority",
      "vipkeeper_vrrp_notifications_total",
    ])
      expect(sample(name, n2), name).toBe(true);

    // Maintenance on n2: its second check fails, 100 + 2 = 102 < 103; n1 preempts.
    writeFileSync(join(dir, "n2-down"), "");
    await waitUntil(() => lab.holders(VIP).join() === "n1", 10_000, "n1 to take the VIP back");
    expect(await priorityOf(a2)).toBe(102);
    expect(
      spawnSync("ip", ["-n", lab.node("n1").ns, "-4", "addr", "show", "dev", "eth0"]).stdout.toString(),
    ).toContain("eth0:0");
  });
});

// The tutorial's dual-master variant: two instances whose masters sit on different nodes, so both
// nodes carry traffic; a node's sick haproxy hands its address to the other.
describe.skipIf(!ROOT)("the dual-master keepalived.conf in the lab", { timeout: 60_000 }, () => {
  const DUAL = join(import.meta.dirname, "../fixtures/keepalived/haproxy-dual-master.conf");
  const [VIP1, VIP2] = ["198.18.0.61", "198.18.0.62"];
  let lab: Lab;
  const agents: RunningAgent[] = [];
  const haproxies = new Map<string, ChildProcess>();
  const dir = mkdtempSync(join(tmpdir(), "vk-kdual-"));

  beforeAll(() => {
    lab = Lab.create({ prefix: "vkkd-", nodes: 2 });
  });
  afterAll(async () => {
    for (const n of lab.nodes) lab.killAll(n.name);
    await Promise.all(agents.map((a) => a.exited));
    lab.destroy();
  });

  /** As written for the first node; the second swaps the two priorities (the tutorial's comments). */
  const nodeFile = (node: string, first: boolean) => {
    let text = readFileSync(DUAL, "utf8")
      .replace("172.16.100.1/16", `${VIP1}/24`)
      .replace("172.16.100.2/16", `${VIP2}/24`)
      .replace("killall -0 haproxy", `killall -0 haproxy-${node}`)
      .replace("/etc/keepalived/down", join(dir, `${node}-down`))
      .replaceAll("/etc/keepalived/notify.sh", join(dir, `notify-${node}.sh`));
    if (!first)
      text = text
        .replace("priority 101", "priority X")
        .replace("priority 100", "priority 101")
        .replace("priority X", "priority 100");
    const file = join(dir, `${node}.conf`);
    writeFileSync(file, text);
    writeFileSync(join(dir, `notify-${node}.sh`), "#!/bin/sh\nexit 0\n");
    chmodSync(join(dir, `notify-${node}.sh`), 0o755);
    return file;
  };

  it("puts one address on each node, and both on the healthy node when the other's haproxy dies", async () => {
    for (const n of ["n1", "n2"]) {
      const bin = join(dir, `haproxy-${n}`);
      copyFileSync("/bin/sleep", bin);
      chmodSync(bin, 0o755);
      haproxies.set(n, lab.spawn(n, [bin, "600"]));
    }
    agents.push(startAgent(lab, "n1", nodeFile("n1", true)), startAgent(lab, "n2", nodeFile("n2", false)));
    await waitUntil(
      () => lab.holders(VIP1).join() === "n1" && lab.holders(VIP2).join() === "n2",
      15_000,
      "an address on each node",
    );
    haproxies.get("n1")!.kill("SIGKILL");
    await waitUntil(
      () => lab.holders(VIP1).join() === "n2" && lab.holders(VIP2).join() === "n2",
      10_000,
      "both addresses on n2",
    );
  });
});
