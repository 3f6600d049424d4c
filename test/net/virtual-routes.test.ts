// A VirtualRouter's routes and policy rules (keepalived's virtual_routes / virtual_rules) on real
// agents in the lab: they are on the master only, follow mastership across a failover, leave with
// a stopped or crashed master, never take away an admin's route that looks the same, and what an
// agent killed outright left is removed at its next start; beside keepalived 2.2.7, one
// keepalived.conf's virtual_routes / virtual_rules follow mastership between the two. Lab prefix "vkvm-r".
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import { startAgent, waitUntil, writeConfig, type RunningAgent } from "../support/agents.ts";
import { keepalivedCommand } from "../interop/keepalived.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/virtual-routes.test.ts skipped: needs root for network namespaces");

const ROUTER = `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: gw}
spec:
  vrid: 52
  interface: eth0
  advertInterval: 100ms
  addresses: [{address: 198.18.0.50/24}, {address: "2001:db8::50/64"}]
  priorities: [{node: n1, priority: 150}, {node: n2, priority: 100}]
  routes:
    - {to: 198.19.5.0/24, via: 198.18.0.100}
    - {to: 198.19.6.0/24, dev: eth0, src: 198.18.0.50, metric: 7}
    - {to: 198.19.7.0/24, type: Blackhole, table: 100}
    - {to: 0.0.0.0/0, via: 198.18.0.100, table: 100}
    - {to: "2001:db8:5::/64", via: "2001:db8::64"}
  rules:
    - {from: 198.18.0.50, table: 100, priority: 100}
    - {fwmark: 7, fwmask: 255, table: 100, priority: 101}
`;

/** vipkeeper's routes on a host (protocol 112), as `ip route` prints them. */
const EXPECTED_ROUTES = [
  "198.19.5.0/24 via 198.18.0.100 dev eth0",
  "198.19.6.0/24 dev eth0 scope link src 198.18.0.50 metric 7",
  "blackhole 198.19.7.0/24 table 100",
  "default via 198.18.0.100 dev eth0 table 100",
  "2001:db8:5::/64 via 2001:db8::64 dev eth0 metric 1024 pref medium",
];
// The fwmark rule names no prefix: each family's instance adds it in its own family.
const EXPECTED_RULES = [
  "100: from 198.18.0.50 lookup 100 proto 112",
  "101: from all fwmark 0x7/0xff lookup 100 proto 112",
  "101: from all fwmark 0x7/0xff lookup 100 proto 112",
];

