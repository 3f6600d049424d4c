// Trust boundary, in the lab: a VirtualServer (namespaced, written by a tenant) changes nothing on a
// node beyond what its VirtualRouter (cluster-scoped, the admin's) grants its namespace. Each rule
// is tried by a tenant's object on real agents with real nftables: an exec check, a router that
// grants nothing, a namespace not granted, an address not granted, a loopback real server, a
// duplicate of another VirtualServer's address and port, and a grant taken away. Each gets Ready False with reason NotPermitted and a message naming the rule,
// and no node's table holds it or ran its command. The positive cases (a granted object is
// programmed; an exec check granted by the router on agents with --allow-scripts runs) show the
// refusals are what stops them.
import { CustomObjectsApi } from "@kubernetes/client-node";
import { existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VirtualServerStatus } from "../../src/cluster-mode/vs-status.ts";
import type { Lab } from "../../src/lab/lab.ts";
import { waitUntil } from "../support/agents.ts";
import type { ClusterLab } from "../support/cluster-lab.ts";
import { inProcessCluster } from "../support/cluster-lab.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/vs-grants.test.ts skipped: needs root for network namespaces");

const VIP = "198.18.0.50";
const OTHER_VIP = "198.18.0.51";
const VR = { group: "vipkeeper.io", version: "v1alpha1", plural: "virtualrouters" };
const VSR = { group: "vipkeeper.io", version: "v1alpha1", plural: "virtualservers" };
const byName = (ns: string) => ({ matchLabels: { "kubernetes.io/metadata.name": ns } });

type Stored = { status?: VirtualServerStatus & { master?: string } };

