// Cluster mode obeys only cluster nodes, in multicast as with unicast peers: real agents in the
// lab (n1, n2) elect a master for a VRRPv2 router with a password; forged adverts of the highest
// priority then come over raw sockets from a host that is no Node (the client) and from a Node
// that runs no agent (n3) but with a wrong password or a TTL below 255. The master keeps the
// VIP and each drop is counted by its reason; the same forgery from n3 done right takes over, so
// the forger is heard and the checks are what holds the master.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomObjectsApi } from "@kubernetes/client-node";
import type { Lab } from "../../src/lab/lab.ts";
import { waitUntil } from "../support/agents.ts";
import { inProcessCluster, type ClusterLab } from "../support/cluster-lab.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/foreign-adverts.test.ts skipped: needs root for network namespaces");

const VIP = "198.18.0.50";
const PASSWORD = "s3cret";
const VR = { group: "vipkeeper.io", version: "v1alpha1", plural: "virtualrouters" };
const FORGE = new URL("../support/forge-advert.ts", import.meta.url).pathname;
const METRICS = "127.0.0.1:19650"; // inside each node's namespace

describe.skipIf(!ROOT)("multicast adverts from outside the cluster (cluster mode)", () => {
  let c: ClusterLab;
  let lab: Lab;
  let vrid = 0;
  type Router = {
    status?: {
      vrid?: number;
      master?: string;
      conditions?: { type: string; status: string; message: string }[];
    };
  };
  const get = async () =>
    (await c.api
      .kubeConfig()
      .makeApiClient(CustomObjectsApi)
      .getClusterCustomObject({ ...VR, name: "web" })) as Router;

  /** The agent's drops of one reason (its metrics, read inside the node's namespace). */
  const drops = (node: string, reason: string): number => {
    const text = lab.exec(node, [
      process.execPath,
      "-e",
      `fetch("http://${METRICS}/metrics").then((r) => r.text()).then((t) => process.stdout.write(t))`,
    ]);
    const m = new RegExp(`vipkeeper_vrrp_drops_total\\{[^}]*reason="${reason}"[^}]*\\} (\\d+)`).exec(text);
    return m ? Number(m[1]) : 0;
  };

  /** Sends forged adverts of priority 254 from a lab host; resolves when they are all out. */
  const forge = (host: string, opts: { password?: string; ttl?: number; count?: number } = {}) => {
    const h = lab.node(host);
    const child = lab.spawn(host, [
      process.execPath,
      FORGE,
      h.ipv4,
      String(vrid),
      "254",
      "2",
      opts.password ?? PASSWORD,
      String(opts.ttl ?? 255),
      String(opts.count ?? 30),
      "100",
      VIP,
    ]);
    let out = "";
    child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    return new Promise<string>((resolve, reject) =>
      child.once("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`forger: ${out}`)))),
    );
  };

  beforeAll(async () => {
    c = await inProcessCluster("vkpf-", 3);
    lab = c.lab;
    c.startController();
    // n3 is a Node without an agent: a cluster node's address, no vipkeeper on it.
    for (const n of ["n1", "n2"]) c.startAgent(n, ["--metrics", METRICS]);
    const custom = c.api.kubeConfig().makeApiClient(CustomObjectsApi);
    await custom.createClusterCustomObject({
      ...VR,
      body: {
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "VirtualRouter",
        metadata: { name: "web" },
        spec: {
          version: 2,
          addresses: [{ address: `${VIP}/24` }],
          authentication: { type: "PASS", password: PASSWORD },
          advertInterval: "1s",
          garp: { delay: "1s", repeat: 1 },
        },
      },
    });
    // The agents start a little apart and the higher priority preempts: wait until it settles.
    await c.settledMaster(VIP, async () => (await get()).status?.master, 60_000);
    vrid = (await get()).status?.vrid ?? 0;
    expect(vrid).toBeGreaterThan(0);
  }, 120_000);

  afterAll(() => c?.destroy());

  it("a host that is no Node sends a higher priority: dropped as not a peer, the master keeps the VIP", async () => {
    const master = lab.holders(VIP)[0]!;
    const before = drops(master, "source-not-allowed");
    await forge("client");
    expect(lab.holders(VIP)).toEqual([master]);
    // The status says someone outside the cluster speaks on the VRID.
    await waitUntil(
      async () =>
        (await get()).status?.conditions?.some(
          (x) => x.type === "ForeignSpeaker" && x.status === "True" && x.message.includes(lab.client.ipv4),
        ) ?? false,
      15_000,
      `ForeignSpeaker naming ${lab.client.ipv4}\n${c.dump()}`,
    );
    // Both agents hear the group: the backup drops them too, and stays backup.
    for (const n of ["n1", "n2"])
      expect(drops(n, "source-not-allowed") - (n === master ? before : 0)).toBeGreaterThanOrEqual(25);
  }, 30_000);

  it("a Node sends with a wrong password, or a TTL below 255: dropped by reason, the master keeps the VIP", async () => {
    const master = lab.holders(VIP)[0]!;
    const auth = drops(master, "auth-mismatch");
    const ttl = drops(master, "bad-ttl");
    await forge("n3", { password: "wrong" });
    await forge("n3", { ttl: 64 });
    expect(lab.holders(VIP)).toEqual([master]);
    expect(drops(master, "auth-mismatch") - auth).toBeGreaterThanOrEqual(25);
    expect(drops(master, "bad-ttl") - ttl).toBeGreaterThanOrEqual(25);
    expect(drops(master, "source-not-allowed")).toBeGreaterThan(0); // from the test before, not from n3
  }, 30_000);

  it("the same forgery from a Node, done right, takes the VIP away: the forger is heard", async () => {
    const master = lab.holders(VIP)[0]!;
    const sending = forge("n3", { count: 50 });
    await waitUntil(() => !lab.holds(master, VIP), 4000, `${master} to yield to n3's advert\n${c.dump()}`);
    expect(lab.holders(VIP)).toEqual([]);
    await sending;
  }, 30_000);
});
