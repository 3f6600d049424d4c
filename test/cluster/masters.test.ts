// Preferred masters over every combination of a few nodes and routers (each router on any non-empty
// set of nodes): balanced (no router's master two or more above a node it could use, so no node
// masters two routers while an eligible node masters none), a fixed point when fed back, and
// stable (a router added that may run anywhere moves no other; a node added takes routers only
// onto itself).
import { describe, expect, it } from "vitest";
import { assignMasters } from "../../src/cluster/masters.ts";
import {
  priorityOf,
  PREFERRED_PRIORITY,
  type ClusterNode,
  type RouterObject,
} from "../../src/cluster/routers.ts";

const nodeNames = (n: number) => Array.from({ length: n }, (_, i) => `n${i + 1}`);
const clusterNodes = (names: readonly string[]): ClusterNode[] =>
  names.map((name, i) => ({ name, labels: {}, addresses: [`198.18.0.${i + 11}`] }));

/** A router on exactly the nodes of `mask` (bit i: node i), by a label the test gives those nodes. */
function router(i: number, mask: number): RouterObject {
  return {
    apiVersion: "vipkeeper.io/v1alpha1",
    kind: "VirtualRouter",
    metadata: { name: `r${i}`, creationTimestamp: `2026-01-01T00:00:${String(i).padStart(2, "0")}Z` },
    spec: { addresses: [{ address: `198.18.1.${i + 1}/24` }], nodeSelector: { [`mask-${mask}`]: "yes" } },
  };
}

/** Nodes labelled for every mask they belong to. */
function nodesFor(n: number, masks: readonly number[]): ClusterNode[] {
  return clusterNodes(nodeNames(n)).map((node, i) => ({
    ...node,
    labels: Object.fromEntries(masks.filter((m) => m & (1 << i)).map((m) => [`mask-${m}`, "yes"])),
  }));
}

function* combinations(nodes: number, routers: number): Generator<number[]> {
  const sets = (1 << nodes) - 1;
  const masks = Array<number>(routers).fill(1);
  for (;;) {
    yield [...masks];
    let k = 0;
    while (k < routers && masks[k] === sets) masks[k++] = 1;
    if (k === routers) return;
    masks[k]!++;
  }
}

function balanced(masks: readonly number[], masters: ReadonlyMap<string, string>): string | undefined {
  const load = new Map<string, number>();
  for (const m of masters.values()) load.set(m, (load.get(m) ?? 0) + 1);
  for (const [i, mask] of masks.entries()) {
    const at = masters.get(`r${i}`)!;
    if (!(mask & (1 << (Number(at.slice(1)) - 1)))) return `r${i} on ${at}, which it does not run on`;
    for (let b = 0; 1 << b <= mask; b++)
      if (mask & (1 << b) && (load.get(at) ?? 0) - (load.get(`n${b + 1}`) ?? 0) >= 2)
        return `r${i} on ${at} (${load.get(at)} masters) could be on n${b + 1} (${load.get(`n${b + 1}`) ?? 0})`;
  }
  return undefined;
}

describe("preferred masters", () => {
  it("are balanced and a fixed point for every combination of up to 4 nodes and 4 routers", () => {
    let cases = 0;
    for (let n = 1; n <= 4; n++)
      for (let r = 1; r <= (n === 4 ? 3 : 4); r++)
        for (const masks of combinations(n, r)) {
          const routers = masks.map((m, i) => router(i, m));
          const nodes = nodesFor(n, masks);
          const masters = assignMasters(routers, nodes);
          expect(balanced(masks, masters), `nodes ${n}, masks ${masks.join(",")}`).toBeUndefined();
          // Fed back as the routers' previous choice, nothing changes.
          expect(assignMasters(routers, nodes, (x) => masters.get(x))).toEqual(masters);
          cases++;
        }
    expect(cases).toBe(1 + 1 + 1 + 1 + (3 + 9 + 27 + 81) + (7 + 49 + 343 + 2401) + (15 + 225 + 3375));
  });

  it("a router that may run anywhere moves no other router's master; a new node takes routers only onto itself", () => {
    for (let n = 1; n <= 3; n++)
      for (const masks of combinations(n, 3)) {
        const routers = masks.map((m, i) => router(i, m));
        const before = assignMasters(routers, nodesFor(n, masks));
        // A router on every node.
        const all = (1 << n) - 1;
        const grown = [...masks, all];
        const after = assignMasters([...routers, router(3, all)], nodesFor(n, grown), (x) => before.get(x));
        for (const [r, m] of before) expect(after.get(r), `${masks.join(",")}: ${r}`).toBe(m);
        expect(balanced(grown, after)).toBeUndefined();
        // A new node that every router may use.
        const wider = masks.map((m) => m | (1 << n));
        const widened = masks.map((_, i) => ({ ...router(i, wider[i]!) }));
        const moved = assignMasters(widened, nodesFor(n + 1, wider), (x) => before.get(x));
        for (const [r, m] of moved) if (m !== before.get(r)) expect(m).toBe(`n${n + 1}`);
        expect(balanced(wider, moved)).toBeUndefined();
      }
  });

  it("two routers of one pool on the same nodes get different masters (the dual-master pattern)", () => {
    for (let n = 2; n <= 6; n++) {
      const names = nodeNames(n);
      const nodes = clusterNodes(names);
      const pool = ["lb-edge-0", "lb-edge-1"].map((name): RouterObject => ({
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "VirtualRouter",
        metadata: { name },
        spec: { addresses: [{ address: "198.18.1.1/24" }] },
      }));
      const masters = assignMasters(pool, nodes);
      expect(new Set(masters.values()).size, `${n} nodes`).toBe(2);
    }
  });

  it("the preferred master gets priority 200; spec.priorities and nodes in maintenance are respected", () => {
    const nodes = clusterNodes(["n1", "n2", "n3"]);
    const chosen: RouterObject = {
      ...router(0, 7),
      spec: { addresses: [{ address: "198.18.1.1/24" }], priorities: [{ node: "n2", priority: 150 }] },
    };
    const free = { ...router(1, 7), spec: { addresses: [{ address: "198.18.1.2/24" }] } };
    const masters = assignMasters([chosen, free], nodes);
    // The admin's choice stands and counts as n2's load.
    expect(masters.has("r0")).toBe(false);
    expect(masters.get("r1")).toMatch(/^n[13]$/);
    const withStatus = { ...free, status: { preferredMaster: masters.get("r1")! } };
    expect(priorityOf(withStatus, masters.get("r1")!)).toBe(PREFERRED_PRIORITY);
    expect(priorityOf(withStatus, "n2")).toBeLessThan(PREFERRED_PRIORITY);
    expect(priorityOf({ ...chosen, status: { preferredMaster: "n1" } }, "n1")).toBeLessThan(200);
    const maintenance = nodes.map((n) =>
      n.name === "n1" ? { ...n, labels: { "vipkeeper.io/maintenance": "true" } } : n,
    );
    expect(assignMasters([free], maintenance, () => "n1").get("r1")).not.toBe("n1");
  });
});
