import { describe, expect, it } from "vitest";
import type { ClusterNode } from "../../src/cluster/routers.ts";
import { summarize, type NodeEntry } from "../../src/cluster/status.ts";
import { nodeEntry } from "../../src/cluster-mode/status-entry.ts";
import {
  allocate,
  FINALIZER,
  reconcileRouter,
  type RouterWithStatus,
  type World,
} from "../../src/controller/reconcile.ts";

const T0 = Date.parse("2026-11-25T10:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const nodes: ClusterNode[] = [
  { name: "n1", labels: {}, addresses: ["198.18.0.1"] },
  { name: "n2", labels: {}, addresses: ["198.18.0.2"] },
];

function router(
  status?: RouterWithStatus["status"],
  meta: Partial<RouterWithStatus["metadata"]> = {},
): RouterWithStatus {
  return {
    apiVersion: "vipkeeper.io/v1alpha1",
    kind: "VirtualRouter",
    metadata: {
      name: "web",
      generation: 3,
      finalizers: [FINALIZER],
      creationTimestamp: iso(T0 - 60_000),
      ...meta,
    },
    spec: { addresses: [{ address: "198.18.0.100/24" }] },
    ...(status ? { status } : {}),
  };
}

function world(
  routers: RouterWithStatus[],
  renewed: Record<string, number> = { n1: T0, n2: T0 },
  now = T0,
): World {
  return { routers, nodes, liveness: { renewedAt: (n) => renewed[n] }, now };
}

const entry = (
  name: string,
  state: NodeEntry["state"],
  since: number,
  extra: Partial<NodeEntry> = {},
): NodeEntry => ({
  name,
  state,
  since: iso(since),
  ...extra,
});

function run(r: RouterWithStatus, w = world([r])) {
  return reconcileRouter(r, w, allocate(w.routers, w.nodes));
}

