// SIGHUP, as keepalived admins send it (`systemctl reload keepalived`): the agent reads its
// keepalived.conf again and applies what changed, in a lab of two real agents. n1 runs VI_1 (with
// n2) and VI_2 (alone) in its one engine. A file that no longer loads changes nothing; a new
// virtual address is bound in place without an election; a new real server reaches the dataplane;
// an instance removed from the file stops in place while the other runs on; one added starts in
// the running engine; a changed priority restarts that instance alone; and a hangup sent to the
// engine does not end it.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import { startAgent, waitUntil, type RunningAgent } from "../support/agents.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/reload.test.ts skipped: needs root for network namespaces");

const VIP = "198.18.0.80";
const VIP2 = "198.18.0.81";
const VIP3 = "198.18.0.82";

function keepalivedConf(o: {
  priority: number;
  vips: string[];
  realServers: string[];
  second?: boolean;
}): string {
  const second = o.second
    ? `vrrp_instance VI_2 {
    interface eth0
    state BACKUP
    priority 101
    virtual_router_id 62
    advert_int 1
    virtual_ipaddress {
        ${VIP3}/24
    }
}
`
    : "";
  return `global_defs {
    router_id lab
}
vrrp_instance VI_1 {
    interface eth0
    state BACKUP
    priority ${o.priority}
    virtual_router_id 61
    advert_int 1
    virtual_ipaddress {
${o.vips.map((v) => `        ${v}/24`).join("\n")}
    }
}
${second}virtual_server ${VIP} 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
${o.realServers.map((r) => `    real_server ${r} 80 {\n        weight 1\n    }`).join("\n")}
}
`;
}

