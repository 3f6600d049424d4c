import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  allocateVrids,
  defaultPriority,
  inMaintenance,
  priorityOf,
  resolveForNode,
  segmentKeys,
  selectedNodes,
  unicastPeers,
  type ClusterNode,
  type RouterObject,
} from "../../src/cluster/routers.ts";
import { planForNode } from "../../src/plan/plan.ts";
import { validateVirtualRouter } from "../../src/api/virtual-router.ts";

let nextHost = 10;
const nodes: ClusterNode[] = [
  { name: "n1", labels: { lb: "yes", zone: "a" }, addresses: ["198.18.0.1", "2001:db8::1"] },
  { name: "n2", labels: { lb: "yes", zone: "b" }, addresses: ["198.18.0.2", "2001:db8::2"] },
  { name: "n3", labels: { zone: "b" }, addresses: ["198.18.0.3"] },
];

function router(
  name: string,
  spec: Partial<RouterObject["spec"]> = {},
  extra: Partial<RouterObject> = {},
): RouterObject {
  return {
    apiVersion: "vipkeeper.io/v1alpha1",
    kind: "VirtualRouter",
    metadata: { name, creationTimestamp: `2026-01-01T00:00:${name.padStart(2, "0").slice(-2)}Z` },
    // Each router its own address on one /24 unless a test says otherwise.
    spec: { addresses: [{ address: `198.18.0.${nextHost++ % 250}/24` }], ...spec },
    ...extra,
  };
}

describe("node selection and priorities", () => {
  it("selects by nodeSelector, every node without one", () => {
    expect(selectedNodes(router("a"), nodes).map((n) => n.name)).toEqual(["n1", "n2", "n3"]);
    expect(selectedNodes(router("a", { nodeSelector: { lb: "yes" } }), nodes).map((n) => n.name)).toEqual([
      "n1",
      "n2",
    ]);
  });

  it("gives a default priority that depends only on router and node", () => {
    const p = defaultPriority("web", "n1");
    expect(p).toBeGreaterThanOrEqual(100);
    expect(p).toBeLessThanOrEqual(199);
    expect(defaultPriority("web", "n1")).toBe(p);
    // Different routers spread their masters: over many routers, not all pick the same node first.
    const firsts = new Set(
      Array.from({ length: 20 }, (_, i) => {
        const r = `r${i}`;
        return ["n1", "n2", "n3"].sort((a, b) => defaultPriority(r, b) - defaultPriority(r, a))[0];
      }),
    );
    expect(firsts.size).toBeGreaterThan(1);
  });

  it("takes an explicit priority over the default", () => {
    const r = router("a", { priorities: [{ node: "n2", priority: 250 }] });
    expect(priorityOf(r, "n2")).toBe(250);
    expect(priorityOf(r, "n1")).toBe(defaultPriority("a", "n1"));
  });

  it("reads the maintenance label", () => {
    expect(inMaintenance({ labels: {} })).toBe(false);
    expect(inMaintenance({ labels: { "vipkeeper.io/maintenance": "true" } })).toBe(true);
    expect(inMaintenance({ labels: { "vipkeeper.io/maintenance": "false" } })).toBe(false);
  });
});

