// VirtualServer status in cluster mode, in the lab: the agent that is MASTER of the VirtualServer's
// router writes it from its own health checks (a backup's checks do not show), real servers that
// die show up unhealthy within moments of the master's check failing, Ready goes False with
// QuorumLost when none is left, and after a failover the new master goes on writing. The same
// master, and only it, records a Kubernetes Event on the VirtualServer per real server up/down.
import { CoreV1Api, CustomObjectsApi, type CoreV1Event } from "@kubernetes/client-node";
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VirtualServerStatus } from "../../src/cluster-mode/vs-status.ts";
import type { Lab } from "../../src/lab/lab.ts";
import { waitUntil } from "../support/agents.ts";
import type { ClusterLab } from "../support/cluster-lab.ts";
import { inProcessCluster } from "../support/cluster-lab.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/vs-status.test.ts skipped: needs root for network namespaces");

const BACKEND = join(import.meta.dirname, "../../src/lab/http-backend.ts");
const VIP = "198.18.0.60";
const VR = { group: "vipkeeper.io", version: "v1alpha1", plural: "virtualrouters" };
const VS = { group: "vipkeeper.io", version: "v1alpha1", plural: "virtualservers", namespace: "shop" };
const PORTS = [9001, 9002];

type Stored = {
  metadata: { generation?: number; managedFields?: { manager: string; subresource?: string }[] };
  status?: VirtualServerStatus & { master?: string };
};

