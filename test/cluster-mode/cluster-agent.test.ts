// The cluster agent's work, with fakes for the engine and the API: what goes to the node's one
// engine, and that one failing piece of work is retried without stopping the others.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { ClusterAgent, type ClusterView } from "../../src/cluster-mode/cluster-agent.ts";
import type { HostAddress } from "../../src/cluster-mode/cluster-plan.ts";
import type { NodeEngine } from "../../src/agent/engines.ts";
import { StatusWriter } from "../../src/cluster-mode/status-writer.ts";
import type { ClusterNode, RouterObject } from "../../src/cluster/routers.ts";
import type { NodePlan } from "../../src/plan/plan.ts";
import type { VirtualServer } from "../../src/api/virtual-server.ts";
import { routerSteps } from "../../src/plan/steps.ts";
import { waitUntil } from "../support/agents.ts";

const log = pino({ level: "silent" });
const host: HostAddress[] = [{ interfaceName: "eth0", family: 4, address: "198.18.0.1", prefixLength: 24 }];
const nodes: ClusterNode[] = [
  { name: "n1", labels: {}, addresses: ["198.18.0.1"] },
  { name: "n2", labels: {}, addresses: ["198.18.0.2"] },
];
const router = (name: string, vrid: number, address: string): RouterObject => ({
  apiVersion: "vipkeeper.io/v1alpha1",
  kind: "VirtualRouter",
  metadata: { name },
  spec: {
    addresses: [{ address: `${address}/24` }],
    virtualServers: { from: [{ namespaceSelector: { matchLabels: { team: "shop" } } }] },
  },
  status: { vrid },
});
const virtualServer: VirtualServer = {
  apiVersion: "vipkeeper.io/v1alpha1",
  kind: "VirtualServer",
  metadata: { name: "web-http", namespace: "shop" },
  spec: {
    address: "198.18.0.50",
    port: 8080,
    routerRef: "web",
    realServers: [{ address: "198.18.0.20", port: 9090 }],
  },
};

function fixture(opts: { failHost?: number; failLoadBalancer?: boolean } = {}) {
  let routers: RouterObject[] = [router("web", 1, "198.18.0.50")];
  const view: ClusterView = {
    routers: () => routers,
    nodes: () => nodes,
    secret: () => undefined,
    endpointsReady: () => true,
    readyPods: () => 0,
    virtualServers: () => [virtualServer],
    namespaceLabels: () => ({ team: "shop" }),
  };
  const engines: { plans: NodePlan[] }[] = [];
  let hostFailures = opts.failHost ?? 0;
  let lbStarts = 0;
  const agent = new ClusterAgent({
    node: "n1",
    log,
    view,
    status: new StatusWriter(() => Promise.resolve(), log),
    allowScripts: false,
    engineArgs: { node: "n1" },
    hostAddresses: () =>
      hostFailures-- > 0 ? Promise.reject(new Error("netlink: EBUSY")) : Promise.resolve(host),
    startEngine: (plan) => {
      const made = { plans: [plan] };
      engines.push(made);
      let current = plan;
      return Promise.resolve({
        plan: () => current,
        apply: (next: NodePlan) => {
          const steps = routerSteps(current, next);
          current = next;
          made.plans.push(next);
          return Promise.resolve(steps);
        },
        setClusterTracked: () => undefined,
        stop: () => Promise.resolve(),
      } as unknown as NodeEngine);
    },
    startLoadBalancer: () => {
      lbStarts++;
      return opts.failLoadBalancer && lbStarts < 3
        ? Promise.reject(new Error("nft: busy"))
        : Promise.resolve({ stop: () => undefined });
    },
  });
  return {
    agent,
    engines,
    setRouters: (r: RouterObject[]) => (routers = r),
    lbStarts: () => lbStarts,
  };
}

const routersOf = (plan: NodePlan | undefined) => [...new Set(plan?.instances.map((i) => i.router))];

describe("cluster agent", () => {
  it("runs every router of the node in one engine, given the node's whole plan on each change", async () => {
    const f = fixture();
    await f.agent.sync();
    expect(f.engines).toHaveLength(1);
    f.setRouters([router("web", 1, "198.18.0.50"), router("db", 2, "198.18.0.51")]);
    await f.agent.sync();
    f.setRouters([router("db", 2, "198.18.0.51")]);
    await f.agent.sync();
    expect(f.engines).toHaveLength(1);
    expect(f.engines[0]!.plans.map(routersOf)).toEqual([["web"], ["web", "db"], ["db"]]);
    expect(f.agent.routers()).toEqual(["db"]);
    await f.agent.stop();
  });

  it("a pass that fails is tried again with backoff, without a new event", async () => {
    const f = fixture({ failHost: 2 });
    await f.agent.sync(); // the first pass fails
    expect(f.engines).toHaveLength(0);
    await waitUntil(() => f.engines.length === 1, 5000, "the pass retried until it went through");
    expect(routersOf(f.engines[0]!.plans[0])).toEqual(["web"]);
    await f.agent.stop();
  });

  it("a load balancer that cannot start is retried on its own; the routers go on meanwhile", async () => {
    const f = fixture({ failLoadBalancer: true });
    await f.agent.sync();
    expect(f.engines).toHaveLength(1);
    await waitUntil(() => f.lbStarts() >= 1, 5000, "the first start of the dataplane");
    // A router added while the dataplane is failing still reaches the engine.
    f.setRouters([router("web", 1, "198.18.0.50"), router("db", 2, "198.18.0.51")]);
    await f.agent.sync();
    expect(routersOf(f.engines[0]!.plans.at(-1))).toEqual(["web", "db"]);
    await waitUntil(() => f.lbStarts() === 3, 10_000, "the dataplane retried until it started");
    await f.agent.stop();
  });
});
