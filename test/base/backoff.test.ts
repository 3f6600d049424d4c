import { describe, expect, it } from "vitest";
import { Backoff, backoffStep } from "../../src/base/backoff.ts";

describe("backoff", () => {
  it("doubles from the first step up to the cap", () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffStep(n, 500, 5000))).toEqual([
      500, 1000, 2000, 4000, 5000, 5000,
    ]);
    expect(backoffStep(10_000, 5, 1_000_000)).toBe(1_000_000);
  });

  it("jitters each delay to 50-100 % of its step, and starts over after a success", () => {
    const lowest = new Backoff({ firstMs: 500, maxMs: 5000, random: () => 0 });
    const highest = new Backoff({ firstMs: 500, maxMs: 5000, random: () => 1 });
    expect([1, 2, 3, 4, 5].map(() => lowest.next())).toEqual([250, 500, 1000, 2000, 2500]);
    expect([1, 2, 3, 4, 5].map(() => highest.next())).toEqual([500, 1000, 2000, 4000, 5000]);
    expect(highest.count).toBe(5);
    highest.reset();
    expect(highest.next()).toBe(500);
    const plain = new Backoff({ firstMs: 100, maxMs: 400, jitter: 0 });
    expect([1, 2, 3, 4].map(() => plain.next())).toEqual([100, 200, 400, 400]);
  });

  it("spreads agents that retry together after one outage", () => {
    const delays = Array.from({ length: 1000 }, () => new Backoff({ firstMs: 500, maxMs: 5000 }))
      .map((b) => {
        for (let i = 0; i < 5; i++) b.next();
        return b.next();
      })
      .sort((a, b) => a - b);
    expect(delays[0]).toBeGreaterThanOrEqual(2500);
    expect(delays.at(-1)).toBeLessThanOrEqual(5000);
    // Not one instant: the middle half spans over a second.
    expect(delays[750]! - delays[250]!).toBeGreaterThan(1000);
  });
});
