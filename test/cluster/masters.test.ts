// Preferred masters over every combination of a few nodes and routers (each router on any non-empty
// set of nodes): balanced (no router's master two or more above a node it could use, so no node
// masters two routers while an eligible node masters none), a fixed point when fed back, and
// stable (a router added that may run anywhere moves no other; a node added takes routers only
// onto itself). With sync groups: every group whose members share a node has one top-priority node
// for all of them, balance counts the group as its member count, and a group whose members share no
// node is reported (SyncGroupSplit) and spread one by one.
import { describe, expect, it } from "vitest";
import { assignMasters, syncGroupSplits } from "../../src/cluster/masters.ts";
import {
  priorityOf,
  PREFERRED_PRIORITY,
  type ClusterNode,
  type RouterObject,
} from "../../src/cluster/routers.ts";

// Cases of the sync-group combinations below: masks x groupings for each count of nodes and routers.
const CASES = 4 + 13 + 40 + 9 * 4 + 27 * 13 + 81 * 40 + 49 * 4 + 343 * 13 + 2401 * 40 + 225 * 4;

const nodeNames = (n: number) => Array.from({ length: n }, (_, i) => `n${i + 1}`);
const clusterNodes = (names: readonly string[]): ClusterNode[] =>
  names.map((name, i) => ({ name, labels: {}, addresses: [`198.18.0.${i + 11}`] }));

