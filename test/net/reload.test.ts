// SIGHUP, as keepalived admins send it (`systemctl reload keepalived`): the agent reads its
// keepalived.conf again and applies what changed, in a lab of two real agents. A file that no
// longer loads changes nothing; a new virtual address is bound in place without an election; a
// changed priority restarts the instance; a new real server reaches the dataplane; and a hangup
// sent to the engine itself does not end it.
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
  const logged = (a: RunningAgent, text: string) => a.log.some((l) => l.includes(text));
  const hup = async (a: RunningAgent, then: string) => {
    const before = a.log.length;
    a.child.kill("SIGHUP");
    await waitUntil(() => a.log.slice(before).some((l) => l.includes(then)), 10_000, `'${then}'`);
    return a.log.slice(before);
  };

  beforeAll(async () => {
    lab = Lab.create({ prefix: "vkrl-", nodes: 2 });
    writeFileSync(file("n1"), keepalivedConf({ priority: 101, vips: [VIP], realServers: ["198.18.0.31"] }));
    writeFileSync(file("n2"), keepalivedConf({ priority: 100, vips: [VIP], realServers: ["198.18.0.31"] }));
    // n1 first: started together, n2 may time out first and be master for a moment (both are right).
    agents.push(startAgent(lab, "n1", file("n1")));
    await waitUntil(() => lab.holders(VIP).join() === "n1", 15_000, "n1 to be master");
    agents.push(startAgent(lab, "n2", file("n2")));
    await waitUntil(() => agents[1]!.log.some((l) => l.includes("-> backup")), 15_000, "n2 to be backup");
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
    const n2Mark = agents[1]!.log.length;
    // Both nodes' files, as an admin edits them (VRRPv2 peers drop adverts whose addresses differ
    // from their own list: RFC 3768 7.1); the backup first.
    writeFileSync(
      file("n2"),
      keepalivedConf({ priority: 100, vips: [VIP, VIP2], realServers: ["198.18.0.31"] }),
    );
    await hup(agents[1]!, "configuration reloaded");
    writeFileSync(
      file("n1"),
      keepalivedConf({ priority: 101, vips: [VIP, VIP2], realServers: ["198.18.0.31"] }),
    );
    const lines = await hup(n1(), "configuration reloaded");
    expect(lines.join("\n")).toContain("virtual addresses updated in place");
    await waitUntil(() => lab.holds("n1", VIP2), 5000, "the new address on n1");
    expect(lab.holders(VIP)).toEqual(["n1"]);
    // No transition anywhere: n1 stayed master, n2 never was.
    expect(lines.filter((l) => l.includes("->"))).toEqual([]);
    expect(agents[1]!.log.slice(n2Mark).filter((l) => l.includes("->"))).toEqual([]);
  });

  it("a new real server reaches the dataplane; the VRRP instance is left alone", async () => {
    writeFileSync(
      file("n1"),
      keepalivedConf({ priority: 101, vips: [VIP, VIP2], realServers: ["198.18.0.31", "198.18.0.32"] }),
    );
    const lines = await hup(n1(), "configuration reloaded");
    expect(lines.find((l) => l.includes("configuration reloaded"))).toMatch(
      /"routers":\{"vi-1":"keep"\},"loadBalancer":"replaced"/,
    );
    const ruleset = execFileSync("ip", ["netns", "exec", lab.node("n1").ns, "nft", "list", "ruleset"], {
      encoding: "utf8",
    });
    expect(ruleset).toContain("198.18.0.32");
    expect(lab.holders(VIP)).toEqual(["n1"]);
  });

  it("a new vrrp_instance gets an engine of its own; the running one is left alone", async () => {
    writeFileSync(
      file("n1"),
      keepalivedConf({
        priority: 101,
        vips: [VIP, VIP2],
        realServers: ["198.18.0.31", "198.18.0.32"],
        second: true,
      }),
    );
    const lines = await hup(n1(), "configuration reloaded");
    expect(lines.find((l) => l.includes("configuration reloaded"))).toMatch(
      /"routers":\{"vi-1":"keep","vi-2":"start"\},"loadBalancer":"kept"/,
    );
    await waitUntil(() => lab.holds("n1", VIP3), 10_000, "VI_2's address on n1 (alone in its group)");
    expect(lines.some((l) => l.includes("vi-1/ipv4") && l.includes("->"))).toBe(false);
    expect(lab.holders(VIP)).toEqual(["n1"]);
  });

  it("a hangup sent to the engine process itself does not end it", async () => {
    const agentPid = n1().child.pid!;
    const engines = lab.pids("n1").filter(
      (p) =>
        execFileSync("ps", ["-o", "ppid=,args=", "-p", String(p)], { encoding: "utf8" })
          .trim()
          .startsWith(`${agentPid} `) && readFileSync(`/proc/${p}/cmdline`, "utf8").includes("engine-main"),
    );
    expect(engines).toHaveLength(2); // one per router
    for (const e of engines) process.kill(e, "SIGHUP");
    await new Promise((r) => setTimeout(r, 1500));
    for (const e of engines) expect(lab.pids("n1")).toContain(e);
    expect(lab.holders(VIP)).toEqual(["n1"]);
    expect(logged(n1(), "engine exited")).toBe(false);
  });

  it("a lower priority restarts that router's instance: n1 resigns it and n2 takes the address", async () => {
    writeFileSync(
      file("n1"),
      keepalivedConf({
        priority: 99,
        vips: [VIP, VIP2],
        realServers: ["198.18.0.31", "198.18.0.32"],
        second: true,
      }),
    );
    const lines = await hup(n1(), "configuration reloaded");
    expect(lines.find((l) => l.includes("configuration reloaded"))).toMatch(
      /"routers":\{"vi-1":"restart","vi-2":"keep"\}/,
    );
    await waitUntil(() => lab.holders(VIP).join() === "n2", 10_000, "n2 to take over");
    expect(lab.holds("n1", VIP2)).toBe(false); // released with the resignation
    // VI_2 runs in an engine of its own: it never noticed.
    expect(lab.holds("n1", VIP3)).toBe(true);
    expect(lines.filter((l) => l.includes("vi-2/ipv4") && l.includes("->"))).toEqual([]);
    expect(n1().child.exitCode).toBeNull();
  });
});
