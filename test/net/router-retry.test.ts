// A router the engine cannot start (its interface is not there yet) does not hold the others back:
// they run, the engine says why in its log and tries again with backoff, and the router starts once
// its interface exists, in the same engine.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import { enginePids, startAgent, waitUntil, writeConfig, type RunningAgent } from "../support/agents.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/router-retry.test.ts skipped: needs root for network namespaces");

const router = (
  name: string,
  vrid: number,
  iface: string,
  address: string,
) => `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: ${name}}
spec:
  vrid: ${vrid}
  interface: ${iface}
  advertInterval: 100ms
  addresses: [{address: ${address}/24}]
  priorities: [{node: n1, priority: 150}]
`;

describe.skipIf(!ROOT)("a router whose interface is missing", () => {
  let lab: Lab;
  let agent: RunningAgent | undefined;

  beforeAll(() => {
    lab = Lab.create({ prefix: "vkrr-", nodes: 1 });
  });
  afterAll(async () => {
    agent?.child.kill("SIGTERM");
    await agent?.exited;
    lab?.destroy();
  });

  it("does not hold the others back, and starts in the same engine once its interface exists", async () => {
    const file = writeConfig(
      [router("web", 71, "eth0", "198.18.0.71"), router("late", 72, "vkrr0", "198.18.7.72")].join("---\n"),
    );
    agent = startAgent(lab, "n1", file);
    await waitUntil(() => lab.holds("n1", "198.18.0.71"), 10_000, "web to run");
    await waitUntil(
      () => agent!.log.some((l) => l.includes("router late not started") && l.includes("vkrr0")),
      5000,
      "the engine to say why late does not run",
    );
    const [engine] = enginePids(lab, "n1");
    // The interface comes (a veth pair inside the node), with an address on the VIP's subnet.
    lab.exec("n1", ["ip", "link", "add", "vkrr0", "type", "veth", "peer", "name", "vkrr1"]);
    lab.exec("n1", ["ip", "addr", "add", "198.18.7.1/24", "dev", "vkrr0"]);
    lab.exec("n1", ["ip", "link", "set", "vkrr1", "up"]);
    lab.exec("n1", ["ip", "link", "set", "vkrr0", "up"]);
    const addresses = () => lab.exec("n1", ["ip", "-4", "addr", "show", "dev", "vkrr0"]);
    await waitUntil(() => addresses().includes("198.18.7.72"), 15_000, "late to start on the retry");
    expect(lab.holds("n1", "198.18.0.71")).toBe(true);
    expect(enginePids(lab, "n1")).toEqual([engine]);
  }, 30_000);
});