describe.skipIf(!ROOT)("VirtualServer status in cluster mode (lab)", () => {
  let c: ClusterLab;
  let lab: Lab;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  const backends = new Map<number, ChildProcess>();
  let master = "";
  const dump = () => c.dump();
  const router = async () => (await custom.getClusterCustomObject({ ...VR, name: "web" })) as Stored;
  const vs = async () => (await custom.getNamespacedCustomObject({ ...VS, name: "web-http" })) as Stored;
  const status = async () => (await vs()).status;
  const server = (s: VirtualServerStatus | undefined, port: number) =>
    s?.realServers?.find((r) => r.port === port);
  const ready = (s: VirtualServerStatus | undefined) => s?.conditions?.find((x) => x.type === "Ready");
  /** The Events with this reason about one real server of web-http, from any node. */
  const serverEvents = async (reason: string, port: number): Promise<CoreV1Event[]> =>
    (await core.listNamespacedEvent({ namespace: "shop" })).items.filter(
      (e) =>
        e.involvedObject.name === "web-http" &&
        e.reason === reason &&
        e.message?.includes(`real server ${lab.client.ipv4}:${port} `),
    );
  const startBackend = async (port: number) => {
    const child = lab.spawn("client", [process.execPath, BACKEND, String(port), `rs${port}`]);
    c.collect(`rs${port}`, child);
    await new Promise<void>((resolve) => child.stdout?.once("data", () => resolve()));
    backends.set(port, child);
  };
  /** The node's agent logged its check of this port going down (or up) since log line `from`. */
  const sawDown = (node: string, port: number, from: number, state: "down" | "up" = "down") =>
    c.logs
      .slice(from)
      .some(
        (l) =>
          l.startsWith(`${node}: `) &&
          l.includes(`real server ${lab.client.ipv4}:${port} of shop/web-http is ${state}`),
      );

  beforeAll(async () => {
    c = await inProcessCluster("vkvs", 2);
    lab = c.lab;
    custom = c.api.kubeConfig().makeApiClient(CustomObjectsApi);
    core = c.api.kubeConfig().makeApiClient(CoreV1Api);
    for (const p of PORTS) await startBackend(p);
    await c.createNamespace("shop");
    c.startController();
    for (const n of lab.nodes) c.startAgent(n.name);
    await custom.createClusterCustomObject({
      ...VR,
      body: {
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "VirtualRouter",
        metadata: { name: "web" },
        spec: {
          addresses: [{ address: `${VIP}/24` }],
          advertInterval: "100ms",
          virtualServers: {
            from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "shop" } } }],
          },
        },
      },
    });
    await custom.createNamespacedCustomObject({
      ...VS,
      body: {
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "VirtualServer",
        metadata: { name: "web-http", namespace: "shop" },
        spec: {
          address: VIP,
          port: 8080,
          routerRef: "web",
          realServers: PORTS.map((port) => ({ address: lab.client.ipv4, port })),
          sorryServer: { address: lab.client.ipv4, port: 9009 },
          healthCheck: { httpGet: { path: "/" }, interval: "500ms", timeout: "300ms", retries: 0 },
        },
      },
    });
  }, 60_000);

  afterAll(() => c?.destroy());

  it("the master writes every real server's health, active, Ready and observedGeneration", async () => {
    // The agents may start a little apart, and the higher priority preempts: wait until it settles.
    master = await c.settledMaster(VIP, async () => (await router()).status?.master, 30_000);
    let seen: VirtualServerStatus | undefined;
    await waitUntil(
      async () => ready((seen = await status()))?.status === "True",
      15_000,
      `Ready True\n${dump()}`,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${JSON.stringify(seen)}`);
    });
    const s = await vs();
    expect(s.status?.active).toBe(2);
    expect(s.status?.observedGeneration).toBe(s.metadata.generation);
    expect(s.status?.realServers?.map((r) => `${r.address}:${r.port}=${r.healthy}`)).toEqual(
      PORTS.map((p) => `${lab.client.ipv4}:${p}=true`),
    );
    expect(s.status?.realServers?.every((r) => !Number.isNaN(Date.parse(r.since ?? "")))).toBe(true);
    expect(ready(s.status)?.reason).toBe("Serving");
    expect(ready(s.status)?.message).toContain("2 of 2");
    expect(s.status?.conditions?.find((x) => x.type === "Invalid")?.status).toBe("False");
    expect(s.metadata.managedFields?.find((m) => m.subresource === "status")?.manager).toBe(
      "vipkeeper-agent",
    );
  }, 60_000);

  it("a backup's view is not written: a server only the backup cannot reach stays healthy", async () => {
    const backup = lab.nodes.find((n) => n.name !== master)!.name;
    const from = c.logs.length;
    // Only the backup's checks of 9002 fail (its own firewall rejects them).
    lab.exec(
      backup,
      ["nft", "-f", "-"],
      `table inet vkvs_block {
  chain out { type filter hook output priority 0; ip daddr ${lab.client.ipv4} tcp dport 9002 reject with tcp reset; }
}\n`,
    );
    try {
      await waitUntil(() => sawDown(backup, 9002, from), 10_000, `the backup's check to fail\n${dump()}`);
      await new Promise((r) => setTimeout(r, 1500)); // many coalescing windows
      const s = await status();
      expect(server(s, 9002)?.healthy).toBe(true);
      expect(s?.active).toBe(2);
      // Nor does the backup record an Event of it.
      expect(await serverEvents("RealServerDown", 9002)).toEqual([]);
    } finally {
      lab.exec(backup, ["nft", "delete", "table", "inet", "vkvs_block"]);
    }
    // The backup sees it up again (the next case needs both nodes' checks to see it go down).
    await waitUntil(() => sawDown(backup, 9002, from, "up"), 10_000, `the backup's check to pass\n${dump()}`);
    expect(await serverEvents("RealServerUp", 9002)).toEqual([]);
  }, 30_000);

  it("a real server that dies shows healthy: false within moments of the master's check failing", async () => {
    const before = server(await status(), 9002)!.since!;
    const from = c.logs.length;
    backends.get(9002)!.kill("SIGKILL");
    let checkFailed = 0;
    let written = 0;
    await waitUntil(
      async () => {
        if (!checkFailed && sawDown(master, 9002, from)) checkFailed = performance.now();
        if (!written && server(await status(), 9002)?.healthy === false) written = performance.now();
        return checkFailed > 0 && written > 0;
      },
      15_000,
      `9002 down in the status\n${dump()}`,
    );
    console.log(`master's check failed -> status written: ${Math.round(written - checkFailed)} ms`);
    expect(written - checkFailed).toBeLessThan(5000);
    const s = await status();
    expect(s?.active).toBe(1);
    expect(Date.parse(server(s, 9002)!.since!)).toBeGreaterThan(Date.parse(before));
    expect(server(s, 9001)?.healthy).toBe(true);
    expect(ready(s)?.status).toBe("True");
    // One Event of it, on the VirtualServer, from the master; the backup's check failed too, and
    // it recorded nothing.
    await waitUntil(
      () => sawDown(lab.nodes.find((n) => n.name !== master)!.name, 9002, from),
      10_000,
      `the backup's check of 9002 to fail too\n${dump()}`,
    );
    await waitUntil(
      async () => (await serverEvents("RealServerDown", 9002)).length > 0,
      10_000,
      `a RealServerDown Event\n${dump()}`,
    );
    await new Promise((r) => setTimeout(r, 1000)); // time for a backup's Event to show, were there one
    const evs = await serverEvents("RealServerDown", 9002);
    expect(evs).toHaveLength(1);
    const uid = ((await vs()).metadata as { uid?: string }).uid;
    expect(uid).toBeTruthy();
    expect(evs[0]).toMatchObject({
      type: "Warning",
      count: 1,
      involvedObject: {
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "VirtualServer",
        namespace: "shop",
        name: "web-http",
        uid,
      },
      source: { component: "vipkeeper-agent", host: master },
    });
    expect(evs[0]!.message).toMatch(
      new RegExp(`^${master}: real server ${lab.client.ipv4}:9002 down \\(.+\\)$`),
    );
  }, 40_000);

  it("with every real server down, Ready is False with QuorumLost, naming the sorry server", async () => {
    backends.get(9001)!.kill("SIGKILL");
    await waitUntil(
      async () => ready(await status())?.reason === "QuorumLost",
      10_000,
      `QuorumLost\n${dump()}`,
    );
    const s = await status();
    expect(ready(s)).toMatchObject({
      status: "False",
      message: `healthy weight 0 is below quorum 1: the sorry server ${lab.client.ipv4}:9009 serves`,
    });
    expect(s?.active).toBe(0);
    expect(s?.realServers?.map((r) => r.healthy)).toEqual([false, false]);
  }, 30_000);

  it("after the master fails over, the new master keeps writing", async () => {
    const other = lab.nodes.find((n) => n.name !== master)!.name;
    c.killAgent(master);
    await waitUntil(() => lab.holders(VIP).includes(other), 10_000, `${other} to take ${VIP}\n${dump()}`);
    // The old master is dead: what changes now is written by the new one, from its own checks.
    await startBackend(9001);
    await waitUntil(
      async () => server(await status(), 9001)?.healthy === true,
      15_000,
      `the new master to write 9001 up\n${dump()}`,
    );
    const s = await status();
    expect(ready(s)).toMatchObject({ status: "True", reason: "Serving" });
    expect(s?.active).toBe(1);
    expect(server(s, 9002)?.healthy).toBe(false);
    // Its Event comes from the new master.
    await waitUntil(
      async () => (await serverEvents("RealServerUp", 9001)).length > 0,
      10_000,
      `a RealServerUp Event\n${dump()}`,
    );
    const up = await serverEvents("RealServerUp", 9001);
    expect(up.map((e) => [e.type, e.source?.host, e.message?.startsWith(`${other}: `)])).toEqual([
      ["Normal", other, true],
    ]);
  }, 40_000);

  it("an invalid VirtualServer gets Invalid True naming the field", async () => {
    await custom.createNamespacedCustomObject({
      ...VS,
      body: {
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "VirtualServer",
        metadata: { name: "mixed", namespace: "shop" },
        spec: {
          address: VIP,
          port: 8082,
          routerRef: "web",
          realServers: [{ address: "2001:db8::64", port: 80 }],
        },
      },
    });
    const get = async () =>
      ((await custom.getNamespacedCustomObject({ ...VS, name: "mixed" })) as Stored).status;
    await waitUntil(
      async () =>
        (await get())?.conditions?.some((x) => x.type === "Invalid" && x.status === "True") ?? false,
      10_000,
      `Invalid on shop/mixed\n${dump()}`,
    );
    const s = await get();
    expect(s?.conditions?.find((x) => x.type === "Invalid")?.message).toBe(
      "spec.realServers[0].address: IPv6, but the virtual address is IPv4",
    );
    expect(ready(s)).toMatchObject({ status: "False", reason: "Invalid" });
    await custom.deleteNamespacedCustomObject({ ...VS, name: "mixed" });
  }, 30_000);

  it("one the nftables backend cannot run: NotProgrammed, on it and on the service it kept out", async (ctx) => {
    if (
      !c.logs.some(
        (l) => l.includes('"msg":"virtual services programmed"') && l.includes('"backend":"nftables"'),
      )
    )
      ctx.skip("the agents chose IPVS here (the kernel has it), which runs TUN");
    await custom.createNamespacedCustomObject({
      ...VS,
      body: {
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "VirtualServer",
        metadata: { name: "tunnel", namespace: "shop" },
        spec: {
          address: VIP,
          port: 8081,
          routerRef: "web",
          forwarding: "TUN",
          realServers: [{ address: lab.client.ipv4, port: 9001 }],
        },
      },
    });
    const get = async (name: string) =>
      ((await custom.getNamespacedCustomObject({ ...VS, name })) as Stored).status;
    await waitUntil(
      async () =>
        ready(await get("tunnel"))?.reason === "NotProgrammed" &&
        ready(await get("web-http"))?.reason === "NotProgrammed",
      10_000,
      `NotProgrammed on both\n${dump()}`,
    );
    expect(ready(await get("tunnel"))?.message).toBe(
      "the load balancer cannot run it: VirtualServer tunnel: spec.forwarding: TUN needs the IPVS backend; the nftables backend does NAT and DR",
    );
    expect(ready(await get("web-http"))?.message).toContain("the node's load balancer did not start");
    // Gone again: the service is programmed anew and its checks learn health again.
    await custom.deleteNamespacedCustomObject({ ...VS, name: "tunnel" });
    await waitUntil(
      async () => ready(await get("web-http"))?.reason === "Serving",
      10_000,
      `web-http serving again\n${dump()}`,
    );
    await waitUntil(
      async () => server(await get("web-http"), 9002)?.healthy === false,
      10_000,
      "the dead server found again",
    );
  }, 40_000);
});
