// vipkeeper end to end on a real kube-apiserver (scripts/kube-up.sh, started by this file): CRDs
// and deploy/'s namespace and RBAC applied with kubectl, the controller as a process and real
// agents in lab network namespaces registered as Node objects, each with its own service
// account's token (never admin), reaching the server through a UNIX socket forward. The agents
// elect and bind, the status and `kubectl get vr` show the master, killing the master's agent
// moves both, and each component may do exactly what deploy/'s RBAC grants it; all of it from the
// production build. The in-process server runs the same scenarios, and more, from the sources, in
// test/net/cluster.test.ts.
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure } from "../kubeapi/failure.ts";
import { waitUntil } from "../support/agents.ts";
import { AGENT_NAMESPACE, ClusterLab, serviceAccountCredentials } from "../../src/lab/cluster-lab.ts";
import { RealKube } from "../../src/lab/real-kube.ts";

// The controller and the agents run the production build, as a cluster runs them: dist/ through
// bin/vipkeeper.js (`npm test` builds it first; test/cli/dist.test.ts checks it is current).
process.env.VIPKEEPER_FROM_SOURCE = "";

const IS_ROOT = process.getuid?.() === 0;
if (!IS_ROOT) console.warn("test/e2e/cluster.test.ts skipped: needs root for network namespaces");

const VIP = "198.18.0.50";
const VR = { group: "vipkeeper.io", version: "v1alpha1", plural: "virtualrouters" };
const CONTROLLER_METRICS = "127.0.0.1:19751";
const AGENT_METRICS = "127.0.0.1:19750";
const BACKEND = join(import.meta.dirname, "../../src/lab/http-backend.ts");
const SA = (name: string) => `system:serviceaccount:${AGENT_NAMESPACE}:${name}`;

/** Each node's agent's credentials, reaching the server from the test machine. */
const agentConfigs = new Map<string, string>();

type Router = {
  metadata: { finalizers?: string[]; managedFields?: { manager: string; subresource?: string }[] };
  status?: {
    vrid?: number;
    master?: string;
    nodes?: { name: string; state: string }[];
    conditions?: { type: string; status: string }[];
  };
};

