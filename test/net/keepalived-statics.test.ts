// keepalived.conf's static_ipaddress, static_routes and static_rules run by the file-mode agent:
// on every node whatever its VRRP state, kept across a failover, changed in place by a reload
// (SIGHUP) without touching the rest, and gone when the agent stops. Lab prefix "vkvm-s".
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import { startAgent, waitUntil, type RunningAgent } from "../support/agents.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/keepalived-statics.test.ts skipped: needs root for network namespaces");

const conf = (route: string) => `
static_ipaddress {
@n1  198.18.1.11/24 dev eth0 scope link
@n2  198.18.1.12/24 dev eth0
}
static_routes {
  ${route}
  blackhole 198.19.21.0/24 table 200
}
static_rules {
  from 198.18.1.0/24 table 200 priority 200
}
vrrp_instance VI_1 {
  version 3
  interface eth0
  virtual_router_id 53
@n1  priority 100
@n2  priority 150
  advert_int 0.1
  virtual_ipaddress {
    198.18.0.50/24
  }
}
`;

describe.skipIf(!ROOT)("static addresses, routes and rules from keepalived.conf", { timeout: 60_000 }, () => {
  let lab: Lab;
  const agents: RunningAgent[] = [];

  const statics = (host: string) => ({
    addresses: lab
      .exec(host, ["ip", "-4", "-o", "addr", "show", "to", "198.18.1.0/24"])
      .includes("198.18.1."),
    routes: lab
      .exec(host, ["ip", "-4", "route", "show", "table", "all", "proto", "112"])
      .split("\n")
      .map((l) => l.trim())
      .filter(Boolean)
      .sort(),
    rules: lab
      .exec(host, ["ip", "-4", "rule", "show"])
      .split("\n")
      .filter((l) => l.includes("proto 112"))
      .map((l) => l.replace(/\s+/g, " ").trim()),
  });
  const EXPECTED = (route: string) => ({
    addresses: true,
    routes: [route, "blackhole 198.19.21.0/24 table 200"].sort(),
    rules: ["200: from 198.18.1.0/24 lookup 200 proto 112"],
  });
  const NONE = { addresses: false, routes: [], rules: [] };

  beforeAll(() => {
    lab = Lab.create({ prefix: "vkvm-s", nodes: 2 });
  });
  afterAll(() => lab?.destroy());
  afterEach(async ({ task }) => {
    if (task.result?.state === "fail")
      for (const a of agents) console.log(`${a.node}:\n${a.log.slice(-20).join("\n")}`);
    for (const n of lab.nodes) lab.killAll(n.name);
    await Promise.all(agents.splice(0).map((a) => a.exited));
  });

  it("are on master and backup alike, stay across a failover, follow a reload, and go at stop", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "vk-statics-")), "keepalived.conf");
    writeFileSync(file, conf("198.19.20.0/24 via 198.18.0.100 dev eth0"));
    const [n1, n2] = [startAgent(lab, "n1", file), startAgent(lab, "n2", file)];
    agents.push(n1, n2);
    await waitUntil(() => lab.holds("n2", "198.18.0.50"), 15_000, "n2 master");
    const first = EXPECTED("198.19.20.0/24 via 198.18.0.100 dev eth0");
    await waitUntil(() => statics("n1").routes.length === 2, 5000, "n1's statics");
    expect(lab.holds("n1", "198.18.0.50")).toBe(false); // n1 is backup, and has them all the same
    expect(statics("n1")).toEqual(first);
    expect(statics("n2")).toEqual(first);
    expect(lab.exec("n1", ["ip", "-4", "-o", "addr", "show", "dev", "eth0"])).toMatch(
      /198.18.1.11\/24 scope link /,
    );

    n2.child.kill("SIGTERM");
    expect(await n2.exited).toBe(0);
    await waitUntil(() => lab.holds("n1", "198.18.0.50"), 5000, "n1 master");
    expect(statics("n2")).toEqual(NONE); // gone with the stopped agent
    expect(statics("n1")).toEqual(first); // unchanged by the failover

    // A reload changes one static route: that one is replaced, the rest stays as it was.
    writeFileSync(file, conf("198.19.22.0/24 via 198.18.0.100 dev eth0 metric 5"));
    n1.child.kill("SIGHUP");
    const second = EXPECTED("198.19.22.0/24 via 198.18.0.100 dev eth0 metric 5");
    await waitUntil(() => statics("n1").routes.includes(second.routes[0]!), 5000, "the reload");
    expect(statics("n1")).toEqual(second);
    expect(lab.holds("n1", "198.18.0.50")).toBe(true); // the router ran on untouched

    n1.child.kill("SIGTERM");
    expect(await n1.exited).toBe(0);
    expect(statics("n1")).toEqual(NONE);
  });
});
