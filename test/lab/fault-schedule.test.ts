import { describe, expect, it } from "vitest";
import { aimAt, FAULT_KINDS, faultSchedule, type Fault } from "../../src/lab/fault-schedule.ts";

const take = (seed: number, n: number, kinds?: Fault["kind"][]) => {
  const out: Fault[] = [];
  for (const f of faultSchedule({
    seed,
    nodes: ["n1", "n2", "n3", "n4"],
    masterDownMs: 365,
    ...(kinds ? { kinds } : {}),
  })) {
    out.push(f);
    if (out.length === n) break;
  }
  return out;
};

describe("fault schedule", () => {
  it("replays: the same seed gives the same faults, another seed others", () => {
    expect(take(18, 50)).toEqual(take(18, 50));
    expect(take(19, 50)).not.toEqual(take(18, 50));
  });

  it("draws every kind, within the brief's bounds", () => {
    const faults = take(1, 500);
    expect(new Set(faults.map((f) => f.kind))).toEqual(new Set(FAULT_KINDS));
    for (const f of faults) {
      if (f.kind === "stop") expect(f.holdMs).toBeGreaterThan(365);
      if (f.kind === "loss") expect(f.lossPercent).toBeGreaterThanOrEqual(10);
      if (f.kind === "loss") expect(f.lossPercent).toBeLessThanOrEqual(30);
      if (f.kind === "partition") {
        expect(f.nodes.length).toBeGreaterThan(0);
        expect(f.others!.length).toBeGreaterThan(0);
        expect(f.nodes.some((n) => f.others!.includes(n))).toBe(false);
      }
    }
  });

  it("keeps to the kinds asked for", () => {
    expect(new Set(take(3, 100, ["link", "loss"]).map((f) => f.kind))).toEqual(new Set(["link", "loss"]));
  });

  it("a fault aimed at the master lands on it; a partition keeps its sides disjoint", () => {
    const link: Fault = { index: 0, kind: "link", nodes: ["n3"], holdMs: 1000, onMaster: true };
    expect(aimAt(link, "n1").nodes).toEqual(["n1"]);
    expect(aimAt({ ...link, onMaster: false }, "n1").nodes).toEqual(["n3"]);
    const part: Fault = {
      index: 1,
      kind: "partition",
      nodes: ["n3", "n4"],
      others: ["n1", "n2"],
      holdMs: 1,
      onMaster: true,
    };
    expect(aimAt(part, "n1")).toMatchObject({ nodes: ["n1", "n4"], others: ["n3", "n2"] });
    expect(aimAt(part, "n4")).toMatchObject({ nodes: ["n4", "n3"], others: ["n1", "n2"] });
    const pair: Fault = { ...part, nodes: ["n3"], others: ["n4"] };
    expect(aimAt(pair, "n2")).toMatchObject({ nodes: ["n2"], others: ["n4"] });
    expect(faultSchedule({ seed: 5, nodes: ["n1", "n2"], masterDownMs: 365 }).next().value).toBeDefined();
  });
});
