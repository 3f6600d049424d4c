// What a reload does (pure): each router's step from the running and the new plan, and whether the
// load balancer's inputs changed.
import { describe, expect, it } from "vitest";
import { loadBalancerInputs } from "../../src/file-mode/file-agent.ts";
import { routerSteps } from "../../src/plan/steps.ts";
import { parseConfig } from "../../src/file-mode/config-file.ts";
import { planForNode } from "../../src/plan/plan.ts";

const router = (
  name: string,
  vrid: number,
  priority: number,
  addresses: string[],
) => `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: { name: ${name} }
spec:
  vrid: ${vrid}
  interface: eth0
  priorities: [{ node: n1, priority: ${priority} }]
  addresses: [${addresses.map((a) => `{ address: "${a}" }`).join(", ")}]
`;
const file = (o: { priority?: number; addresses?: string[]; realServer?: string; db?: boolean }) =>
  parseConfig(
    [
      router("web", 7, o.priority ?? 150, o.addresses ?? ["198.18.0.50/24"]),
      ...(o.db ? [router("db", 8, 150, ["198.18.0.60/24"])] : []),
      `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualServer
metadata: { name: web }
spec:
  address: 198.18.0.50
  port: 80
  routerRef: web
  realServers: [{ address: ${o.realServer ?? "198.18.0.11"}, port: 8080 }]
`,
    ].join("---\n"),
  );
const plan = (c: ReturnType<typeof file>) => planForNode(c.routers, "n1");
const steps = (a: ReturnType<typeof file>, b: ReturnType<typeof file>) =>
  Object.fromEntries(routerSteps(plan(a), plan(b)));

describe("reload", () => {
  it("keeps a router whose plan is the same, updates addresses in place, restarts it otherwise", () => {
    const base = file({});
    expect(steps(base, file({}))).toEqual({ web: "keep" });
    expect(steps(base, file({ addresses: ["198.18.0.50/24", "198.18.0.51/24"] }))).toEqual({
      web: "in-place",
    });
    expect(steps(base, file({ priority: 120 }))).toEqual({ web: "restart" });
    // A new family is a new instance: a restart, not an address change.
    expect(steps(base, file({ addresses: ["198.18.0.50/24", "2001:db8::50/64"] }))).toEqual({
      web: "restart",
    });
  });

  it("starts a router the file gained and stops one it lost, leaving the others alone", () => {
    expect(steps(file({}), file({ db: true }))).toEqual({ web: "keep", db: "start" });
    expect(steps(file({ db: true }), file({ priority: 120 }))).toEqual({ web: "restart", db: "stop" });
  });

  it("restarts a sync group whole when one of its members (re)starts: members share one engine", () => {
    const grouped = (o: { priority?: number; db?: boolean }) => {
      const c = file(o);
      for (const r of c.routers) r.spec.syncGroup = "g";
      return c;
    };
    expect(steps(grouped({ db: true }), grouped({ db: true }))).toEqual({ web: "keep", db: "keep" });
    expect(steps(grouped({ db: true }), grouped({ db: true, priority: 120 }))).toEqual({
      web: "restart",
      db: "restart",
    });
    expect(steps(grouped({}), grouped({ db: true }))).toEqual({ web: "restart", db: "start" });
    // Outside a group, the same change leaves the other router alone.
    expect(steps(file({ db: true }), file({ db: true, priority: 120 }))).toEqual({
      web: "restart",
      db: "keep",
    });
  });

  it("replaces the load balancer only when its inputs changed", () => {
    const base = loadBalancerInputs(file({}));
    expect(loadBalancerInputs(file({ priority: 120 }))).toBe(base);
    expect(loadBalancerInputs(file({ realServer: "198.18.0.12" }))).not.toBe(base);
  });
});
