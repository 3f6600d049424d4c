// The controller as a process against the in-process API server (no network namespaces, no
// agents): externalTrafficPolicy: Local Services share the router of their endpoints' node set,
// follow their EndpointSlices to another, an emptied router is deleted, and the IPPool's status
// reports the VRIDs its routers use.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, CustomObjectsApi, DiscoveryV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crds } from "../../src/api/crds.ts";
import { tiedToParent } from "../../src/lab/lab.ts";
import { localRouterName } from "../../src/lbprovider/services.ts";
import { waitUntil } from "../support/agents.ts";
import { startApiServer, type ApiServer } from "../kubeapi/server.ts";

const GROUP = { group: "vipkeeper.io", version: "v1alpha1" };
type Router = {
  metadata: { name: string; deletionTimestamp?: string };
  spec: { addresses: { address: string }[]; track?: { endpoints?: { service: string }[] } };
  status?: { vrid?: number };
};

describe("externalTrafficPolicy Local Services through the controller", () => {
  let api: ApiServer;
  let controller: ChildProcess;
  let dir: string;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let discovery: DiscoveryV1Api;
  const routers = async () =>
    (
      (await custom.listClusterCustomObject({ ...GROUP, plural: "virtualrouters" })) as { items: Router[] }
    ).items.filter((r) => !r.metadata.deletionTimestamp);
  const slice = (service: string, node: string) => ({
    metadata: {
      name: `${service}-abc`,
      namespace: "shop",
      labels: { "kubernetes.io/service-name": service },
    },
    addressType: "IPv4",
    endpoints: [{ addresses: ["10.0.0.1"], nodeName: node, conditions: { ready: true } }],
  });
  const tracks = (r: Router | undefined) => r?.spec.track?.endpoints?.map((e) => e.service).join();

  beforeAll(async () => {
    api = await startApiServer({ crds: crds() });
    const kc = api.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    discovery = kc.makeApiClient(DiscoveryV1Api);
    for (const [i, name] of ["n1", "n2"].entries())
      await core.createNode({
        body: {
          metadata: { name },
          status: { addresses: [{ type: "InternalIP", address: `198.18.0.${i + 1}` }] },
        },
      });
    dir = mkdtempSync(join(tmpdir(), "vk-lb-local-"));
    writeFileSync(join(dir, "kubeconfig"), api.kubeConfigYaml());
    const [cmd, ...args] = tiedToParent([
      process.execPath,
      join(import.meta.dirname, "../../bin/vipkeeper.js"),
      "controller",
      "--kubeconfig",
      join(dir, "kubeconfig"),
      "--no-agents",
      "--no-leader-elect",
    ]);
    controller = spawn(cmd!, args, {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, VIPKEEPER_FROM_SOURCE: "1", VIPKEEPER_LOG_LEVEL: "warn" },
    });
    await custom.createClusterCustomObject({
      ...GROUP,
      plural: "ippools",
      body: {
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "IPPool",
        metadata: { name: "edge" },
        spec: { addresses: ["198.18.0.200-198.18.0.210"], announce: { routers: 1 } },
      },
    });
  }, 30_000);
  afterAll(async () => {
    controller?.kill("SIGTERM");
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("shares, moves and deletes routers by node set, and counts their VRIDs in the pool's status", async () => {
    for (const name of ["a", "b"]) {
      await core.createNamespacedService({
        namespace: "shop",
        body: {
          metadata: { name, namespace: "shop" },
          spec: {
            type: "LoadBalancer",
            loadBalancerClass: "vipkeeper.io/vrrp",
            externalTrafficPolicy: "Local",
            ports: [{ port: 80 }],
          },
        },
      });
      await discovery.createNamespacedEndpointSlice({ namespace: "shop", body: slice(name, "n1") });
    }
    const n1 = localRouterName("edge", ["n1"]);
    const n2 = localRouterName("edge", ["n2"]);
    await waitUntil(
      async () => {
        const rs = await routers();
        return (
          rs.length === 1 &&
          rs[0]!.metadata.name === n1 &&
          tracks(rs[0]) === "a,b" &&
          rs[0]!.status?.vrid === 1
        );
      },
      15_000,
      "one router, with a VRID, for both Services on n1",
    );
    const pool = async () =>
      (await custom.getClusterCustomObject({ ...GROUP, plural: "ippools", name: "edge" })) as {
        status?: { vrids?: unknown[]; conditions?: { type: string; status: string }[] };
      };
    await waitUntil(
      async () =>
        JSON.stringify((await pool()).status?.vrids) ===
        JSON.stringify([{ segment: "198.18.0.0/24", used: 1, free: 254, routers: 1, waiting: 0 }]),
      10_000,
      "the pool's VRIDs",
    );
    expect((await pool()).status?.conditions?.find((c) => c.type === "VRIDsExhausted")?.status).toBe("False");

    // b's endpoint moves to n2: a router for n2 (a VRID of its own), a stays on n1's.
    await discovery.replaceNamespacedEndpointSlice({
      namespace: "shop",
      name: "b-abc",
      body: slice("b", "n2"),
    });
    await waitUntil(
      async () => {
        const rs = await routers();
        const by = new Map(rs.map((r) => [r.metadata.name, r]));
        return (
          rs.length === 2 &&
          tracks(by.get(n1)) === "a" &&
          tracks(by.get(n2)) === "b" &&
          by.get(n2)?.status?.vrid === 2
        );
      },
      15_000,
      "b on n2's router, a alone on n1's",
    );
    // a follows: n1's router, left empty, goes.
    await discovery.replaceNamespacedEndpointSlice({
      namespace: "shop",
      name: "a-abc",
      body: slice("a", "n2"),
    });
    await waitUntil(
      async () => {
        const rs = await routers();
        return rs.length === 1 && rs[0]!.metadata.name === n2 && tracks(rs[0]) === "a,b";
      },
      15_000,
      "both on n2's router, n1's deleted",
    );
    await waitUntil(
      async () =>
        JSON.stringify((await pool()).status?.vrids) ===
        JSON.stringify([{ segment: "198.18.0.0/24", used: 1, free: 254, routers: 1, waiting: 0 }]),
      10_000,
      "the pool's VRIDs after the move",
    );
    // The addresses changed router without ever being on two at once (the newer router refused).
    const events = await core.listEventForAllNamespaces();
    expect(events.items.filter((e) => e.reason === "AddressConflict").map((e) => e.message)).toEqual([]);
    expect(events.items.some((e) => e.reason === "AddressAssigned")).toBe(true);
  }, 60_000);
});