describe.skipIf(!ROOT)("routes and rules while master", { timeout: 60_000 }, () => {
  let lab: Lab;
  const agents: RunningAgent[] = [];

  const routes = (host: string) =>
    lab
      .exec(host, ["sh", "-c", "ip -4 route show table all proto 112; ip -6 route show table all proto 112"])
      .split("\n")
      .map((l) => l.trim().replace(/ proto 112/, ""))
      .filter(Boolean)
      .sort();
  const rules = (host: string) =>
    lab
      .exec(host, ["sh", "-c", "ip -4 rule show; ip -6 rule show"])
      .split("\n")
      .map((l) => l.replace(/\s+/g, " ").trim())
      .filter((l) => l.includes("proto 112"))
      .sort();
  const isMaster = (host: string) => lab.addresses(host).includes("198.18.0.50");
  const engineOf = (host: string) =>
    lab.pids(host).find((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").includes("engine-main");
      } catch {
        return false;
      }
    });

  beforeAll(() => {
    lab = Lab.create({ prefix: "vkvm-r", nodes: 2 });
  });
  afterAll(() => lab?.destroy());
  afterEach(async ({ task }) => {
    if (task.result?.state === "fail")
      for (const a of agents) console.log(`${a.node}:\n${a.log.slice(-20).join("\n")}`);
    for (const n of lab.nodes) lab.killAll(n.name);
    await Promise.all(agents.splice(0).map((a) => a.exited));
    // What a killed agent left stays (routes have no lifetime): each case starts clean.
    for (const n of lab.nodes)
      lab.exec(n.name, [
        "sh",
        "-c",
        "for f in -4 -6; do ip $f route flush table all proto 112; while ip $f rule del protocol 112 2>/dev/null; do :; done; done; ip route del 198.19.5.0/24 proto static 2>/dev/null; true",
      ]);
  });

  it("are on the master only, move with it, and an admin's route of the same destination stays", async () => {
    // The admin's own route on n2, the same as the router's first (destination, table, metric).
    lab.exec("n2", ["ip", "route", "add", "198.19.5.0/24", "via", "198.18.0.100", "proto", "static"]);
    const file = writeConfig(ROUTER);
    agents.push(startAgent(lab, "n1", file), startAgent(lab, "n2", file));
    await waitUntil(
      () => isMaster("n1") && routes("n1").length === EXPECTED_ROUTES.length,
      15_000,
      "n1 master",
    );
    expect(routes("n1")).toEqual([...EXPECTED_ROUTES].sort());
    expect(rules("n1")).toEqual(EXPECTED_RULES);
    expect(routes("n2")).toEqual([]);
    expect(rules("n2")).toEqual([]);
    // The policy rule is in force: the VIP's traffic looks up table 100 (its default route), while
    // the node's own address finds no route in main.
    expect(lab.exec("n1", ["ip", "route", "get", "198.19.8.1", "from", "198.18.0.50"])).toContain(
      "via 198.18.0.100",
    );
    expect(spawnSync("ip", ["-n", lab.node("n1").ns, "route", "get", "198.19.8.1"]).status).not.toBe(0);

    agents[0]!.child.kill("SIGTERM");
    expect(await agents[0]!.exited).toBe(0);
    // n2 adds all but the route the admin has: that one it leaves as it is, and says so.
    await waitUntil(
      () => isMaster("n2") && routes("n2").length === EXPECTED_ROUTES.length - 1,
      5000,
      "n2 master",
    );
    expect(routes("n1")).toEqual([]);
    expect(rules("n1")).toEqual([]);
    expect(routes("n2")).toEqual(EXPECTED_ROUTES.slice(1).sort());
    expect(rules("n2")).toEqual(EXPECTED_RULES);
    await waitUntil(
      () => agents[1]!.log.some((l) => l.includes("198.19.5.0/24") && l.includes("left as it is")),
      5000,
      "n2's warning about the admin's route",
    );

    // n2 leaves master (stopped): its routes go, the admin's stays.
    agents[1]!.child.kill("SIGTERM");
    expect(await agents[1]!.exited).toBe(0);
    expect(routes("n2")).toEqual([]);
    expect(rules("n2")).toEqual([]);
    expect(lab.exec("n2", ["ip", "route", "show", "198.19.5.0/24"]).trim()).toBe(
      "198.19.5.0/24 via 198.18.0.100 dev eth0 proto static",
    );
    lab.exec("n2", ["ip", "route", "del", "198.19.5.0/24", "proto", "static"]);
  });

  it("go back to the backup's state when a higher priority preempts", async () => {
    const file = writeConfig(ROUTER);
    agents.push(startAgent(lab, "n2", file));
    await waitUntil(
      () => isMaster("n2") && routes("n2").length === EXPECTED_ROUTES.length,
      15_000,
      "n2 master alone",
    );
    agents.push(startAgent(lab, "n1", file));
    await waitUntil(
      () => isMaster("n1") && routes("n1").length === EXPECTED_ROUTES.length,
      15_000,
      "n1 preempts",
    );
    await waitUntil(
      () => routes("n2").length === 0 && rules("n2").length === 0,
      3000,
      "n2 to drop its routes",
    );
  });

  it("a crashed master's are removed by its supervisor; an agent killed outright's by its next start", async () => {
    const file = writeConfig(ROUTER);
    agents.push(startAgent(lab, "n1", file));
    await waitUntil(
      () => routes("n1").length === EXPECTED_ROUTES.length && engineOf("n1") !== undefined,
      15_000,
      "n1 master",
    );
    process.kill(engineOf("n1")!, "SIGKILL");
    await waitUntil(
      () => routes("n1").length === 0 && rules("n1").length === 0,
      3000,
      "the supervisor's removal",
    );
    // The restarted engine becomes master again and adds them again.
    await waitUntil(() => routes("n1").length === EXPECTED_ROUTES.length, 15_000, "the new engine's routes");

    lab.killAll("n1"); // every process: nobody removes anything
    await agents.splice(0)[0]!.exited;
    expect(routes("n1")).toHaveLength(EXPECTED_ROUTES.length); // routes have no lifetime
    const next = startAgent(lab, "n1", file);
    agents.push(next);
    await waitUntil(
      () => next.log.some((l) => l.includes("removed routes and rules an earlier run left")),
      10_000,
      "the sweep",
    );
    await waitUntil(() => routes("n1").length === EXPECTED_ROUTES.length, 15_000, "master again");
  });

  it("beside keepalived: one keepalived.conf's virtual_routes and virtual_rules follow mastership between the two", async () => {
    // The same file for both: vipkeeper on n1 (150), keepalived 2.2.7 on n2 (100).
    const conf = (priority: number) => `global_defs {
    router_id lab
    vrrp_version 3
}
vrrp_instance GW {
    interface eth0
    state BACKUP
    priority ${priority}
    virtual_router_id 53
    advert_int 0.1
    virtual_ipaddress {
        198.18.0.50/24
    }
    virtual_routes {
        198.19.5.0/24 via 198.18.0.100
    }
    virtual_rules {
        from 198.18.0.50 table 100 priority 100
    }
}
`;
    // keepalived marks what it adds with its own protocol (18, "keepalived"), vipkeeper with 112.
    const has = (host: string) => {
      const route = lab.exec(host, ["ip", "-4", "route", "show", "198.19.5.0/24"]).trim();
      const rule = lab.exec(host, ["ip", "-4", "rule", "show", "priority", "100"]).trim();
      return route.includes("via 198.18.0.100") && rule.includes("lookup 100");
    };
    const { argv } = keepalivedCommand(conf(100));
    const keepalived = lab.spawn("n2", argv);
    try {
      agents.push(startAgent(lab, "n1", writeConfig(conf(150), "keepalived.conf")));
      await waitUntil(
        () => isMaster("n1") && has("n1") && !has("n2"),
        15_000,
        "vipkeeper master with them",
      ).catch((e: Error) => {
        throw new Error(
          `${e.message}\n${["n1", "n2"].map((h) => `${h}: master ${isMaster(h)}\n${lab.exec(h, ["sh", "-c", "ip route; ip rule"])}`).join("\n")}\n${agents[0]!.log.slice(-15).join("\n")}`,
        );
      });
      agents[0]!.child.kill("SIGTERM");
      expect(await agents[0]!.exited).toBe(0);
      await waitUntil(() => isMaster("n2") && has("n2") && !has("n1"), 5000, "keepalived master with them");
      agents.splice(0);
      agents.push(startAgent(lab, "n1", writeConfig(conf(150), "keepalived.conf")));
      await waitUntil(
        () => isMaster("n1") && has("n1") && !has("n2"),
        15_000,
        "vipkeeper preempts with them",
      );
    } finally {
      keepalived.kill("SIGTERM");
      await new Promise((r) => keepalived.once("exit", r));
    }
  });
});
