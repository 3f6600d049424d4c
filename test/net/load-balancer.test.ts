// keepalived's LVS pattern, end to end in the lab: two director nodes run agents from one file with
// a VirtualRouter and a VirtualServer; three HTTP real servers; a client. The master balances by
// weight, a dead real server leaves within its check's retries, and when the master fails the
// address and the service move together.
import { spawnSync, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import { startAgent, waitUntil, writeConfig, type RunningAgent } from "../support/agents.ts";
import { httpLoad, startBackend } from "../support/http-traffic.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/load-balancer.test.ts skipped: needs root for network namespaces");

const VIP = "198.18.0.50";
const CONFIG = `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: web}
spec:
  vrid: 51
  interface: eth0
  advertInterval: 100ms
  addresses: [{address: ${VIP}/24}]
  priorities: [{node: n1, priority: 150}, {node: n2, priority: 100}]
  garp: {delay: 1s, repeat: 2}
---
apiVersion: vipkeeper.io/v1alpha1
kind: VirtualServer
metadata: {name: web, namespace: shop}
spec:
  address: ${VIP}
  port: 80
  routerRef: web
  scheduler: wrr
  realServers:
    - {address: 198.18.0.13, port: 8080, weight: 1}
    - {address: 198.18.0.14, port: 8080, weight: 1}
    - {address: 198.18.0.15, port: 8080, weight: 2}
  healthCheck:
    httpGet: {path: /}
    interval: 200ms
    timeout: 300ms
    retries: 1
    delayBeforeRetry: 100ms
`;

describe.skipIf(!ROOT)("load balancing on the virtual address", { timeout: 60_000 }, () => {
  let lab: Lab;
  const agents: RunningAgent[] = [];
  const servers = new Map<string, ChildProcess>();
  const load = (n: number) => httpLoad(lab, `http://${VIP}/`, n);
  const serve = async (n: string) => {
    servers.set(n, await startBackend(lab, n, 8080));
  };

  beforeAll(async () => {
    lab = Lab.create({ prefix: "vkl-", nodes: 5 });
    for (const n of ["n1", "n2"]) lab.exec(n, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    for (const n of ["n3", "n4", "n5"]) {
      // NAT: real servers answer the client through the virtual address, wherever it lives.
      lab.exec(n, ["ip", "route", "add", `${lab.client.ipv4}/32`, "via", VIP]);
      await serve(n);
    }
  });
  afterAll(async () => {
    for (const n of lab.nodes) lab.killAll(n.name);
    await Promise.all(agents.map((a) => a.exited));
    lab.destroy();
  });

  it("balances by weight, drops a dead real server, takes it back, and survives the master's failure", async () => {
    const file = writeConfig(CONFIG);
    agents.push(startAgent(lab, "n1", file), startAgent(lab, "n2", file));
    await waitUntil(() => lab.holders(VIP).join() === "n1", 10_000, "n1 to hold the VIP");
    await waitUntil(
      () => agents.every((a) => a.log.join("\n").includes("virtual services programmed")),
      5000,
      "tables",
    );
    expect(load(480)).toEqual({ n3: 120, n4: 120, n5: 240 }); // 120 slots, numgen in turn
    expect(
      spawnSync("ip", ["netns", "exec", lab.node("n2").ns, "nft", "list", "tables"]).stdout.toString(),
    ).toContain("table inet vipkeeper_lb");

    // n4's server dies: gone within interval + timeout x (1 + retries) + delay, about 1 s.
    servers.get("n4")!.kill("SIGKILL");
    const took = await waitUntil(
      () => agents[0]!.log.some((l) => l.includes("real server 198.18.0.14:8080 of shop/web is down")),
      3000,
      "the check to fail",
    );
    expect(took).toBeLessThan(2000);
    await waitUntil(() => agents[0]!.log.some((l) => l.includes("dataplane updated")), 1000, "the update");
    const after = load(120);
    expect(after.n4).toBeUndefined();
    expect(after.error).toBeUndefined();
    expect(after).toEqual({ n3: 40, n5: 80 });

    await serve("n4");
    await waitUntil(
      () => agents[0]!.log.some((l) => l.includes("real server 198.18.0.14:8080 of shop/web is up")),
      3000,
      "n4 back",
    );
    await new Promise((r) => setTimeout(r, 200));
    expect(Object.keys(load(40)).sort()).toEqual(["n3", "n4", "n5"]);

    // The master fails: n2 takes the address, and its table serves at once.
    lab.killAll("n1");
    lab.linkDown("n1");
    await waitUntil(() => lab.holds("n2", VIP), 3000, "n2 to take over");
    await new Promise((r) => setTimeout(r, 300));
    const served = load(40);
    expect(served.error).toBeUndefined();
    expect(Object.values(served).reduce((a, b) => a + b, 0)).toBe(40);
  });
});
