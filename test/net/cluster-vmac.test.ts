// A VirtualRouter with a virtual MAC and a route, through the API (the in-process API server with
// vipkeeper's CRDs), the controller as a process and real agents in the lab: the master holds the
// VIP on vrrp.<vrid> with the virtual MAC and has the route, the backup has its macvlan and no
// route; the master's agent killed outright, the other node takes over and the client's neighbour
// entry stays; the killed node's restarted agent sweeps what it left; deleting the router removes
// the macvlans and routes from every node. Lab prefix "vkvm-c".
import { CustomObjectsApi } from "@kubernetes/client-node";
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Lab } from "../../src/lab/lab.ts";
import { waitUntil } from "../support/agents.ts";
import { inProcessCluster, type ClusterLab } from "../support/cluster-lab.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/cluster-vmac.test.ts skipped: needs root for network namespaces");

const VIP = "198.18.0.50";
const VR = { group: "vipkeeper.io", version: "v1alpha1", plural: "virtualrouters" };

describe.skipIf(!ROOT)("cluster mode: a virtual MAC and a route", { timeout: 120_000 }, () => {
  let c: ClusterLab;
  let lab: Lab;
  let custom: CustomObjectsApi;

  const links = (host: string) =>
    (JSON.parse(lab.exec(host, ["ip", "-j", "link", "show"])) as { ifname: string; address?: string }[]).map(
      (l) => `${l.ifname} ${l.address ?? ""}`.trim(),
    );
  const vipDevs = (host: string) =>
    (
      JSON.parse(lab.exec(host, ["ip", "-j", "-4", "addr", "show"])) as {
        ifname: string;
        addr_info: { local: string }[];
      }[]
    )
      .filter((l) => l.addr_info.some((a) => a.local === VIP))
      .map((l) => l.ifname);
  const holders = () => lab.nodes.filter((n) => vipDevs(n.name).length > 0).map((n) => n.name);
  const routes = (host: string) => lab.exec(host, ["ip", "-4", "route", "show", "proto", "112"]).trim();
  const ping = () =>
    spawnSync("ip", ["netns", "exec", lab.client.ns, "ping", "-c", "3", "-i", "0.2", "-W", "1", VIP])
      .status === 0;
  const neighbour = () => lab.exec("client", ["ip", "neigh", "show", VIP]).trim();

  beforeAll(async () => {
    c = await inProcessCluster("vkvm-c", 2);
    lab = c.lab;
    custom = c.api.kubeConfig().makeApiClient(CustomObjectsApi);
    c.startController();
    for (const n of lab.nodes) c.startAgent(n.name);
  }, 60_000);
  afterAll(() => c?.destroy());

  it("moves the VIP with its MAC and the route with mastership, and leaves nothing when deleted", async () => {
    await custom.createClusterCustomObject({
      ...VR,
      body: {
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "VirtualRouter",
        metadata: { name: "gw" },
        spec: {
          vrid: 9,
          addresses: [{ address: `${VIP}/24` }],
          advertInterval: "100ms",
          garp: { delay: "1s", repeat: 2 },
          virtualMAC: {},
          routes: [{ to: "198.19.5.0/24", via: "198.18.0.100" }],
        },
      },
    });
    await waitUntil(() => holders().length === 1, 30_000, `one node to hold ${VIP}\n${c.dump()}`);
    await new Promise((r) => setTimeout(r, 2000)); // a preempting higher priority settles
    const [master] = holders();
    const backup = lab.nodes.find((n) => n.name !== master)!.name;
    expect(vipDevs(master!)).toEqual(["vrrp.9"]);
    expect(links(master!)).toContain("vrrp.9 00:00:5e:00:01:09");
    expect(links(backup)).toContain("vrrp.9 00:00:5e:00:01:09"); // up in backup too, without the VIP
    expect(routes(master!)).toBe("198.19.5.0/24 via 198.18.0.100 dev eth0");
    expect(routes(backup)).toBe("");
    expect(ping()).toBe(true);
    expect(neighbour()).toContain("lladdr 00:00:5e:00:01:09");

    c.killAgent(master!); // SIGKILL: nothing on that node is removed by vipkeeper
    await waitUntil(() => vipDevs(backup).length > 0, 10_000, `the backup to take over\n${c.dump()}`);
    await waitUntil(() => vipDevs(master!).length === 0, 4000, "the killed master's VIP to expire");
    expect(ping()).toBe(true);
    expect(neighbour()).toContain("lladdr 00:00:5e:00:01:09");
    expect(routes(backup)).toBe("198.19.5.0/24 via 198.18.0.100 dev eth0");
    // Routes have no lifetime: the killed node's stays until its agent starts again and sweeps.
    expect(routes(master!)).toBe("198.19.5.0/24 via 198.18.0.100 dev eth0");
    c.startAgent(master!);
    await waitUntil(() => routes(master!) === "", 20_000, `the restarted agent's sweep\n${c.dump()}`);

    await custom.deleteClusterCustomObject({ ...VR, name: "gw" });
    await waitUntil(
      () =>
        lab.nodes.every((n) => !links(n.name).some((l) => l.startsWith("vrrp.9")) && routes(n.name) === ""),
      20_000,
      `every node to remove its macvlan and routes\n${c.dump()}`,
    );
    expect(holders()).toEqual([]);
  });
});
