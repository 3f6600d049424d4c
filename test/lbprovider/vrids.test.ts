// VRIDs per segment in the IPPool's status, and running out of them: the routers the provider
// generates go through the router controller's own allocation and conditions, then the pool reports.
import { describe, expect, it } from "vitest";
import type { ClusterNode, RouterObject } from "../../src/cluster/routers.ts";
import { allocate, reconcileRouter, type RouterWithStatus } from "../../src/controller/reconcile.ts";
import type { Assignment } from "../../src/lbprovider/allocator.ts";
import { localRouterName, routersForPool } from "../../src/lbprovider/services.ts";
import { poolVrids, type RouterSeen } from "../../src/lbprovider/vrids.ts";

const nodes: ClusterNode[] = [{ name: "n1", labels: {}, addresses: ["198.18.0.1"] }];
const announce = { pool: "p", routers: 2, template: { interface: "eth0" } };

/** The routers as the controller leaves them: each with the VRID and conditions it writes. */
function controlled(routers: RouterObject[]): RouterSeen[] {
  const objects: RouterWithStatus[] = routers.map((r, i) => ({
    ...r,
    metadata: { ...r.metadata, creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString() },
  }));
  const allocation = allocate(objects, nodes);
  const world = {
    routers: objects,
    nodes,
    liveness: { renewedAt: () => undefined },
    now: Date.UTC(2026, 1, 1),
  };
  return objects.map((r) => ({ ...r, status: reconcileRouter(r, world, allocation).status }));
}

/** `n` Local Services, each alone on its node set, one address each in 2001:db8:10::/64 (one segment). */
function localRouters(n: number): RouterObject[] {
  const assignments = new Map<string, Assignment>();
  const local = new Map<string, string[]>();
  for (let i = 0; i < n; i++) {
    const key = `ns/s${String(i).padStart(3, "0")}`;
    assignments.set(key, { addresses: [`2001:db8:10::${(i + 1).toString(16)}`], pool: "p" });
    local.set(key, [`n1`, `m${i}`]);
  }
  return routersForPool(announce, assignments, local);
}

const admin: RouterObject = {
  apiVersion: "vipkeeper.io/v1alpha1",
  kind: "VirtualRouter",
  metadata: { name: "admin" },
  spec: { vrid: 7, interface: "eth0", addresses: [{ address: "2001:db8:10::ffff/64" }] },
};

describe("VRIDs of an IPPool's routers", () => {
  it("counts VRIDs in use on each segment, by every router there", () => {
    const routers = controlled([admin, ...localRouters(3)]);
    const { segments, condition } = poolVrids("p", routers);
    expect(segments).toEqual([
      { segment: "2001:db8:10::/64 on eth0", used: 4, free: 251, routers: 3, waiting: 0 },
    ]);
    expect(condition).toEqual({
      type: "VRIDsExhausted",
      status: "False",
      reason: "VRIDsAvailable",
      message: "no generated router of the pool is short of a VRID",
    });
    // Another pool's status knows nothing of these routers.
    expect(poolVrids("q", routers).segments).toEqual([]);
  });

  it("runs out at 255 on a segment: the routers left over get no VRID, and the pool's condition says where and how many", () => {
    // 255 VRIDs on the segment: the admin's router and 254 generated ones get one, 2 do not.
    const generated = localRouters(256);
    expect(new Set(generated.map((r) => r.metadata.name)).size).toBe(256);
    const routers = controlled([admin, ...generated]);
    const without = routers.filter((r) => r.status?.vrid === undefined);
    expect(without).toHaveLength(2);
    for (const r of without) {
      expect(r.status?.conditions?.find((c) => c.type === "VRIDConflict")).toMatchObject({
        status: "True",
        reason: "VRIDsExhausted",
        message: "every VRID (1-255) is in use on 2001:db8:10::/64 on eth0; this router does not run",
      });
      expect(r.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "False" });
    }
    const { segments, condition } = poolVrids("p", routers);
    expect(segments).toEqual([
      { segment: "2001:db8:10::/64 on eth0", used: 255, free: 0, routers: 256, waiting: 2 },
    ]);
    const names = without
      .map((r) => r.metadata.name)
      .sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
    expect(condition).toEqual({
      type: "VRIDsExhausted",
      status: "True",
      reason: "NoVRIDLeft",
      message: `2001:db8:10::/64 on eth0: all 255 VRIDs are in use and 2 more generated routers need one (${names.join(", ")}); their Services' addresses are not announced`,
    });
    // The two were the newest (a newcomer never takes a VRID in use).
    expect(names.every((n) => generated.slice(-2).some((g) => g.metadata.name === n))).toBe(true);
    expect(generated.some((g) => g.metadata.name === localRouterName("p", ["m0", "n1"]))).toBe(true);
  });

  it("names at most three waiting routers per segment, and counts the rest", () => {
    const routers = controlled(localRouters(260));
    const { segments, condition } = poolVrids("p", routers);
    expect(segments[0]).toMatchObject({ used: 255, free: 0, routers: 260, waiting: 5 });
    expect(condition.message).toMatch(/need one \([^,]+, [^,]+, [^,]+, and 2 more\)/);
  });
});
