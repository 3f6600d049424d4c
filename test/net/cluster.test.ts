// Cluster mode end to end in the lab: the in-process API server (with vipkeeper's CRDs), the
// controller as a process (leader-elected), and real agents in the lab's node namespaces reaching
// the API server through a UNIX socket (no packet leaves the namespaces). The same scenarios run on
// a real cluster in test/e2e when KUBECONFIG is set.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crds } from "../../src/api/crds.ts";
import { Lab } from "../../src/lab/lab.ts";
import { startApiServer, type ApiServer } from "../kubeapi/server.ts";
import { unixToTcp } from "../support/unix-forward.ts";
import { waitUntil } from "../support/agents.ts";
import type { Server } from "node:net";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/cluster.test.ts skipped: needs root for network namespaces");

const BIN = join(import.meta.dirname, "../../bin/vipkeeper.js");
const FORWARD = join(import.meta.dirname, "../support/unix-forward.ts");
const VIP = "198.18.0.50";
const VR = { group: "vipkeeper.io", version: "v1alpha1", plural: "virtualrouters" };
const NS = "vipkeeper";

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
  let lab: Lab;
  let api: ApiServer;
  let bridge: Server;
  let custom: CustomObjectsApi;
  let controller: ChildProcess;
  const agents = new Map<string, ChildProcess>();
  const logs: string[] = [];
  let dir: string;

  const collect = (name: string, child: ChildProcess) => {
    const push = (d: Buffer) =>
      logs.push(
        ...d
          .toString()
          .split("\n")
          .filter(Boolean)
          .map((l) => `${name}: ${l}`),
      );
    child.stdout?.on("data", push);
    child.stderr?.on("data", push);
  };

  const startAgent = (node: string) => {
    const child = lab.spawn(node, [
      process.execPath,
      BIN,
      "agent",
      "--cluster",
      "--node",
      node,
      "--namespace",
      NS,
      "--kubeconfig",
      join(dir, "agent.kubeconfig"),
    ]);
    collect(node, child);
    agents.set(node, child);
  };

  const get = async () => (await custom.getClusterCustomObject({ ...VR, name: "web" })) as Router;

  beforeAll(async () => {
    lab = Lab.create({ prefix: "vkcl", nodes: 2 });
    api = await startApiServer({ crds: crds() });
    custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
    dir = mkdtempSync(join(tmpdir(), "vk-cluster-"));
    const sock = join(dir, "api.sock");
    bridge = await unixToTcp(sock, api.port);
    writeFileSync(join(dir, "agent.kubeconfig"), api.kubeConfigYaml("http://127.0.0.1:16443"));
    writeFileSync(join(dir, "controller.kubeconfig"), api.kubeConfigYaml());
    const core = api.kubeConfig().makeApiClient(CoreV1Api);
    for (const n of lab.nodes)
      await core.createNode({
        body: {
          metadata: { name: n.name, labels: { "kubernetes.io/hostname": n.name } },
          status: { addresses: [{ type: "InternalIP", address: n.ipv4 }] },
        },
      });
    // Each node reaches the API server at 127.0.0.1:16443 inside its own namespace.
    for (const n of lab.nodes) {
      const fwd = lab.spawn(n.name, [process.execPath, FORWARD, "16443", sock]);
      collect(`${n.name}-fwd`, fwd);
      await new Promise<void>((resolve) => fwd.stdout?.once("data", () => resolve()));
    }
    controller = spawn(
      process.execPath,
      [
        BIN,
        "controller",
        "--kubeconfig",
        join(dir, "controller.kubeconfig"),
        "--namespace",
        NS,
        "--no-agents",
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, POD_NAME: "controller-0" } },
    );
    collect("controller", controller);
    for (const n of lab.nodes) startAgent(n.name);
  }, 60_000);

  afterAll(async () => {
    if (process.env.VK_CLUSTER_LOG) writeFileSync(process.env.VK_CLUSTER_LOG, logs.join("\n"));
    controller?.kill("SIGKILL");
    for (const a of agents.values()) a.kill("SIGKILL");
    lab?.destroy();
    bridge?.close();
    await api?.close();
  });

  const dump = () => logs.slice(-60).join("\n");

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
        },
      },
    });
    const applied = performance.now();
    await waitUntil(() => lab.holders(VIP).length === 1, 20_000, `one node to hold ${VIP}\n${dump()}`);
    const holder = lab.holders(VIP)[0]!;
    const elected = performance.now() - applied;
    await waitUntil(
      async () => (await get()).status?.master === holder,
      10_000,
      `status.master to be ${holder}\n${dump()}`,
    );
    // The backup reports the master it hears (a status write on change, not per advert).
    await waitUntil(
      async () => !!(await get()).status?.nodes?.find((n) => n.name !== holder)?.lastAdvertHeard,
      10_000,
      "the backup to report the master it hears",
    );
    const r = await get();
    console.log(
      `apply to VIP bound: ${Math.round(elected)} ms; to status.master: ${Math.round(performance.now() - applied)} ms`,
    );
    expect(r.metadata.finalizers).toContain("vipkeeper.io/release");
    expect(r.status?.vrid).toBe(1);
    expect(r.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "True" });
    expect(r.status?.nodes?.map((n) => `${n.name}=${n.state}`).sort()).toEqual(
      lab.nodes.map((n) => `${n.name}=${n.name === holder ? "Master" : "Backup"}`).sort(),
    );
    const backup = r.status!.nodes!.find((n) => n.name !== holder)!;
    expect(backup.lastAdvertHeard?.from).toBe(lab.node(holder).ipv4);
  }, 60_000);

  it("killing the master's agent moves the VIP, and the status follows", async () => {
    const before = (await get()).status!.master!;
    const other = lab.nodes.find((n) => n.name !== before)!.name;
    // The whole agent dies (supervisor and engine), as when its pod is killed.
    for (const pid of lab.pids(before)) {
      const cmd = cmdline(pid);
      if (cmd.includes("agent") || cmd.includes("engine-main")) process.kill(pid, "SIGKILL");
    }
    await waitUntil(() => lab.holders(VIP).includes(other), 10_000, `${other} to take ${VIP}\n${dump()}`);
    await waitUntil(
      async () => (await get()).status?.master === other,
      15_000,
      `status.master to follow\n${dump()}`,
    );
    // The kubelet would restart it: the restarted agent clears the stale address and rejoins.
    startAgent(before);
    await waitUntil(() => lab.holders(VIP).length === 1, 15_000, `a single holder again\n${dump()}`);
    await waitUntil(
      async () =>
        (await get()).status?.nodes?.find((n) => n.name === before)?.state !== "Master" ||
        lab.holders(VIP)[0] === before,
      15_000,
      "the restarted agent to report",
    );
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

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return "";
  }
}
