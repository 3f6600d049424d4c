// Cluster mode end to end in the lab: the in-process API server (with vipkeeper's CRDs), the
// controller as a process (leader-elected), and real agents in the lab's node namespaces reaching
// the API server through a UNIX socket (no packet leaves the namespaces). The same scenarios run on
// a real cluster in test/e2e when KUBECONFIG is set.
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Lab } from "../../src/lab/lab.ts";
import { enginePids, readStatus, waitUntil } from "../support/agents.ts";
import { parseEthernet, readPcap } from "../support/pcap.ts";
import type { ApiServer } from "../kubeapi/server.ts";
import type { ClusterLab } from "../support/cluster-lab.ts";
import { inProcessCluster } from "../support/cluster-lab.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/cluster.test.ts skipped: needs root for network namespaces");

const VIP = "198.18.0.50";
const VR = { group: "vipkeeper.io", version: "v1alpha1", plural: "virtualrouters" };

type Router = {
  metadata: { finalizers?: string[] };
  status?: {
    vrid?: number;
    master?: string;
    nodes?: { name: string; state: string; lastAdvertHeard?: { from: string } }[];
    conditions?: { type: string; status: string; reason: string }[];
  };
};

describe.skipIf(!ROOT)("cluster mode in the lab", () => {
  let c: ClusterLab<ApiServer>;
  let lab: Lab;
  let custom: CustomObjectsApi;
  const get = async () => (await custom.getClusterCustomObject({ ...VR, name: "web" })) as Router;
  const dump = () => c.dump();

  const statusSocket = (node: string) => join(tmpdir(), `vkcl-${process.pid}-${node}.sock`);
  /** One node has held the VIP for 1.5 s on end and the status names it: returns it. */
  const settled = () => c.settledMaster(VIP, async () => (await get()).status?.master, 20_000);

  beforeAll(async () => {
    c = await inProcessCluster("vkcl", 2);
    lab = c.lab;
    custom = c.api.kubeConfig().makeApiClient(CustomObjectsApi);
    c.startController(["--metrics", "127.0.0.1:19651"]);
    for (const n of lab.nodes) c.startAgent(n.name, ["--status-socket", statusSocket(n.name)]);
    await c.createNamespace("shop");
  }, 60_000);

  afterAll(() => c?.destroy());

  it("applying a VirtualRouter makes a node hold the VIP, and the status says which", async () => {
    await custom.createClusterCustomObject({
      ...VR,
      body: {
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "VirtualRouter",
        metadata: { name: "web" },
        spec: {
          addresses: [{ address: `${VIP}/24` }],
          advertInterval: "100ms",
          garp: { delay: "1s", repeat: 1 },
          virtualServers: {
            from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "shop" } } }],
          },
        },
      },
    });
    const applied = performance.now();
    await waitUntil(() => lab.holders(VIP).length === 1, 20_000, `one node to hold ${VIP}\n${dump()}`);
    const elected = performance.now() - applied;
    await waitUntil(async () => !!(await get()).status?.master, 10_000, `status.master to be set\n${dump()}`);
    const toStatus = performance.now() - applied;
    console.log(
      `apply to VIP bound: ${Math.round(elected)} ms; to status.master: ${Math.round(toStatus)} ms`,
    );
    // The agents may start a little apart, and the higher priority preempts: wait until it settles.
    const holder = await settled();
    // The agent's status socket, as in file mode, tells the same.
    const local = await readStatus(statusSocket(holder));
    expect(local.node).toBe(holder);
    expect(local.instances.find((i) => i.key === "web/ipv4")?.state).toBe("master");
    // The backup reports the master it hears (a status write on change, not per advert).
    await waitUntil(
      async () =>
        (await get()).status?.nodes?.find((n) => n.name !== holder)?.lastAdvertHeard?.from ===
        lab.node(holder).ipv4,
      10_000,
      "the backup to report the master it hears",
    );
    const r = await get();
    expect(r.metadata.finalizers).toContain("vipkeeper.io/release");
    expect(r.status?.vrid).toBe(1);
    // Ready comes with the same write as master, but the two agents' entries land one by one.
    let seen: unknown;
    await waitUntil(
      async () => {
        seen = (await get()).status?.conditions;
        return (
          (seen as { type: string; status: string }[] | undefined)?.some(
            (c) => c.type === "Ready" && c.status === "True",
          ) ?? false
        );
      },
      10_000,
      "Ready",
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(seen)}`);
    });
    expect(r.status?.nodes?.map((n) => `${n.name}=${n.state}`).sort()).toEqual(
      lab.nodes.map((n) => `${n.name}=${n.name === holder ? "Master" : "Backup"}`).sort(),
    );
    const backup = r.status!.nodes!.find((n) => n.name !== holder)!;
    expect(backup.lastAdvertHeard?.from).toBe(lab.node(holder).ipv4);
    // Events: the agent's per-node transitions and the controller's mastership change.
    const core = c.api.kubeConfig().makeApiClient(CoreV1Api);
    await waitUntil(
      async () => {
        const evs = (await core.listNamespacedEvent({ namespace: "default" })).items.filter(
          (e) => e.involvedObject.name === "web",
        );
        return (
          evs.some(
            (e) =>
              e.source?.component === "vipkeeper-agent" &&
              e.reason === "Master" &&
              e.message?.startsWith(`${holder}:`),
          ) && evs.some((e) => e.source?.component === "vipkeeper-controller" && e.reason === "MasterChanged")
        );
      },
      10_000,
      "Events from the agent and the controller",
    );
    // The controller's metrics.
    const text = await (await fetch("http://127.0.0.1:19651/metrics")).text();
    expect(text).toMatch(/vipkeeper_controller_reconciles_total\{kind="router",result="ok"\} [1-9]/);
    expect(text).toMatch(/vipkeeper_controller_reconciles_total\{kind="router",result="error"\} \d/);
    expect(text).toMatch(/vipkeeper_controller_leader 1/);
    expect(text).toContain("vipkeeper_controller_reconcile_duration_seconds_bucket");
  }, 60_000);

  it("one engine per node runs every router: adding, changing and removing another leaves web's adverts undisturbed", async () => {
    const holder = await settled();
    const webVrid = (await get()).status!.vrid!;
    const engines = () => lab.nodes.map((n) => enginePids(lab, n.name));
    const before = engines();
    expect(before.map((p) => p.length)).toEqual(lab.nodes.map(() => 1));
    // What the backup hears of web while db comes, changes and goes.
    const backup = lab.nodes.find((n) => n.name !== holder)!;
    const pcap = join(tmpdir(), `vkcl-${process.pid}.pcap`);
    const capture = spawn(
      "ip",
      ["netns", "exec", backup.ns, "tcpdump", "-U", "-n", "-i", "eth0", "-w", pcap, "ip proto 112"],
      { stdio: "ignore" },
    );
    await new Promise((r) => setTimeout(r, 1000));
    const DB = "198.18.0.51";
    const db = (advertInterval: string) => ({
      apiVersion: "vipkeeper.io/v1alpha1",
      kind: "VirtualRouter",
      metadata: { name: "db" },
      spec: { addresses: [{ address: `${DB}/24` }], advertInterval },
    });
    await custom.createClusterCustomObject({ ...VR, body: db("100ms") });
    await waitUntil(() => lab.holders(DB).length === 1, 20_000, `one node to hold ${DB}\n${dump()}`);
    expect(engines()).toEqual(before); // db runs in the engines already there
    // A new advert interval: db restarts in the running engines (it resigns and is elected again).
    await custom.patchClusterCustomObject(
      { ...VR, name: "db", body: { spec: { advertInterval: "200ms" } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await waitUntil(
      () =>
        c.logs.filter((l) => l.includes("router restarted with a changed spec")).length === lab.nodes.length,
      20_000,
      "db restarted",
    );
    await new Promise((r) => setTimeout(r, 1500));
    await custom.deleteClusterCustomObject({ ...VR, name: "db" });
    await waitUntil(() => lab.holders(DB).length === 0, 20_000, `${DB} released everywhere`);
    await new Promise((r) => setTimeout(r, 500));
    capture.kill("SIGTERM");
    await new Promise((r) => capture.once("exit", r));
    const web = readPcap(pcap)
      .map((r) => ({ at: r.at, ip: parseEthernet(r.data).payload }))
      .map(({ at, ip }) => ({
        at,
        source: [...ip.subarray(12, 16)].join("."),
        vrrp: ip.subarray((ip[0]! & 0xf) * 4),
      }))
      .filter((p) => p.vrrp[1] === webVrid);
    rmSync(pcap, { force: true });
    // Only web's master spoke for it, at its priority, every 100 ms: no gap, no resignation.
    expect(web.length).toBeGreaterThan(20);
    expect(new Set(web.map((p) => p.source))).toEqual(new Set([lab.node(holder).ipv4]));
    expect(web.every((p) => p.vrrp[2]! > 0)).toBe(true);
    const gaps = web.slice(1).map((p, i) => (p.at - web[i]!.at) * 1000);
    console.log(
      `web adverts while db came, changed and went: ${web.length}, largest gap ${Math.round(Math.max(...gaps))} ms`,
    );
    expect(Math.max(...gaps)).toBeLessThan(250);
    expect(lab.holders(VIP)).toEqual([holder]);
    // Still the one engine each node started with.
    expect(engines()).toEqual(before);
  }, 60_000);

  it("killing the master's agent moves the VIP, and the status follows", async () => {
    const before = (await get()).status!.master!;
    const other = lab.nodes.find((n) => n.name !== before)!.name;
    // The whole agent dies (supervisor and engine), as when its pod is killed: the dead man's switch
    // (on by default in cluster mode too) has the dead node's kernel drop the VIP within 3 s.
    c.killAgent(before);
    await waitUntil(() => !lab.holds(before, VIP), 3000, `${before}'s kernel to drop ${VIP}\n${dump()}`);
    await waitUntil(() => lab.holders(VIP).includes(other), 10_000, `${other} to take ${VIP}\n${dump()}`);
    await waitUntil(
      async () => (await get()).status?.master === other,
      15_000,
      `status.master to follow\n${dump()}`,
    );
    // The kubelet would restart it: the restarted agent clears the stale address and rejoins.
    c.startAgent(before);
    await waitUntil(() => lab.holders(VIP).length === 1, 15_000, `a single holder again\n${dump()}`);
    await waitUntil(
      async () =>
        (await get()).status?.nodes?.find((n) => n.name === before)?.state !== "Master" ||
        lab.holders(VIP)[0] === before,
      15_000,
      "the restarted agent to report",
    );
  }, 60_000);

  it("keeps the VIP while the API server is away, and catches up when it returns", async () => {
    // Settled after the restart of the previous test (the restarted node may preempt).
    const holder = await settled();
    c.api.setUnavailable(true);
    try {
      // Longer than the watches' restart backoff and a few agent status retries.
      await new Promise((r) => setTimeout(r, 4000));
      expect(lab.holders(VIP)).toEqual([holder]);
    } finally {
      c.api.setUnavailable(false);
    }
    // A change made after the outage reaches the agents: a second address on the router.
    const r = (await custom.getClusterCustomObject({ ...VR, name: "web" })) as {
      spec: { addresses: { address: string }[] };
    };
    await custom.patchClusterCustomObject(
      {
        ...VR,
        name: "web",
        body: { spec: { addresses: [...r.spec.addresses, { address: "198.18.0.52/24" }] } },
      },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    await waitUntil(
      () => lab.holders("198.18.0.52").join() === holder,
      40_000,
      `the new address on ${holder}\n${dump()}`,
    );
    expect(lab.holders(VIP)).toEqual([holder]); // in place: no new election
  }, 90_000);

  it("an agent that starts while the API server is away runs its saved plan: it takes over when the master dies", async () => {
    const holder = await settled();
    const other = lab.nodes.find((n) => n.name !== holder)!.name;
    const from = c.logs.length;
    c.api.setUnavailable(true);
    try {
      // The backup's node reboots during the outage: its agent starts with no API server.
      c.killAgent(other);
      c.startAgent(other);
      await waitUntil(
        () =>
          c.logs
            .slice(from)
            .some((l) => l.startsWith(`${other}: `) && l.includes("running the routers of the saved plan")),
        20_000,
        `${other} to run its saved plan\n${dump()}`,
      );
      // Then the master dies: only VRRP from the saved plan can move the VIP now.
      c.killAgent(holder);
      await waitUntil(() => lab.holders(VIP).join() === other, 10_000, `${other} to take ${VIP}\n${dump()}`);
    } finally {
      c.api.setUnavailable(false);
    }
    await waitUntil(
      () =>
        c.logs
          .slice(from)
          .some((l) => l.startsWith(`${other}: `) && l.includes("back to the live cluster view")),
      30_000,
      `${other} back on the live view\n${dump()}`,
    );
    await waitUntil(
      async () => (await get()).status?.master === other,
      20_000,
      `status.master ${other}\n${dump()}`,
    );
    c.startAgent(holder);
    await waitUntil(() => lab.holders(VIP).length === 1, 15_000, `a single holder again\n${dump()}`);
  }, 120_000);

  it("tracks pods on the node: only a node with a ready pod holds the VIP, and it follows the pod", async () => {
    const core = c.api.kubeConfig().makeApiClient(CoreV1Api);
    const pod = (node: string) => ({
      metadata: { name: `ingress-${node}`, namespace: "ing", labels: { app: "ingress" } },
      spec: { nodeName: node, containers: [{ name: "c", image: "x" }] },
      status: { conditions: [{ type: "Ready", status: "True" }] },
    });
    await core.createNamespacedPod({ namespace: "ing", body: pod("n2") });
    await custom.createClusterCustomObject({
      ...VR,
      body: {
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "VirtualRouter",
        metadata: { name: "ingress" },
        spec: {
          addresses: [{ address: "198.18.0.51/24" }],
          advertInterval: "100ms",
          track: { pods: [{ namespace: "ing", matchLabels: { app: "ingress" }, weight: 0 }] },
        },
      },
    });
    await waitUntil(
      () => lab.holders("198.18.0.51").join() === "n2",
      15_000,
      `n2 (with the pod) to hold it\n${dump()}`,
    );
    await core.createNamespacedPod({ namespace: "ing", body: pod("n1") });
    await core.deleteNamespacedPod({ namespace: "ing", name: "ingress-n2" });
    await waitUntil(
      () => lab.holders("198.18.0.51").join() === "n1",
      15_000,
      `n1 to take it with the pod\n${dump()}`,
    );
    const entry = (
      (await custom.getClusterCustomObject({ ...VR, name: "ingress" })) as Router
    ).status?.nodes?.find((n) => n.name === "n2") as { checks?: { failing: string[] } } | undefined;
    await waitUntil(
      async () =>
        (
          (
            (await custom.getClusterCustomObject({ ...VR, name: "ingress" })) as {
              status?: { nodes?: { name: string; checks?: { failing: string[] } }[] };
            }
          ).status?.nodes?.find((n) => n.name === "n2")?.checks?.failing ?? []
        ).includes("pods/ing/app=ingress"),
      10_000,
      `n2's entry to name the failing check (was ${JSON.stringify(entry)})`,
    );
    await custom.deleteClusterCustomObject({ ...VR, name: "ingress" });
  }, 60_000);

  it("a sync group moves together: one member's tracked pods fail on the master, and both routers move", async () => {
    const core = c.api.kubeConfig().makeApiClient(CoreV1Api);
    const pod = (node: string) => ({
      metadata: { name: `pair-${node}`, namespace: "ing", labels: { app: "pair" } },
      spec: { nodeName: node, containers: [{ name: "c", image: "x" }] },
      status: { conditions: [{ type: "Ready", status: "True" }] },
    });
    for (const n of lab.nodes) await core.createNamespacedPod({ namespace: "ing", body: pod(n.name) });
    const [A, B] = ["198.18.0.56", "198.18.0.57"]; // addresses no other case uses
    const member = (name: string, address: string, track: boolean) => ({
      apiVersion: "vipkeeper.io/v1alpha1",
      kind: "VirtualRouter",
      metadata: { name },
      spec: {
        addresses: [{ address: `${address}/24` }],
        advertInterval: "100ms",
        syncGroup: "pair",
        ...(track
          ? { track: { pods: [{ namespace: "ing", matchLabels: { app: "pair" }, weight: 0 }] } }
          : {}),
      },
    });
    await custom.createClusterCustomObject({ ...VR, body: member("pair-a", A, true) });
    await custom.createClusterCustomObject({ ...VR, body: member("pair-b", B, false) });
    const together = () => lab.holders(A).length === 1 && lab.holders(A).join() === lab.holders(B).join();
    await waitUntil(together, 20_000, `one node to hold both members' addresses\n${dump()}`);
    const master = lab.holders(A)[0]!;
    const preferred = async (name: string) =>
      ((await custom.getClusterCustomObject({ ...VR, name })) as { status?: { preferredMaster?: string } })
        .status?.preferredMaster;
    expect(await preferred("pair-a")).toBe(await preferred("pair-b"));
    // pair-a's pod on the master is gone: pair-a goes to Fault there, and takes pair-b out with it,
    // though nothing is wrong with pair-b itself.
    await core.deleteNamespacedPod({ namespace: "ing", name: `pair-${master}` });
    const other = lab.nodes.find((n) => n.name !== master)!.name;
    await waitUntil(
      () => lab.holders(A).join() === other && lab.holders(B).join() === other,
      15_000,
      `both addresses to move to ${other}\n${dump()}`,
    );
    for (const name of ["pair-a", "pair-b"]) await custom.deleteClusterCustomObject({ ...VR, name });
    await waitUntil(() => lab.holders(A).length + lab.holders(B).length === 0, 20_000, "both released");
  }, 60_000);

  it("programs the VirtualServers of the router on every node it runs on, and removes them", async () => {
    const vs = { group: "vipkeeper.io", version: "v1alpha1", plural: "virtualservers", namespace: "shop" };
    await custom.createNamespacedCustomObject({
      ...vs,
      body: {
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "VirtualServer",
        metadata: { name: "web-http", namespace: "shop" },
        spec: {
          address: VIP,
          port: 8080,
          routerRef: "web",
          scheduler: "rr",
          realServers: [
            { address: lab.client.ipv4, port: 9090 },
            { address: lab.client.ipv4, port: 9091 },
          ],
        },
      },
    });
    const table = (node: string) => {
      try {
        return lab.exec(node, ["nft", "list", "table", "inet", "vipkeeper_lb"]);
      } catch {
        return "";
      }
    };
    for (const n of lab.nodes)
      await waitUntil(
        () => /198\.18\.0\.50 \. tcp \. 8080|198\.18\.0\.50 \. 6 \. 8080/.test(table(n.name)),
        15_000,
        `${n.name}'s table to hold the service\n${table(n.name)}\n${dump()}`,
      );
    expect(table(lab.nodes[0]!.name)).toContain(`${lab.client.ipv4} . 9091`);
    await custom.deleteNamespacedCustomObject({ ...vs, name: "web-http" });
    for (const n of lab.nodes)
      await waitUntil(() => !table(n.name).includes("8080"), 15_000, `${n.name}'s service to go`);
  }, 60_000);

  it("deleting the router releases the VIP everywhere before the object goes", async () => {
    await custom.deleteClusterCustomObject({ ...VR, name: "web" });
    await waitUntil(
      async () => {
        try {
          await get();
          return false;
        } catch {
          return true;
        }
      },
      20_000,
      `the router to be gone\n${dump()}`,
    );
    expect(lab.holders(VIP)).toEqual([]);
  }, 60_000);
});