describe("controller reconcile", () => {
  it("adds its finalizer and allocates a VRID; not ready before any agent reports", () => {
    const r = router(undefined, { finalizers: [] });
    const a = run(r);
    expect(a.addFinalizer).toBe(true);
    expect(a.status).toMatchObject({ vrid: 1, master: "", observedGeneration: 3 });
    expect(a.status?.conditions.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "NoMaster",
      observedGeneration: 3,
    });
  });

  it("reports the master and an Event when it changes; nothing to write when nothing changed", () => {
    const r = router({
      vrid: 1,
      nodes: [entry("n1", "Master", T0 - 5000), entry("n2", "Backup", T0 - 5000)],
    });
    const a = run(r);
    expect(a.status?.master).toBe("n1");
    expect(a.status?.conditions[0]).toMatchObject({ type: "Ready", status: "True", reason: "MasterElected" });
    expect(a.events).toEqual([{ type: "Normal", reason: "MasterChanged", message: "n1 is master" }]);
    const again = run({ ...r, status: { ...r.status, ...a.status! } });
    expect(again.status).toBeUndefined();
    expect(again.events).toEqual([]);
  });

  it("follows a failover: the newer claim wins over a stale one from a dead agent", () => {
    const r = router({
      vrid: 1,
      master: "n1",
      nodes: [entry("n1", "Master", T0 - 60_000), entry("n2", "Master", T0 - 1000)],
    });
    const a = run(r, world([r], { n1: T0 - 30_000, n2: T0 }));
    expect(a.status?.master).toBe("n2");
    expect(a.events[0]).toEqual({
      type: "Normal",
      reason: "MasterChanged",
      message: "n2 is master (was n1)",
    });
    expect(a.status?.conditions.find((c) => c.type === "SplitBrain")?.status).toBe("False");
  });

  it("calls split brain only when the older claimant is alive and still claims well after", () => {
    const nodesNow = [entry("n1", "Master", T0 - 60_000), entry("n2", "Master", T0 - 10_000)];
    const s = summarize(nodesNow, new Set(["n1", "n2"]), { renewedAt: () => T0 }, T0);
    expect(s.conditions.find((c) => c.type === "SplitBrain")).toMatchObject({
      status: "True",
      reason: "SeveralMasters",
    });
    // A fresh second claim is given time: the old master may be handing over.
    const fresh = summarize(
      [entry("n1", "Master", T0 - 60_000), entry("n2", "Master", T0 - 500)],
      new Set(["n1", "n2"]),
      { renewedAt: () => T0 },
      T0,
    );
    expect(fresh.conditions.find((c) => c.type === "SplitBrain")?.status).toBe("False");
    expect(fresh.recheckAfterMs).toBe(3000);
  });

  it("flags a foreign speaker, but not a cluster node or an IPv6 link-local source", () => {
    const heard = (from: string) => ({ from, priority: 200, at: iso(T0) });
    const r = router({
      vrid: 1,
      nodes: [
        entry("n1", "Backup", T0, { lastAdvertHeard: heard("198.18.0.77") }),
        entry("n2", "Backup", T0, { lastAdvertHeard: heard("198.18.0.1") }),
      ],
    });
    const c = run(r).status?.conditions.find((x) => x.type === "ForeignSpeaker");
    expect(c).toMatchObject({ status: "True", message: expect.stringMatching(/198.18.0.77/) as string });
    const ok = router({ vrid: 1, nodes: [entry("n1", "Backup", T0, { lastAdvertHeard: heard("fe80::1") })] });
    expect(run(ok).status?.conditions.find((x) => x.type === "ForeignSpeaker")).toBeUndefined();
  });

  it("flags a foreign speaker the agents dropped, for a minute after the last one, and looks again then", () => {
    const dropped = (at: number) =>
      router({
        vrid: 1,
        nodes: [
          entry("n1", "Master", T0 - 60_000, {
            lastForeignAdvert: { from: "198.18.0.100", priority: 254, at: iso(at) },
          }),
          entry("n2", "Backup", T0 - 60_000),
        ],
      });
    const fresh = run(dropped(T0 - 10_000));
    expect(fresh.status?.conditions.find((x) => x.type === "ForeignSpeaker")).toMatchObject({
      status: "True",
      message: expect.stringMatching(/198.18.0.100/) as string,
    });
    expect(fresh.recheckAfterMs).toBe(50_000);
    const old = run(dropped(T0 - 61_000));
    expect(old.status?.conditions.find((x) => x.type === "ForeignSpeaker")).toBeUndefined();
    expect(old.recheckAfterMs).toBeUndefined();
  });

  it("reports a VRID conflict as not ready, and the conflicting router gets no VRID", () => {
    const a = router(undefined, { name: "a", creationTimestamp: iso(T0 - 2000) });
    const b: RouterWithStatus = {
      ...router(undefined, { name: "b", creationTimestamp: iso(T0 - 1000) }),
      spec: { vrid: 1, addresses: [{ address: "198.18.0.101/24" }] },
    };
    const aa: RouterWithStatus = { ...a, spec: { vrid: 1, addresses: a.spec.addresses } };
    const w = world([aa, b]);
    const alloc = allocate(w.routers, w.nodes);
    const rb = reconcileRouter(b, w, alloc);
    expect(rb.status?.vrid).toBeUndefined();
    expect(rb.status?.conditions[0]).toMatchObject({
      type: "Ready",
      status: "False",
      reason: "VRIDConflict",
    });
    expect(rb.events.map((e) => e.reason)).toContain("VRIDConflict");
  });

  it("gives a sync group's members one preferred master, and reports a group that shares no node", () => {
    const sided: ClusterNode[] = [
      { name: "n1", labels: { a: "yes" }, addresses: ["198.18.0.1"] },
      { name: "n2", labels: { a: "yes", b: "yes" }, addresses: ["198.18.0.2"] },
      { name: "n3", labels: { b: "yes" }, addresses: ["198.18.0.3"] },
    ];
    const member = (name: string, side: string, age: number): RouterWithStatus => ({
      ...router(undefined, { name, creationTimestamp: iso(T0 - age) }),
      spec: {
        addresses: [{ address: `198.18.0.${age}/24` }],
        nodeSelector: { [side]: "yes" },
        syncGroup: "db",
      },
    });
    const pair = [member("db-a", "a", 2), member("db-b", "b", 1)];
    const w: World = { ...world(pair), nodes: sided };
    const alloc = allocate(w.routers, w.nodes);
    const [ra, rb] = pair.map((r) => reconcileRouter(r, w, alloc));
    // n2 is the only node both select.
    expect([ra!.status?.preferredMaster, rb!.status?.preferredMaster]).toEqual(["n2", "n2"]);
    expect(ra!.status?.conditions.find((c) => c.type === "SyncGroupSplit")).toBeUndefined();

    const apart = [
      member("db-a", "a", 2),
      { ...member("db-b", "b", 1), spec: { ...pair[1]!.spec, nodeSelector: { c: "yes" } } },
    ];
    const only = sided.map((n) => (n.name === "n3" ? { ...n, labels: { c: "yes" } } : n));
    const w2: World = { ...world(apart), nodes: only };
    const split = reconcileRouter(apart[0]!, w2, allocate(w2.routers, w2.nodes));
    expect(split.status?.conditions.find((c) => c.type === "SyncGroupSplit")).toMatchObject({
      status: "True",
      reason: "NoCommonNode",
      message: expect.stringMatching(/syncGroup db: db-a \(n1, n2\), db-b \(n3\)/) as string,
    });
    // Not a reason to stop: Ready follows the election as for any router.
    expect(split.status?.conditions[0]).toMatchObject({ type: "Ready", reason: "NoMaster" });
    expect(split.events).toContainEqual(expect.objectContaining({ type: "Warning", reason: "NoCommonNode" }));
  });

  it("keeps the finalizer until live agents report the router stopped, or the wait runs out", () => {
    const deleting = (nodes: NodeEntry[], since: number) =>
      router({ vrid: 1, nodes }, { deletionTimestamp: iso(since) });
    const waiting = run(deleting([entry("n1", "Master", T0 - 9000), entry("n2", "Stopped", T0)], T0 - 1000));
    expect(waiting.removeFinalizer).toBe(false);
    expect(waiting.recheckAfterMs).toBeGreaterThan(0);
    expect(
      run(deleting([entry("n1", "Stopped", T0), entry("n2", "Stopped", T0)], T0 - 1000)).removeFinalizer,
    ).toBe(true);
    // A dead agent does not hold deletion up.
    const dead = deleting([entry("n1", "Master", T0 - 9000)], T0 - 1000);
    expect(
      reconcileRouter(dead, world([dead], { n1: T0 - 60_000 }), allocate([], nodes)).removeFinalizer,
    ).toBe(true);
    const timedOut = run(deleting([entry("n1", "Master", T0 - 9000)], T0 - 61_000));
    expect(timedOut.removeFinalizer).toBe(true);
    expect(timedOut.events[0]?.reason).toBe("ReleaseTimedOut");
  });

  it("turns an engine report into a node entry (dual stack: per family)", () => {
    const e = nodeEntry("n1", [
      {
        key: "web/ipv4",
        state: "master",
        priority: 150,
        effectivePriority: 150,
        interfaceName: "eth0",
        addresses: ["198.18.0.100/24"],
        since: T0,
        holdsAddresses: true,
        splitBrain: false,
        lastAnnounceAt: T0 + 5,
        tracked: [{ name: "interface eth0", healthy: true }],
        lastForeignAdvert: { from: "198.18.0.100", priority: 254, at: T0 + 2000 },
      },
      {
        key: "web/ipv6",
        state: "backup",
        priority: 150,
        effectivePriority: 140,
        interfaceName: "eth0",
        addresses: ["2001:db8::100/64"],
        since: T0,
        holdsAddresses: false,
        splitBrain: false,
        tracked: [
          { name: "interface eth0", healthy: true },
          { name: "endpoints shop/web", healthy: false },
        ],
        lastAdvertHeardAt: T0 + 1000,
        lastAdvertFrom: "fe80::2",
        lastAdvertPriority: 200,
      },
    ]);
    expect(e).toMatchObject({
      name: "n1",
      state: "Master",
      priority: 150,
      interface: "eth0",
      lastGratuitousArp: iso(T0),
      lastForeignAdvert: { from: "198.18.0.100", priority: 254, at: iso(T0 + 2000) },
    });
    expect(e.checks).toEqual({ total: 2, failing: ["endpoints/shop/web"] });
    expect(e.instances?.[1]).toEqual({
      family: "IPv6",
      state: "Backup",
      effectivePriority: 140,
      since: iso(T0),
      lastAdvertHeard: { from: "fe80::2", priority: 200, at: iso(T0 + 1000) },
    });
    expect(nodeEntry("n1", [], "the node is in maintenance")).toEqual({
      name: "n1",
      state: "Stopped",
      message: "the node is in maintenance",
    });
  });
});
