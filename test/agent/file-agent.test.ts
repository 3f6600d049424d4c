// What a reload does (pure): the VRRP step from the running and the new plan, and whether the load
// balancer's inputs changed.
import { describe, expect, it } from "vitest";
import { loadBalancerInputs, vrrpStep } from "../../src/agent/file-agent.ts";
import { parseConfig } from "../../src/agent/config-file.ts";
import { planForNode } from "../../src/agent/plan.ts";

const file = (o: { priority?: number; addresses?: string[]; realServer?: string }) =>
  parseConfig(`apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: { name: web }
spec:
  vrid: 7
  interface: eth0
  priorities: [{ node: n1, priority: ${o.priority ?? 150} }]
  addresses: [${(o.addresses ?? ["198.18.0.50/24"]).map((a) => `{ address: "${a}" }`).join(", ")}]
---
apiVersion: vipkeeper.io/v1alpha1
kind: VirtualServer
metadata: { name: web }
spec:
  address: 198.18.0.50
  port: 80
  routerRef: web
  realServers: [{ address: ${o.realServer ?? "198.18.0.11"}, port: 8080 }]
`);
const plan = (c: ReturnType<typeof file>) => planForNode(c.routers, "n1");

describe("reload", () => {
  it("keeps the engine when the plan is the same, updates addresses in place, restarts otherwise", () => {
    const base = file({});
    expect(vrrpStep(plan(base), plan(file({})))).toBe("keep");
    expect(vrrpStep(plan(base), plan(file({ addresses: ["198.18.0.50/24", "198.18.0.51/24"] })))).toBe(
      "addresses",
    );
    expect(vrrpStep(plan(base), plan(file({ priority: 120 })))).toBe("restart");
    // A new family is a new instance: a restart, not an address change.
    expect(vrrpStep(plan(base), plan(file({ addresses: ["198.18.0.50/24", "2001:db8::50/64"] })))).toBe(
      "restart",
    );
  });

  it("replaces the load balancer only when its inputs changed", () => {
    const base = loadBalancerInputs(file({}));
    expect(loadBalancerInputs(file({ priority: 120 }))).toBe(base);
    expect(loadBalancerInputs(file({ realServer: "198.18.0.12" }))).not.toBe(base);
  });
});