/** A router on exactly the nodes of `mask` (bit i: node i), by a label the test gives those nodes. */
function router(i: number, mask: number, syncGroup?: string): RouterObject {
  return {
    apiVersion: "vipkeeper.io/v1alpha1",
    kind: "VirtualRouter",
    metadata: { name: `r${i}`, creationTimestamp: `2026-01-01T00:00:${String(i).padStart(2, "0")}Z` },
    spec: {
      addresses: [{ address: `198.18.1.${i + 1}/24` }],
      nodeSelector: { [`mask-${mask}`]: "yes" },
      ...(syncGroup !== undefined ? { syncGroup } : {}),
    },
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

/**
 * Every way to put `routers` routers into at most two sync groups (or none), up to the groups'
 * names: entry i is router i's group, undefined for none.
 */
function* groupings(routers: number): Generator<(string | undefined)[]> {
  for (let code = 0; code < 3 ** routers; code++) {
    const digits = Array.from({ length: routers }, (_, i) => Math.floor(code / 3 ** i) % 3);
    // "b" only after some "a": the same partition under swapped names once.
    const firstB = digits.indexOf(2);
    if (firstB >= 0 && !digits.slice(0, firstB).includes(1)) continue;
    yield digits.map((d) => (d === 0 ? undefined : d === 1 ? "a" : "b"));
  }
}

/** What spreads as one: each group whose members share a node, else each router alone. */
function units(masks: readonly number[], groups: readonly (string | undefined)[]) {
  const out: { members: number[]; mask: number }[] = [];
  for (const g of new Set(groups.filter((x) => x !== undefined))) {
    const members = groups.flatMap((x, i) => (x === g ? [i] : []));
    const mask = members.reduce((m, i) => m & masks[i]!, (1 << 30) - 1);
    if (mask !== 0) out.push({ members, mask });
  }
  for (const [i] of masks.entries())
    if (!out.some((u) => u.members.includes(i))) out.push({ members: [i], mask: masks[i]! });
  return out;
}

/**
 * Weighted balance: a unit of k routers sits on no node more than k masters above a node all its
 * members may use (k = 1: no gap of two, the rule for lone routers); a group's members agree.
 */
function balancedUnits(
  masks: readonly number[],
  groups: readonly (string | undefined)[],
  masters: ReadonlyMap<string, string>,
): string | undefined {
  const load = new Map<string, number>();
  for (const m of masters.values()) load.set(m, (load.get(m) ?? 0) + 1);
  for (const u of units(masks, groups)) {
    const at = masters.get(`r${u.members[0]}`)!;
    for (const i of u.members)
      if (masters.get(`r${i}`) !== at) return `r${i} is not on ${at} with r${u.members[0]}`;
    if (!(u.mask & (1 << (Number(at.slice(1)) - 1))))
      return `r${u.members.join(",r")} on ${at}, not on all of them`;
    for (let b = 0; 1 << b <= u.mask; b++)
      if (u.mask & (1 << b) && (load.get(at) ?? 0) - (load.get(`n${b + 1}`) ?? 0) > u.members.length)
        return `r${u.members.join(",r")} on ${at} (${load.get(at)} masters) could be on n${b + 1} (${load.get(`n${b + 1}`) ?? 0})`;
  }
  return undefined;
}

/**
 * Each group whose members share a node: the same top node and the same priority on every shared
 * node for all members, by the priorities each agent computes (priorityOf), and no SyncGroupSplit.
 * Each group whose members share none: every member reported NoCommonNode, naming them all.
 */
function groupsAgree(
  routers: readonly RouterObject[],
  masks: readonly number[],
  nodes: readonly ClusterNode[],
  masters: ReadonlyMap<string, string>,
): string | undefined {
  const splits = syncGroupSplits(routers, nodes);
  const grouped = new Set(routers.map((r) => r.spec.syncGroup).filter((g) => g !== undefined));
  let reported = 0;
  for (const g of grouped) {
    const members = routers.flatMap((r, i) => (r.spec.syncGroup === g ? [{ r, mask: masks[i]! }] : []));
    const names = members.map((m) => m.r.metadata.name);
    const shared = members.reduce((a, m) => a & m.mask, (1 << nodes.length) - 1);
    if (shared === 0) {
      for (const name of names) {
        const s = splits.get(name);
        if (s?.reason !== "NoCommonNode" || !names.every((x) => s.message.includes(`${x} (`)))
          return `${name} of split group ${g}: ${JSON.stringify(s)}`;
      }
      reported += names.length;
      continue;
    }
    const withStatus = members.map((m) => ({
      ...m.r,
      status: { preferredMaster: masters.get(m.r.metadata.name)! },
    }));
    const tops = new Set(members.map((m, i) => topNode(withStatus[i]!, m.mask, nodes)));
    if (tops.size !== 1) return `group ${g}'s members rank ${[...tops].join(", ")} first`;
    for (const [b, node] of nodes.entries())
      if (shared & (1 << b) && new Set(withStatus.map((r) => priorityOf(r, node.name))).size !== 1)
        return `group ${g}'s members give ${node.name} different priorities`;
  }
  return splits.size === reported ? undefined : `splits reported: ${[...splits.keys()].join(", ")}`;
}

/** The node of `mask` a router's agents rank first. */
function topNode(r: RouterObject, mask: number, nodes: readonly ClusterNode[]): string {
  let best: string | undefined;
  for (const [b, node] of nodes.entries())
    if (mask & (1 << b) && (best === undefined || priorityOf(r, node.name) > priorityOf(r, best)))
      best = node.name;
  return best!;
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
  it("give a sync group's members one top-priority node, balanced by member count, for every combination", () => {
    let cases = 0;
    // Up to 3 nodes and 4 routers, and 4 nodes with 2 (4 nodes with 3 routers in groups would
    // triple the time and adds no new shape of group).
    for (let n = 1; n <= 4; n++)
      for (let r = 2; r <= (n === 4 ? 2 : 4); r++)
        for (const masks of combinations(n, r))
          for (const groups of groupings(r)) {
            if (groups.every((g) => g === undefined)) continue;
            const routers = masks.map((m, i) => router(i, m, groups[i]));
            const nodes = nodesFor(n, masks);
            const masters = assignMasters(routers, nodes);
            const what = `nodes ${n}, masks ${masks.join(",")}, groups ${groups.map((g) => g ?? "-").join(",")}`;
            const wrong =
              balancedUnits(masks, groups, masters) ?? groupsAgree(routers, masks, nodes, masters);
            if (wrong !== undefined) expect.fail(`${what}: ${wrong}`);
            const again = assignMasters(routers, nodes, (x) => masters.get(x));
            if ([...masters].some(([x, m]) => again.get(x) !== m)) expect.fail(`${what}: not a fixed point`);
            cases++;
          }
    expect(cases).toBe(CASES);
  }, 30_000);

  it("with sync groups, a router that may run anywhere moves no other master; a new node takes units only onto itself; a new member keeps its group's master", () => {
    for (let n = 1; n <= 3; n++)
      for (const masks of combinations(n, 3))
        for (const groups of groupings(3)) {
          const what = `nodes ${n}, masks ${masks.join(",")}, groups ${groups.map((g) => g ?? "-").join(",")}`;
          const routers = masks.map((m, i) => router(i, m, groups[i]));
          const before = assignMasters(routers, nodesFor(n, masks));
          const all = (1 << n) - 1;
          const grown = [...masks, all];
          const after = assignMasters([...routers, router(3, all)], nodesFor(n, grown), (x) => before.get(x));
          for (const [r, m] of before) expect(after.get(r), `${what}: ${r}`).toBe(m);
          expect(balancedUnits(grown, [...groups, undefined], after), what).toBeUndefined();
          const wider = masks.map((m) => m | (1 << n));
          const widened = masks.map((_, i) => router(i, wider[i]!, groups[i]));
          const moved = assignMasters(widened, nodesFor(n + 1, wider), (x) => before.get(x));
          for (const [r, m] of moved) if (m !== before.get(r)) expect(m, `${what}: ${r}`).toBe(`n${n + 1}`);
          expect(balancedUnits(wider, groups, moved), what).toBeUndefined();
          // A fourth router joins group "a" on every node: the group stays where it was.
          const a = groups.findIndex((g) => g === "a");
          if (a < 0) continue;
          const joined = assignMasters([...routers, router(3, all, "a")], nodesFor(n, grown), (x) =>
            before.get(x),
          );
          if (!syncGroupSplits(routers, nodesFor(n, masks)).has(`r${a}`)) {
            expect(joined.get("r3"), what).toBe(before.get(`r${a}`));
            expect(joined.get(`r${a}`), what).toBe(before.get(`r${a}`));
          }
          expect(balancedUnits(grown, [...groups, "a"], joined), what).toBeUndefined();
        }
  });

  it("reports a group whose members share no usable node, or mix spec.priorities with none", () => {
    const nodes = nodesFor(3, [0b011, 0b100, 0b110]);
    const split = [router(0, 0b011, "db"), router(1, 0b100, "db")];
    const splits = syncGroupSplits(split, nodes);
    expect(splits.get("r0")).toEqual({
      reason: "NoCommonNode",
      message: expect.stringMatching(
        /syncGroup db: r0 \(n1, n2\), r1 \(n3\) .*no node is selected by all of them/,
      ) as string,
    });
    expect(splits.get("r1")).toEqual(splits.get("r0"));
    // Spread one by one: each still gets a master of its own.
    const masters = assignMasters(split, nodes);
    expect(masters.get("r0")).toMatch(/^n[12]$/);
    expect(masters.get("r1")).toBe("n3");
    // Shared nodes that are all in maintenance split the group too, and say so.
    const overlap = [router(0, 0b011, "db"), router(1, 0b110, "db")];
    const down = nodesFor(3, [0b011, 0b110]).map((x) =>
      x.name === "n2" ? { ...x, labels: { ...x.labels, "vipkeeper.io/maintenance": "true" } } : x,
    );
    expect(syncGroupSplits(overlap, down).get("r0")?.message).toMatch(
      /the nodes they share \(n2\) are in maintenance/,
    );
    expect(syncGroupSplits(overlap, nodesFor(3, [0b011, 0b110])).size).toBe(0);
    expect(new Set(assignMasters(overlap, nodesFor(3, [0b011, 0b110])).values())).toEqual(new Set(["n2"]));
    // One member with the admin's priorities, one without: their orders need not agree.
    const mixed = [
      {
        ...router(0, 0b011, "db"),
        spec: { ...router(0, 0b011, "db").spec, priorities: [{ node: "n1", priority: 150 }] },
      },
      router(1, 0b011, "db"),
    ];
    const m = syncGroupSplits(mixed, nodesFor(3, [0b011]));
    expect(m.get("r0")).toMatchObject({
      reason: "PrioritiesDiffer",
      message: expect.stringContaining("r0 set spec.priorities and r1 do not") as string,
    });
    expect(m.get("r1")).toEqual(m.get("r0"));
    // Every member with spec.priorities is the admin's business.
    expect(
      syncGroupSplits([mixed[0]!, { ...mixed[0]!, metadata: { name: "r1" } }], nodesFor(3, [0b011])).size,
    ).toBe(0);
  });
});