describe.skipIf(!ROOT)("reloading the configuration on SIGHUP", { timeout: 60_000 }, () => {
  let lab: Lab;
  const dir = mkdtempSync(join(tmpdir(), "vk-reload-"));
  const file = (node: string) => join(dir, `${node}.conf`);
  const agents: RunningAgent[] = [];
  const n1 = () => agents[0]!;
  const n2 = () => agents[1]!;
  const hup = async (a: RunningAgent, then: string) => {
    const before = a.log.length;
    a.child.kill("SIGHUP");
    await waitUntil(() => a.log.slice(before).some((l) => l.includes(then)), 10_000, `'${then}'`);
    return a.log.slice(before);
  };
  /** n1's file: both instances, two VIPs on VI_1, two real servers, but for what `o` changes. */
  const writeN1 = (o: Partial<Parameters<typeof keepalivedConf>[0]>) =>
    writeFileSync(
      file("n1"),
      keepalivedConf({
        priority: 101,
        vips: [VIP, VIP2],
        realServers: ["198.18.0.31", "198.18.0.32"],
        second: true,
        ...o,
      }),
    );
  const reloaded = (lines: string[]) => lines.find((l) => l.includes("configuration reloaded")) ?? "";
  const transitions = (lines: string[], instance: string) =>
    lines.filter((l) => l.includes(`"instance":"${instance}"`) && l.includes("->"));
  /** The agent's engine processes (children of its main process). */
  const engines = () =>
    lab
      .pids("n1")
      .filter(
        (p) =>
          readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]!.split(" ")[1] === String(n1().child.pid) &&
          readFileSync(`/proc/${p}/cmdline`, "utf8").includes("engine-main"),
      );

  beforeAll(async () => {
    lab = Lab.create({ prefix: "vkrl-", nodes: 2 });
    writeN1({ vips: [VIP], realServers: ["198.18.0.31"] });
    writeFileSync(file("n2"), keepalivedConf({ priority: 100, vips: [VIP], realServers: ["198.18.0.31"] }));
    // n1 first: started together, n2 may time out first and be master for a moment (both are right).
    agents.push(startAgent(lab, "n1", file("n1")));
    await waitUntil(
      () => lab.holders(VIP).join() === "n1" && lab.holds("n1", VIP3),
      15_000,
      "n1 master of both",
    );
    agents.push(startAgent(lab, "n2", file("n2")));
    await waitUntil(() => n2().log.some((l) => l.includes("-> backup")), 15_000, "n2 to be backup");
  });
  afterAll(async () => {
    for (const n of lab?.nodes ?? []) lab.killAll(n.name);
    await Promise.all(agents.map((a) => a.exited));
    lab?.destroy();
  });

  it("a file that no longer loads changes nothing: the agent says why and runs on", async () => {
    writeFileSync(file("n1"), "vrrp_instance VI_1 {\n    priority\n");
    const lines = await hup(n1(), "reload failed");
    expect(lines.join("\n")).toMatch(/running on with the configuration loaded before/);
    expect(n1().child.exitCode).toBeNull();
    expect(lab.holders(VIP)).toEqual(["n1"]);
  });

  it("a new virtual address is bound in place, without a new election", async () => {
    const n2Mark = n2().log.length;
    // Both nodes' files, as an admin edits them (VRRPv2 peers drop adverts whose addresses differ
    // from their own list: RFC 3768 7.1); the backup first.
    writeFileSync(
      file("n2"),
      keepalivedConf({ priority: 100, vips: [VIP, VIP2], realServers: ["198.18.0.31"] }),
    );
    await hup(n2(), "configuration reloaded");
    writeN1({ realServers: ["198.18.0.31"] });
    const n1Mark = n1().log.length;
    const reload = await hup(n1(), "configuration reloaded");
    expect(reloaded(reload)).toMatch(/"routers":\{"vi-1":"in-place","vi-2":"keep"\}/);
    // The engine (a child process) logs its in-place change on its own stream: it may come after
    // the main process's "configuration reloaded".
    await waitUntil(
      () =>
        n1()
          .log.slice(n1Mark)
          .some((l) => l.includes("virtual addresses changed")),
      5000,
      "the engine's in-place change",
    );
    await waitUntil(() => lab.holds("n1", VIP2), 5000, "the new address on n1");
    expect(lab.holders(VIP)).toEqual(["n1"]);
    // No transition anywhere: n1 stayed master, n2 never was.
    expect(
      n1()
        .log.slice(n1Mark)
        .filter((l) => l.includes("->")),
    ).toEqual([]);
    expect(
      n2()
        .log.slice(n2Mark)
        .filter((l) => l.includes("->")),
    ).toEqual([]);
  });

  it("a new real server reaches the dataplane; the VRRP instances are left alone", async () => {
    writeN1({});
    const lines = await hup(n1(), "configuration reloaded");
    expect(reloaded(lines)).toMatch(/"routers":\{"vi-1":"keep","vi-2":"keep"\},"loadBalancer":"replaced"/);
    const ruleset = execFileSync("ip", ["netns", "exec", lab.node("n1").ns, "nft", "list", "ruleset"], {
      encoding: "utf8",
    });
    expect(ruleset).toContain("198.18.0.32");
    expect(lab.holders(VIP)).toEqual(["n1"]);
  });

  it("a hangup sent to the engine process itself does not end it", async () => {
    const [engine, ...more] = engines();
    expect(more).toEqual([]); // both routers in one engine
    process.kill(engine!, "SIGHUP");
    await new Promise((r) => setTimeout(r, 1500));
    expect(engines()).toEqual([engine]);
    expect(lab.holders(VIP)).toEqual(["n1"]);
    expect(n1().log.some((l) => l.includes("engine exited"))).toBe(false);
  });

  it("an instance removed from the file stops in place; the other one in its engine runs on", async () => {
    const [engine] = engines();
    writeN1({ second: false });
    const mark = n1().log.length;
    const lines = await hup(n1(), "configuration reloaded");
    expect(reloaded(lines)).toMatch(/"routers":\{"vi-2":"stop","vi-1":"keep"\}/);
    await waitUntil(() => !lab.holds("n1", VIP3), 5000, "VI_2's address released");
    expect(engines()).toEqual([engine]);
    expect(transitions(n1().log.slice(mark), "vi-1/ipv4")).toEqual([]);
    expect(lab.holders(VIP)).toEqual(["n1"]);
  });

  it("an instance added to the file starts in the running engine", async () => {
    const [engine] = engines();
    writeN1({});
    const mark = n1().log.length;
    const lines = await hup(n1(), "configuration reloaded");
    expect(reloaded(lines)).toMatch(/"routers":\{"vi-1":"keep","vi-2":"start"\},"loadBalancer":"kept"/);
    await waitUntil(() => lab.holds("n1", VIP3), 10_000, "VI_2's address on n1 (alone in its group)");
    // Its engine's log lines come through a pipe: wait for the election's, so the next case does
    // not read them as its own.
    const since = () => n1().log.slice(mark);
    await waitUntil(
      () => transitions(since(), "vi-2/ipv4").some((l) => l.includes("-> master")),
      5000,
      "VI_2's election in the log",
    );
    expect(engines()).toEqual([engine]);
    expect(transitions(since(), "vi-1/ipv4")).toEqual([]);
    expect(lab.holders(VIP)).toEqual(["n1"]);
  });

  it("a lower priority restarts that router alone: n1 resigns it and n2 takes the address", async () => {
    const [engine] = engines();
    writeN1({ priority: 99 });
    const mark = n1().log.length;
    const lines = await hup(n1(), "configuration reloaded");
    expect(reloaded(lines)).toMatch(/"routers":\{"vi-1":"restart","vi-2":"keep"\}/);
    await waitUntil(() => lab.holders(VIP).join() === "n2", 10_000, "n2 to take over");
    expect(lab.holds("n1", VIP2)).toBe(false); // released with the resignation
    // VI_2 runs on in the same engine: it never noticed.
    expect(lab.holds("n1", VIP3)).toBe(true);
    expect(transitions(n1().log.slice(mark), "vi-2/ipv4")).toEqual([]);
    expect(engines()).toEqual([engine]);
    expect(n1().child.exitCode).toBeNull();
  });
});
