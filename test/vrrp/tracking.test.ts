import { describe, expect, it } from "vitest";
import { effectivePriority } from "../../src/vrrp/tracking.ts";

describe("effective priority (keepalived semantics)", () => {
  it("adds a positive weight while the object is healthy", () => {
    expect(effectivePriority(100, [{ name: "a", weight: 20, healthy: true }]).priority).toBe(120);
    expect(effectivePriority(100, [{ name: "a", weight: 20, healthy: false }]).priority).toBe(100);
  });

  it("subtracts a negative weight while the object has failed", () => {
    expect(effectivePriority(100, [{ name: "a", weight: -30, healthy: true }]).priority).toBe(100);
    expect(effectivePriority(100, [{ name: "a", weight: -30, healthy: false }]).priority).toBe(70);
  });

  it("reverse flips the direction of the adjustment", () => {
    expect(effectivePriority(100, [{ name: "a", weight: 20, reverse: true, healthy: true }]).priority).toBe(
      80,
    );
    expect(effectivePriority(100, [{ name: "a", weight: -30, reverse: true, healthy: false }]).priority).toBe(
      130,
    );
  });

  it("puts the instance in Fault while a weight-0 object has failed, naming it", () => {
    const r = effectivePriority(100, [
      { name: "eth0", weight: 0, healthy: false },
      { name: "chk", weight: 0, healthy: true },
    ]);
    expect(r).toEqual({ priority: 100, fault: true, faultedBy: ["eth0"] });
  });

  it("sums several objects and clamps to 1..254", () => {
    const tracked = [
      { name: "a", weight: 100, healthy: true },
      { name: "b", weight: 100, healthy: true },
    ];
    expect(effectivePriority(100, tracked).priority).toBe(254);
    expect(effectivePriority(100, [{ name: "a", weight: -200, healthy: false }]).priority).toBe(1);
    expect(
      effectivePriority(100, [
        { name: "a", weight: -20, healthy: false },
        { name: "b", weight: 5, healthy: true },
      ]).priority,
    ).toBe(85);
  });

  it("keeps the address owner at 255 whatever the weights", () => {
    expect(effectivePriority(255, [{ name: "a", weight: -50, healthy: false }])).toMatchObject({
      priority: 255,
      fault: false,
    });
    expect(effectivePriority(255, [{ name: "a", weight: 0, healthy: false }])).toMatchObject({
      priority: 255,
      fault: true,
    });
  });
});
