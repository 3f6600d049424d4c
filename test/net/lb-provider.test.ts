// The LoadBalancer provider end to end in the lab: an IPPool and a Service of type LoadBalancer in
// the in-process API server; the controller gives the Service an address and a generated
// VirtualRouter; the agents keep the address on one node; the lab's client reaches it, through a
// node failure; deleting the Service releases it. The node's Service proxy (kube-proxy) is played by
// an HTTP server listening on every address of each node.
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api, type V1Service } from "@kubernetes/client-node";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { waitUntil } from "../support/agents.ts";
import type { ClusterLab } from "../support/cluster-lab.ts";
import { inProcessCluster } from "../support/cluster-lab.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/lb-provider.test.ts skipped: needs root for network namespaces");

const BACKEND = join(import.meta.dirname, "../../src/lab/http-backend.ts");
const GROUP = { group: "vipkeeper.io", version: "v1alpha1" };

describe.skipIf(!ROOT)("LoadBalancer Services in the lab", () => {
  let c: ClusterLab;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  const service = async () => core.readNamespacedService({ namespace: "shop", name: "web" });
  const ingressIp = async () => (await service()).status?.loadBalancer?.ingress?.[0]?.ip;
  /** The answering node's name, or "" when nothing answers. */
  const curl = (ip: string) => {
    try {
      return c.lab.exec("client", ["curl", "-s", "--max-time", "1", `http://${ip}:8080/`]).trim();
    } catch {
      return "";
    }
  };

  beforeAll(async () => {
    c = await inProcessCluster("vklb", 2);
    core = c.api.kubeConfig().makeApiClient(CoreV1Api);
    custom = c.api.kubeConfig().makeApiClient(CustomObjectsApi);
    for (const n of c.lab.nodes) {
      const backend = c.lab.spawn(n.name, [process.execPath, BACKEND, "8080", n.name]);
      c.collect(`${n.name}-http`, backend);
    }
    c.startController();
    for (const n of c.lab.nodes) c.startAgent(n.name);
    await custom.createClusterCustomObject({
      ...GROUP,
      plural: "ippools",
      body: {
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "IPPool",
        metadata: { name: "edge" },
        spec: { addresses: ["198.18.0.200-198.18.0.210"], announce: { routers: 2, advertInterval: "100ms" } },
      },
    });
  }, 60_000);
  afterAll(() => c?.destroy());

  it("gives a Service an address from the pool, and the address answers from the client", async () => {
    const created = performance.now();
    const body: V1Service = {
      metadata: { name: "web", namespace: "shop" },
      spec: { type: "LoadBalancer", loadBalancerClass: "vipkeeper.io/vrrp", ports: [{ port: 8080 }] },
    };
    await core.createNamespacedService({ namespace: "shop", body });
    await waitUntil(async () => (await ingressIp()) === "198.18.0.200", 15_000, `an address\n${c.dump()}`);
    const published = performance.now() - created;
    expect((await service()).status?.loadBalancer?.ingress).toEqual([{ ip: "198.18.0.200", ipMode: "VIP" }]);
    await waitUntil(
      () => c.lab.holders("198.18.0.200").length === 1,
      15_000,
      `a node to hold it\n${c.dump()}`,
    );
    await waitUntil(() => /^n\d$/.test(curl("198.18.0.200")), 5000, "an answer from the client");
    console.log(
      `Service created to address published: ${Math.round(published)} ms; to answering: ${Math.round(performance.now() - created)} ms`,
    );
    const routers = (await custom.listClusterCustomObject({ ...GROUP, plural: "virtualrouters" })) as {
      items: {
        metadata: { name: string; labels: Record<string, string> };
        spec: { addresses: { address: string }[] };
      }[];
    };
    const mine = routers.items.filter((r) => r.spec.addresses.some((a) => a.address === "198.18.0.200"));
    expect(mine.map((r) => r.metadata.labels["app.kubernetes.io/managed-by"])).toEqual([
      "vipkeeper-lb-provider",
    ]);
  }, 60_000);

  it("keeps answering through the failure of the node that holds the address", async () => {
    // The controller spreads masters once it has seen the router: the first master may hand over
    // (a moment with no holder, seen once in CI right after the test above). Wait for one.
    await waitUntil(() => c.lab.holders("198.18.0.200").length === 1, 15_000, `one holder\n${c.dump()}`);
    const holder = c.lab.holders("198.18.0.200")[0]!;
    const other = c.lab.nodes.find((n) => n.name !== holder)!.name;
    c.lab.killAll(holder);
    c.lab.linkDown(holder);
    await waitUntil(() => curl("198.18.0.200") === other, 10_000, `${other} to answer\n${c.dump()}`);
    // The node comes back; its kubelet restarts the agent, which clears the address its dead
    // predecessor left bound and rejoins.
    c.lab.linkUp(holder);
    await c.startForwarder(holder);
    c.lab.spawn(holder, [process.execPath, BACKEND, "8080", holder]);
    c.startAgent(holder);
    await waitUntil(
      () => c.lab.holders("198.18.0.200").length === 1,
      15_000,
      `one holder again\n${c.dump()}`,
    );
    await waitUntil(() => /^n\d$/.test(curl("198.18.0.200")), 5000, "answers again");
  }, 60_000);

  it("externalTrafficPolicy Local: Services with endpoints on the same nodes share a router; only a node with a ready local endpoint holds an address, and mastership follows the endpoint", async () => {
    const discovery = c.api.kubeConfig().makeApiClient(DiscoveryV1Api);
    const names = ["local", "local2"];
    for (const name of names)
      await core.createNamespacedService({
        namespace: "shop",
        body: {
          metadata: { name, namespace: "shop" },
          spec: {
            type: "LoadBalancer",
            loadBalancerClass: "vipkeeper.io/vrrp",
            externalTrafficPolicy: "Local",
            ports: [{ port: 8080 }],
          },
        },
      });
    const slice = (service: string, node: string) => ({
      metadata: {
        name: `${service}-abc`,
        namespace: "shop",
        labels: { "kubernetes.io/service-name": service },
      },
      addressType: "IPv4",
      endpoints: [{ addresses: ["198.18.0.99"], nodeName: node, conditions: { ready: true } }],
    });
    for (const name of names)
      await discovery.createNamespacedEndpointSlice({ namespace: "shop", body: slice(name, "n2") });
    const ips: Record<string, string> = {};
    for (const name of names)
      await waitUntil(
        async () =>
          !!(ips[name] =
            (await core.readNamespacedService({ namespace: "shop", name })).status?.loadBalancer?.ingress?.[0]
              ?.ip ?? ""),
        15_000,
        `an address for ${name}\n${c.dump()}`,
      );
    type Router = { metadata: { name: string }; spec: { addresses: { address: string }[] } };
    const routerOf = async (ip: string) => {
      const rs = (await custom.listClusterCustomObject({ ...GROUP, plural: "virtualrouters" })) as {
        items: Router[];
      };
      return rs.items.find((r) => r.spec.addresses.some((a) => a.address === ip))?.metadata.name;
    };
    // One node set (n2): one router for both.
    await waitUntil(
      async () =>
        (await routerOf(ips.local!)) !== undefined &&
        (await routerOf(ips.local!)) === (await routerOf(ips.local2!)),
      15_000,
      `one router for both Local Services\n${c.dump()}`,
    );
    expect(await routerOf(ips.local!)).toMatch(/^lb-edge-local-[0-9a-z]{14}$/);
    for (const name of names)
      await waitUntil(
        () => c.lab.holders(ips[name]!).join() === "n2",
        15_000,
        `n2 (the endpoints' node) to hold ${ips[name]}\n${c.dump()}`,
      );
    // local's endpoint moves to n1: its address goes to n1's router and node; local2 stays on n2.
    await discovery.replaceNamespacedEndpointSlice({
      namespace: "shop",
      name: "local-abc",
      body: slice("local", "n1"),
    });
    await waitUntil(
      () => c.lab.holders(ips.local!).join() === "n1",
      15_000,
      `n1 to take ${ips.local} with the endpoint\n${c.dump()}`,
    );
    expect(await routerOf(ips.local!)).not.toBe(await routerOf(ips.local2!));
    // local2's router lost a tracked Service, a new plan for its engines (an election): n2 again.
    await waitUntil(
      () => c.lab.holders(ips.local2!).join() === "n2",
      15_000,
      `n2 to keep ${ips.local2}\n${c.dump()}`,
    );
    for (const name of names) await core.deleteNamespacedService({ namespace: "shop", name });
  }, 90_000);

  it("releases the address when the Service is deleted", async () => {
    await core.deleteNamespacedService({ namespace: "shop", name: "web" });
    await waitUntil(
      async () => {
        const rs = (await custom.listClusterCustomObject({ ...GROUP, plural: "virtualrouters" })) as {
          items: unknown[];
        };
        return rs.items.length === 0;
      },
      15_000,
      `the generated router to go\n${c.dump()}`,
    );
    await waitUntil(() => c.lab.holders("198.18.0.200").length === 0, 10_000, "no node to hold the address");
  }, 60_000);
});