describe.skipIf(!IS_ROOT)("vipkeeper on a real kube-apiserver, agents in the lab", () => {
  let kube: RealKube;
  let c: ClusterLab<RealKube>;
  let custom: CustomObjectsApi;
  const get = async () => (await custom.getClusterCustomObject({ ...VR, name: "web" })) as Router;
  const dump = () => c.dump();

  beforeAll(async () => {
    kube = await RealKube.start();
    await kube.installCrds();
    await kube.installRbac();
    const credentials = serviceAccountCredentials(kube);
    c = await ClusterLab.createWith("vke2e", 2, kube, {
      ...credentials,
      agent: async (hostPort, node) => {
        // The test's own copy reaches the server from the test machine.
        agentConfigs.set(node, await credentials.agent(`127.0.0.1:${kube.port}`, node));
        return credentials.agent(hostPort, node);
      },
    });
    custom = kube.kubeConfig().makeApiClient(CustomObjectsApi);
    c.startController(["--metrics", CONTROLLER_METRICS]);
    for (const n of c.lab.nodes) c.startAgent(n.name, ["--metrics", AGENT_METRICS]);
  }, 180_000);

  afterAll(async () => {
    if (c)
      await c.destroy(); // stops the server too
    else await kube?.stop();
  });

  it("elects a master that holds the VIP; status and kubectl get vr name it", async () => {
    await kube.kubectlOk(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "VirtualRouter",
        metadata: { name: "web" },
        spec: {
          addresses: [{ address: `${VIP}/24` }],
          advertInterval: "100ms",
          garp: { delay: "1s", repeat: 1 },
        },
      }),
    );
    const holder = await c.settledMaster(VIP, async () => (await get()).status?.master, 30_000);
    await waitUntil(
      async () =>
        (await get()).status?.conditions?.some((x) => x.type === "Ready" && x.status === "True") ?? false,
      15_000,
      `Ready\n${dump()}`,
    );
    // The two agents' entries land one by one.
    const expected = c.lab.nodes.map((n) => `${n.name}=${n.name === holder ? "Master" : "Backup"}`).sort();
    const entries = async () => (await get()).status?.nodes?.map((n) => `${n.name}=${n.state}`).sort();
    await waitUntil(
      async () => JSON.stringify(await entries()) === JSON.stringify(expected),
      15_000,
      `both entries\n${dump()}`,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\nentries: ${JSON.stringify(await entries())}`);
    });
    const r = await get();
    expect(r.status?.vrid).toBe(1);
    expect(r.metadata.finalizers).toContain("vipkeeper.io/release");
    // Each agent wrote its own entry under its own field manager, through the status subresource.
    const managers = (r.metadata.managedFields ?? [])
      .filter((m) => m.subresource === "status")
      .map((m) => m.manager);
    for (const n of c.lab.nodes) expect(managers).toContain(`vipkeeper-agent/${n.name}`);
    const table = (await kube.kubectlOk(["get", "vr", "web"])).trim().split("\n");
    expect(table[0]).toMatch(/^NAME\s+VRID\s+VIP\s+MASTER\s+READY\s+AGE$/);
    expect(table[1]).toMatch(new RegExp(`^web\\s+1\\s+${VIP}/24\\s+${holder}\\s+True\\s`));
  }, 90_000);

  it("killing the master's agent moves the VIP, and the status follows", async () => {
    const before = (await get()).status!.master!;
    const other = c.lab.nodes.find((n) => n.name !== before)!.name;
    c.killAgent(before);
    await waitUntil(() => c.lab.holders(VIP).includes(other), 10_000, `${other} to take ${VIP}\n${dump()}`);
    await waitUntil(
      async () => (await get()).status?.master === other,
      30_000,
      `status.master to follow\n${dump()}`,
    );
    const r = await kube.kubectl([
      "wait",
      `--for=jsonpath={.status.master}=${other}`,
      "vr/web",
      "--timeout=5s",
    ]);
    expect(r.code, r.stderr).toBe(0);
    c.startAgent(before, ["--metrics", AGENT_METRICS]);
    await waitUntil(() => c.lab.holders(VIP).length === 1, 20_000, `a single holder again\n${dump()}`);
  }, 90_000);

  it("promtool accepts the controller's and an agent's /metrics", async () => {
    const controller = await (await fetch(`http://${CONTROLLER_METRICS}/metrics`)).text();
    expect(controller).toMatch(/vipkeeper_controller_leader 1/);
    const node = (await get()).status!.master!;
    let agent = "";
    await waitUntil(
      () => {
        try {
          agent = c.lab.exec(node, ["curl", "-sf", `http://${AGENT_METRICS}/metrics`]);
        } catch {
          return false;
        }
        return agent.includes("vipkeeper_vrrp_");
      },
      15_000,
      `${node}'s agent metrics`,
    );
    for (const [who, text] of [
      ["controller", controller],
      ["agent", agent],
    ] as const) {
      const r = await kube.sh(`promtool check metrics`, text);
      expect(r.code, `${who}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout + r.stderr, who).toBe("");
    }
  }, 30_000);

  it("RBAC: each component may do what deploy/ grants and no more", async () => {
    const can = async (who: string, ...args: string[]) =>
      (await kube.kubectl(["auth", "can-i", ...args, `--as=${SA(who)}`])).stdout.trim();
    // The agent reads routers, nodes and pods, writes only router and server status, and reads no
    // Secret outside vipkeeper's namespace; it cannot change any spec.
    expect(await can("vipkeeper-agent", "patch", "virtualrouters.vipkeeper.io", "--subresource=status")).toBe(
      "yes",
    );
    expect(await can("vipkeeper-agent", "list", "nodes")).toBe("yes");
    expect(await can("vipkeeper-agent", "patch", "virtualrouters.vipkeeper.io")).toBe("no");
    expect(await can("vipkeeper-agent", "create", "virtualrouters.vipkeeper.io")).toBe("no");
    expect(await can("vipkeeper-agent", "get", "secrets", "-n", "default")).toBe("no");
    expect(await can("vipkeeper-agent", "list", "secrets", "--all-namespaces")).toBe("no");
    expect(await can("vipkeeper-agent", "patch", "nodes")).toBe("no");
    expect(await can("vipkeeper-controller", "get", "secrets", "-n", "default")).toBe("no");
    expect(
      await can("vipkeeper-controller", "patch", "virtualrouters.vipkeeper.io", "--subresource=status"),
    ).toBe("yes");
    expect(await can("vipkeeper-controller", "delete", "nodes")).toBe("no");
    // The whole lists: in "default" only the cluster roles apply, in vipkeeper's namespace its
    // Roles too (Leases; the agent's VRRP passwords in Secrets, the controller's DaemonSet).
    const list = async (who: string, namespace: string) =>
      (await kube.kubectlOk(["auth", "can-i", "--list", "-n", namespace, `--as=${SA(who)}`, "--no-headers"]))
        .split("\n")
        .map((l) => /^(\S+)\s+\[.*?\]\s+\[.*?\]\s+\[(.*)\]$/.exec(l))
        .filter((m) => m !== null && !m[1]!.startsWith("selfsubject")) // every user may ask about itself
        .map((m) => `${m![1]} ${m![2]}`)
        .sort();
    const clusterWide = {
      agent: [
        "clustertrustbundles.certificates.k8s.io get list watch", // every authenticated user
        "endpointslices.discovery.k8s.io get list watch",
        "events create patch",
        "namespaces get list watch", // routers grant VirtualServers to namespaces by label
        "nodes get list watch",
        "pods get list watch",
        "virtualrouters.vipkeeper.io get list watch",
        "virtualrouters.vipkeeper.io/status patch",
        "virtualservers.vipkeeper.io get list watch",
        "virtualservers.vipkeeper.io/status patch",
      ],
      controller: [
        "clustertrustbundles.certificates.k8s.io get list watch",
        "endpointslices.discovery.k8s.io get list watch",
        "events create patch",
        "events.events.k8s.io create patch",
        "ippools.vipkeeper.io get list watch update patch",
        "ippools.vipkeeper.io/status get update patch",
        "namespaces get list watch",
        "nodes get list watch",
        "services get list watch",
        "services/status update patch",
        "virtualrouters.vipkeeper.io get list watch create update patch delete",
        "virtualrouters.vipkeeper.io/finalizers update",
        "virtualrouters.vipkeeper.io/status get update patch",
        "virtualservers.vipkeeper.io get list watch update patch",
        "virtualservers.vipkeeper.io/status get update patch",
      ],
    };
    expect(await list("vipkeeper-agent", "default")).toEqual(clusterWide.agent);
    expect(await list("vipkeeper-controller", "default")).toEqual(clusterWide.controller);
    expect(await list("vipkeeper-agent", AGENT_NAMESPACE)).toEqual(
      [...clusterWide.agent, "leases.coordination.k8s.io get create update", "secrets get list watch"].sort(),
    );
    expect(await list("vipkeeper-controller", AGENT_NAMESPACE)).toEqual(
      [
        ...clusterWide.controller,
        "configmaps get watch",
        "daemonsets.apps get list watch create update patch delete",
        "leases.coordination.k8s.io get list watch create update",
      ].sort(),
    );
  });

  it("an agent may write its own node's status entry and no other's (ValidatingAdmissionPolicy)", async () => {
    const [n1, n2] = c.lab.nodes.map((n) => n.name) as [string, string];
    const as = (node: string) => {
      const kc = new KubeConfig();
      kc.loadFromString(agentConfigs.get(node)!);
      return kc.makeApiClient(CustomObjectsApi);
    };
    const entry = (node: string, state: string) =>
      as(node).patchClusterCustomObjectStatus(
        { ...VR, name: "web", body: { status: { nodes: [{ name: node, state }] } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    // A merge patch replaces the whole list: with the other node's entry gone, that is refused.
    const refused = await failure(entry(n1, "Master"));
    expect(refused.code).toBe(403);
    expect(refused.body.message).toContain(`the agent on ${n1} may write only its own entry of status.nodes`);
    // Its own entry alone, by server-side apply as the agent writes it, is allowed.
    // Written back exactly as it is, so the test changes nothing the controller reads.
    const own = (await get()).status!.nodes!.find((n) => n.name === n1)!;
    const apply = (writer: string, node: string) =>
      as(writer).patchClusterCustomObjectStatus(
        {
          ...VR,
          name: "web",
          fieldManager: `vipkeeper-agent/${node}`,
          force: true,
          body: {
            apiVersion: "vipkeeper.io/v1alpha1",
            kind: "VirtualRouter",
            metadata: { name: "web" },
            status: { nodes: [node === n1 ? own : { name: node, state: "Backup" }] },
          },
        },
        setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply),
      );
    await apply(n1, n1); // allowed (the agents' own writes prove it all along, too)
    const other = await failure(apply(n1, n2));
    expect(other.code).toBe(403);
    expect(other.body.message).toContain(`the agent on ${n1} may write only its own entry`);
    // A token not bound to a pod names no node: refused.
    const unbound = new KubeConfig();
    unbound.loadFromString(await kube.serviceAccountKubeConfig(AGENT_NAMESPACE, "vipkeeper-agent"));
    const anon = await failure(
      unbound
        .makeApiClient(CustomObjectsApi)
        .patchClusterCustomObjectStatus(
          { ...VR, name: "web", body: { status: { nodes: [] } } },
          setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
        ),
    );
    expect(anon.code).toBe(403);
    expect(anon.body.message).toContain("an agent's token must be bound to its pod");
  });

  it("a Service of type LoadBalancer gets an address from an IPPool, and it answers from the client", async () => {
    // kube-proxy's part is played by an HTTP server on every address of each node.
    for (const n of c.lab.nodes)
      c.collect(`${n.name}-http`, c.lab.spawn(n.name, [process.execPath, BACKEND, "8080", n.name]));
    await kube.kubectlOk(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "IPPool",
        metadata: { name: "edge" },
        spec: { addresses: ["198.18.0.200-198.18.0.210"], announce: { routers: 2, advertInterval: "100ms" } },
      }),
    );
    await kube.kubectlOk(["create", "namespace", "shop"]);
    await kube.kubectlOk(
      ["apply", "-f", "-"],
      JSON.stringify({
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "web", namespace: "shop" },
        spec: { type: "LoadBalancer", loadBalancerClass: "vipkeeper.io/vrrp", ports: [{ port: 8080 }] },
      }),
    );
    const ingress = async () =>
      (
        JSON.parse(await kube.kubectlOk(["get", "svc", "web", "-n", "shop", "-o", "json"])) as {
          status?: { loadBalancer?: { ingress?: { ip: string; ipMode?: string }[] } };
        }
      ).status?.loadBalancer?.ingress;
    await waitUntil(
      async () => (await ingress())?.[0]?.ip === "198.18.0.200",
      20_000,
      `an address\n${dump()}`,
    );
    expect(await ingress()).toEqual([{ ip: "198.18.0.200", ipMode: "VIP" }]);
    await waitUntil(() => c.lab.holders("198.18.0.200").length === 1, 20_000, `a node to hold it\n${dump()}`);
    const curl = () => {
      try {
        return c.lab.exec("client", ["curl", "-s", "--max-time", "1", "http://198.18.0.200:8080/"]).trim();
      } catch {
        return "";
      }
    };
    await waitUntil(() => c.lab.nodes.some((n) => curl() === n.name), 10_000, "an answer from the client");
    await kube.kubectlOk(["delete", "svc", "web", "-n", "shop"]);
    await waitUntil(
      () => c.lab.holders("198.18.0.200").length === 0,
      20_000,
      `the address released\n${dump()}`,
    );
  }, 90_000);

  it("API server down 60 s while the master's node fails: the VIP moves, status is right within 10 s of its return", async () => {
    const holder = await c.settledMaster(VIP, async () => (await get()).status?.master, 30_000);
    const other = c.lab.nodes.find((n) => n.name !== holder)!.name;
    const logsBefore = c.logs.length;
    const down = performance.now();
    await kube.stopApiServer();
    c.killAgent(holder); // the node fails during the outage
    // VRRP needs no API server: the other node takes the address.
    // (The killed node's kernel keeps its address bound until the agent returns and clears it.)
    await waitUntil(() => c.lab.holders(VIP).includes(other), 10_000, `${other} to take ${VIP}\n${dump()}`);
    await new Promise((r) => setTimeout(r, Math.max(0, 60_000 - (performance.now() - down))));
    await kube.startApiServer();
    const back = performance.now();
    // The controller gives up leading when it cannot renew its Lease within the renew deadline and
    // exits (1), as client-go's controllers do, for its Deployment to restart it: do the kubelet's part.
    if (!c.controllerRunning()) {
      expect(c.logs.slice(logsBefore).join("\n")).toMatch(/lost leadership; exiting/);
      c.startController(["--metrics", CONTROLLER_METRICS]);
    }
    await waitUntil(
      async () => (await get()).status?.master === other,
      10_000,
      `status.master = ${other}`,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify((await get()).status)}\n${c.dump(30)}`);
    });
    const caughtUp = performance.now() - back;
    expect(c.lab.holders(VIP)).toContain(other);
    // Reconnects back off: a bounded number of failed attempts over the outage, not a storm.
    const failures = c.logs
      .slice(logsBefore)
      .filter((l) => /list\/watch failed|not renewed|round failed|will retry/.test(l)).length;
    console.log(
      `API server outage of 60 s: ${failures} failed attempts logged; status caught up ${Math.round(caughtUp)} ms after its return`,
    );
    // Each loop (an informer, a Lease, a status writer; ~10 per process, 3 processes) retries at
    // most every few seconds (jittered backoff capped at 5 s): a few hundred in 60 s, never a storm.
    expect(failures).toBeLessThan(600);
    c.startAgent(holder, ["--metrics", AGENT_METRICS]);
    await waitUntil(() => c.lab.holders(VIP).length === 1, 20_000, `a single holder again\n${dump()}`);
  }, 150_000);

  it("an agent restarted while the API server is down runs its saved plan: it takes over when the master dies", async () => {
    const holder = await c.settledMaster(VIP, async () => (await get()).status?.master, 30_000);
    const other = c.lab.nodes.find((n) => n.name !== holder)!.name;
    const from = c.logs.length;
    const logged = (text: string) => () =>
      c.logs.slice(from).some((l) => l.startsWith(`${other}: `) && l.includes(text));
    await kube.stopApiServer();
    try {
      // The backup's node reboots during the outage: its agent starts with no API server to ask.
      c.killAgent(other);
      c.startAgent(other, ["--metrics", AGENT_METRICS]);
      await waitUntil(
        logged("running the routers of the saved plan"),
        30_000,
        `${other}'s saved plan\n${dump()}`,
      );
      // Then the master's node fails: only VRRP from the saved plan can move the VIP now.
      c.killAgent(holder);
      await waitUntil(
        () => c.lab.holders(VIP).join() === other,
        15_000,
        `${other} alone on ${VIP}\n${dump()}`,
      );
    } finally {
      await kube.startApiServer();
    }
    await waitUntil(logged("back to the live cluster view"), 30_000, `${other} on the live view\n${dump()}`);
    await waitUntil(async () => (await get()).status?.master === other, 15_000, `status.master = ${other}`);
    c.startAgent(holder, ["--metrics", AGENT_METRICS]);
    await waitUntil(() => c.lab.holders(VIP).length === 1, 20_000, `a single holder again\n${dump()}`);
  }, 150_000);

  it("deleting the router releases the VIP everywhere, then the object goes", async () => {
    await kube.kubectlOk(["delete", "vr", "web", "--wait=false"]);
    await waitUntil(() => c.lab.holders(VIP).length === 0, 20_000, `${VIP} released\n${dump()}`);
    await kube.kubectlOk(["wait", "--for=delete", "vr/web", "--timeout=60s"]);
  }, 90_000);
});
