import { describe, expect, it } from "vitest";
import { FAULT_KINDS, faultSchedule, type Fault } from "../../src/lab/fault-schedule.ts";

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
});