describe("VRID allocation", () => {
  it("keeps explicit VRIDs and allocates the lowest free one on the segment", () => {
    const { vrids, conflicts } = allocateVrids([router("1", { vrid: 1 }), router("2"), router("3")], nodes);
    expect(conflicts).toEqual([]);
    expect([...vrids]).toEqual([
      ["1", 1],
      ["2", 2],
      ["3", 3],
    ]);
  });

  it("reuses a VRID on another segment or on disjoint nodes", () => {
    const other = router("2", { addresses: [{ address: "198.19.5.1/24" }] });
    const disjoint = router("3", { nodeSelector: { zone: "a" } });
    const fourth = router("4", { nodeSelector: { zone: "b" }, vrid: 1 });
    const { vrids, conflicts } = allocateVrids(
      [router("1", { vrid: 1, nodeSelector: { zone: "a" } }), other, disjoint, fourth],
      nodes,
    );
    expect(vrids.get("2")).toBe(1);
    expect(vrids.get("3")).toBe(2);
    expect(vrids.get("4")).toBe(1);
    expect(conflicts).toEqual([]);
  });

  it("keeps a VRID allocated before; a newcomer does not take it", () => {
    const old = router("5", {}, { status: { vrid: 7 } });
    const { vrids } = allocateVrids([router("1"), old], nodes);
    expect(vrids.get("5")).toBe(7);
    expect(vrids.get("1")).toBe(1);
  });

  it("reports two explicit claims of one VRID on a segment; the newer one does not run", () => {
    const { vrids, conflicts } = allocateVrids([router("2", { vrid: 9 }), router("1", { vrid: 9 })], nodes);
    expect(vrids.get("1")).toBe(9);
    expect(vrids.has("2")).toBe(false);
    expect(conflicts.map((c) => [c.router, c.kind])).toEqual([
      ["2", "VRIDConflict"],
      ["1", "VRIDConflict"],
    ]);
    expect(conflicts[0]!.message).toMatch(/VRID 9 .* VirtualRouter 1/);
  });

  it("reports one address claimed twice", () => {
    const { vrids, conflicts } = allocateVrids(
      [
        router("1", { addresses: [{ address: "198.18.0.251/24" }] }),
        router("2", { addresses: [{ address: "198.18.0.251" }] }),
      ],
      nodes,
    );
    expect(vrids.has("2")).toBe(false);
    expect(conflicts.find((c) => c.router === "2")?.message).toMatch(
      /198.18.0.251 is already held by VirtualRouter 1/,
    );
  });

  it("runs out cleanly after 255 routers on one segment", () => {
    const many = Array.from({ length: 256 }, (_, i) => router(String(i).padStart(3, "0")));
    const { vrids, conflicts } = allocateVrids(
      many.map((r, i) => ({ ...r, spec: { addresses: [{ address: `198.18.${i >> 8}.${i & 255}/16` }] } })),
      nodes,
    );
    expect(vrids.size).toBe(255);
    expect(conflicts).toHaveLength(1);
    expect(conflicts[0]).toMatchObject({ kind: "VRIDConflict", reason: "VRIDsExhausted" });
    expect(conflicts[0]!.message).toBe(
      "every VRID (1-255) is in use on 198.18.0.0/16; this router does not run",
    );
  });

  it("never gives one VRID twice on a shared segment and node, and never moves a kept VRID", () => {
    const arb = fc.array(
      fc.record({
        net: fc.integer({ min: 0, max: 3 }),
        zone: fc.constantFrom(undefined, "a", "b"),
        vrid: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
      }),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(arb, (specs) => {
        const rs = specs.map((s, i) =>
          router(String(i).padStart(2, "0"), {
            addresses: [{ address: `198.18.${s.net}.${i + 10}/24` }],
            ...(s.zone ? { nodeSelector: { zone: s.zone } } : {}),
            ...(s.vrid ? { vrid: s.vrid } : {}),
          }),
        );
        const first = allocateVrids(rs, nodes);
        // Unique per (segment, shared node).
        const seen = new Map<string, string>();
        for (const r of rs) {
          const v = first.vrids.get(r.metadata.name);
          if (v === undefined) continue;
          for (const seg of segmentKeys(r))
            for (const n of selectedNodes(r, nodes)) {
              const k = `${seg}|${n.name}|${v}`;
              expect(seen.get(k)).toBeUndefined();
              seen.set(k, r.metadata.name);
            }
        }
        // Re-planning with the allocations recorded, plus a newcomer, moves nothing.
        const recorded = rs.map((r) =>
          first.vrids.has(r.metadata.name)
            ? { ...r, status: { vrid: first.vrids.get(r.metadata.name)! } }
            : r,
        );
        const again = allocateVrids(
          [...recorded, router("99", { addresses: [{ address: "198.18.0.250/24" }] })],
          nodes,
        );
        for (const [name, v] of first.vrids) expect(again.vrids.get(name)).toBe(v);
      }),
    );
  });

  it("ignores routers being deleted", () => {
    const going = router(
      "1",
      { vrid: 4 },
      { metadata: { name: "1", deletionTimestamp: "2026-01-01T00:00:00Z" } },
    );
    const { vrids } = allocateVrids([going, router("2", { vrid: 4 })], nodes);
    expect(vrids.get("2")).toBe(4);
    expect(vrids.has("1")).toBe(false);
  });
});

describe("what a node runs", () => {
  it("fills unicast peers from the selected nodes' addresses of the router's families", () => {
    const r = router("a", { unicast: {}, nodeSelector: { lb: "yes" } });
    expect(unicastPeers(r, nodes)).toEqual(["198.18.0.1", "198.18.0.2"]);
    const dual = router("b", {
      unicast: {},
      addresses: [{ address: "198.18.0.100/24" }, { address: "2001:db8::100/64" }],
    });
    expect(unicastPeers(dual, nodes)).toEqual([
      "198.18.0.1",
      "2001:db8::1",
      "198.18.0.2",
      "2001:db8::2",
      "198.18.0.3",
    ]);
    expect(unicastPeers(router("c", { unicast: { peers: ["198.18.9.9"] } }), nodes)).toEqual(["198.18.9.9"]);
    expect(unicastPeers(router("d"), nodes)).toEqual([]);
  });

  it("resolves a valid file-mode router that planForNode runs", () => {
    const r = router("web", { unicast: {}, advertInterval: "100ms" });
    const resolved = resolveForNode(r, nodes, "n2", 42, "eth0");
    expect(validateVirtualRouter(resolved)).toEqual([]);
    const plan = planForNode([resolved], "n2");
    expect(plan.skipped).toEqual([]);
    expect(plan.instances).toHaveLength(1);
    const i = plan.instances[0]!;
    expect([i.vrid, i.interfaceName, i.priority, i.advertIntervalMs]).toEqual([
      42,
      "eth0",
      defaultPriority("web", "n2"),
      100,
    ]);
    expect(i.unicastPeers).toEqual(["198.18.0.1", "198.18.0.2", "198.18.0.3"]);
  });
});