describe.skipIf(!ROOT)("VirtualServer grants: what a namespace may make a node do (lab)", () => {
  let c: ClusterLab;
  let lab: Lab;
  let custom: CustomObjectsApi;
  const marker = join(tmpdir(), `vk-grants-marker-${process.pid}`);
  const dump = () => c.dump();

  const router = async (name: string, spec: Record<string, unknown>): Promise<void> => {
    await custom.createClusterCustomObject({
      ...VR,
      body: { apiVersion: "vipkeeper.io/v1alpha1", kind: "VirtualRouter", metadata: { name }, spec },
    });
  };
  const virtualServer = (namespace: string, name: string, spec: Record<string, unknown>) =>
    custom.createNamespacedCustomObject({
      ...VSR,
      namespace,
      body: {
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "VirtualServer",
        metadata: { name, namespace },
        spec: {
          address: VIP,
          routerRef: "web",
          realServers: [{ address: lab.client.ipv4, port: 9001 }],
          ...spec,
        },
      },
    });
  const ready = async (namespace: string, name: string) =>
    (
      (await custom.getNamespacedCustomObject({ ...VSR, namespace, name })) as Stored
    ).status?.conditions?.find((x) => x.type === "Ready");
  const table = (node: string) => {
    try {
      return lab.exec(node, ["nft", "list", "table", "inet", "vipkeeper_lb"]);
    } catch {
      return "";
    }
  };
  /** Whether a node's nftables table serves this virtual port (on any address). */
  const programmed = (node: string, port: number) =>
    new RegExp(` \\. (tcp|6) \\. ${port} `).test(table(node));
  /** The object is refused with this rule, and no node has it in its table. */
  const refused = async (namespace: string, name: string, port: number, rule: string) => {
    await waitUntil(
      async () => (await ready(namespace, name))?.reason === "NotPermitted",
      30_000,
      `${namespace}/${name} NotPermitted\n${dump()}`,
    );
    const r = await ready(namespace, name);
    expect(r?.status).toBe("False");
    expect(r?.message).toMatch(/^not programmed: spec\./);
    expect(
      c.logs.some(
        (l) => l.includes(`"virtualServer":"${namespace}/${name}"`) && l.includes(`"rule":"${rule}"`),
      ),
    ).toBe(true);
    for (const n of lab.nodes)
      expect(programmed(n.name, port), `${n.name} programs port ${port}`).toBe(false);
    return r!.message;
  };

  beforeAll(async () => {
    rmSync(marker, { force: true });
    c = await inProcessCluster("vkgr", 2);
    lab = c.lab;
    custom = c.api.kubeConfig().makeApiClient(CustomObjectsApi);
    for (const ns of ["team-a", "team-b"]) await c.createNamespace(ns);
    c.startController();
    // The node admin allows scripts: what stops a tenant's exec check is the router's grant.
    for (const n of lab.nodes) c.startAgent(n.name, ["--allow-scripts"]);
    await router("web", {
      addresses: [{ address: `${VIP}/24` }],
      advertInterval: "100ms",
      priorities: [
        { node: "n1", priority: 150 },
        { node: "n2", priority: 100 },
      ],
      virtualServers: { from: [{ namespaceSelector: byName("team-a") }] },
    });
    // A router that grants nothing: nobody's VirtualServer may use it.
    await router("other", { addresses: [{ address: `${OTHER_VIP}/24` }], advertInterval: "100ms" });
    await c.settledMaster(
      VIP,
      async () => ((await custom.getClusterCustomObject({ ...VR, name: "web" })) as Stored).status?.master,
      30_000,
    );
  }, 90_000);

  afterAll(async () => {
    rmSync(marker, { force: true });
    await c?.destroy();
  });

  it("a granted VirtualServer is programmed on every node of its router", async () => {
    await virtualServer("team-a", "granted", { port: 8080 });
    for (const n of lab.nodes)
      await waitUntil(() => programmed(n.name, 8080), 30_000, `${n.name} programs 8080\n${dump()}`);
    await waitUntil(
      async () => (await ready("team-a", "granted"))?.reason !== undefined,
      30_000,
      `a status on team-a/granted\n${dump()}`,
    );
    expect((await ready("team-a", "granted"))?.reason).not.toBe("NotPermitted");
  }, 40_000);

  it("a second VirtualServer on the same address and port is refused, and the first stays programmed", async () => {
    await virtualServer("team-a", "duplicate", {
      port: 8080,
      realServers: [{ address: lab.client.ipv4, port: 9002 }],
    });
    await waitUntil(
      async () => (await ready("team-a", "duplicate"))?.reason === "NotPermitted",
      30_000,
      `team-a/duplicate NotPermitted\n${dump()}`,
    );
    expect((await ready("team-a", "duplicate"))?.message).toBe(
      `not programmed: spec.address: TCP ${VIP}:8080 is already served by VirtualServer team-a/granted`,
    );
    for (const n of lab.nodes) {
      expect(programmed(n.name, 8080), n.name).toBe(true);
      expect(table(n.name)).not.toContain(`${lab.client.ipv4} . 9002`);
    }
    expect((await ready("team-a", "granted"))?.reason).not.toBe("NotPermitted");
  }, 40_000);

  it("an exec check the router does not allow: refused, and its command never runs", async () => {
    await virtualServer("team-a", "exec", {
      port: 8081,
      healthCheck: { exec: { command: `touch ${marker}` }, interval: "200ms" },
    });
    expect(await refused("team-a", "exec", 8081, "ExecNotAllowed")).toBe(
      "not programmed: spec.healthCheck.exec: VirtualRouter web does not allow exec checks to namespace team-a (spec.virtualServers.from[0].allowExec); the command was not run",
    );
    // Several check intervals later, still no marker.
    await new Promise((r) => setTimeout(r, 1000));
    expect(existsSync(marker)).toBe(false);
  }, 40_000);

  it("a router that grants nothing, and a namespace the router does not name: refused", async () => {
    await virtualServer("team-a", "foreign-router", { address: OTHER_VIP, port: 8082, routerRef: "other" });
    expect(await refused("team-a", "foreign-router", 8082, "NamespaceNotAllowed")).toBe(
      "not programmed: spec.routerRef: VirtualRouter other grants no VirtualServers to namespace team-a (spec.virtualServers.from)",
    );
    await virtualServer("team-b", "intruder", { port: 8083 });
    expect(await refused("team-b", "intruder", 8083, "NamespaceNotAllowed")).toContain(
      "VirtualRouter web grants no VirtualServers to namespace team-b",
    );
  }, 40_000);

  it("an address the router does not grant (another router's VIP, a node's address): refused", async () => {
    await virtualServer("team-a", "foreign-vip", { address: OTHER_VIP, port: 8084 });
    expect(await refused("team-a", "foreign-vip", 8084, "AddressNotAllowed")).toContain(
      `spec.address ${OTHER_VIP}: VirtualRouter web does not grant it to namespace team-a`,
    );
    await virtualServer("team-a", "node-address", { address: lab.nodes[0]!.ipv4, port: 8085 });
    await refused("team-a", "node-address", 8085, "AddressNotAllowed");
  }, 40_000);

  it("a loopback real server (a node-local port) is never checked or programmed", async () => {
    await virtualServer("team-a", "loopback", {
      port: 8086,
      realServers: [{ address: "127.0.0.1", port: 10250 }],
      healthCheck: { tcp: {}, interval: "200ms" },
    });
    expect(await refused("team-a", "loopback", 8086, "RealServerNotAllowed")).toContain(
      "spec.realServers[0].address 127.0.0.1 is loopback",
    );
    expect(c.logs.some((l) => l.includes("127.0.0.1:10250 of team-a/loopback"))).toBe(false);
  }, 40_000);

  it("a grant taken away removes what was programmed; an exec check granted to the namespace runs", async () => {
    const spec = (
      (await custom.getClusterCustomObject({ ...VR, name: "web" })) as { spec: Record<string, unknown> }
    ).spec;
    // Away: team-a's grant goes, and so does its programmed service.
    await custom.replaceClusterCustomObject({
      ...VR,
      name: "web",
      body: {
        ...((await custom.getClusterCustomObject({ ...VR, name: "web" })) as object),
        spec: { ...spec, virtualServers: { from: [{ namespaceSelector: byName("team-b") }] } },
      },
    });
    for (const n of lab.nodes)
      await waitUntil(() => !programmed(n.name, 8080), 30_000, `${n.name} drops 8080\n${dump()}`);
    await refused("team-a", "granted", 8080, "NamespaceNotAllowed");
    // Back, with exec allowed: the exec check now runs (so the refusal above is what kept it out).
    await custom.replaceClusterCustomObject({
      ...VR,
      name: "web",
      body: {
        ...((await custom.getClusterCustomObject({ ...VR, name: "web" })) as object),
        spec: {
          ...spec,
          virtualServers: { from: [{ namespaceSelector: byName("team-a"), allowExec: true }] },
        },
      },
    });
    await waitUntil(() => existsSync(marker), 30_000, `the granted exec check to run\n${dump()}`);
    for (const n of lab.nodes)
      await waitUntil(() => programmed(n.name, 8081), 30_000, `${n.name} programs 8081\n${dump()}`);
  }, 60_000);
});
