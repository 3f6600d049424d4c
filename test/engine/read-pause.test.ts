// How long the engine's VRRP sockets wait between reads (host.ts).
import { describe, expect, it } from "vitest";
import { MAX_READ_PAUSE_MS, readPauseMs } from "../../src/engine/host.ts";
import type { InstancePlan } from "../../src/plan/plan.ts";

const plans = (...intervals: number[]) =>
  intervals.map((advertIntervalMs) => ({ advertIntervalMs }) as InstancePlan);

describe("readPauseMs", () => {
  it("is a twentieth of the shortest interval, in whole milliseconds, at most the cap", () => {
    expect(readPauseMs(plans(100))).toBe(5);
    expect(readPauseMs(plans(1000, 100, 300))).toBe(5);
    expect(readPauseMs(plans(30))).toBe(1);
    expect(readPauseMs(plans(1000))).toBe(MAX_READ_PAUSE_MS);
  });

  it("is 0 (read at once) below 20 ms adverts, and for no instances", () => {
    expect(readPauseMs(plans(10, 1000))).toBe(0);
    expect(readPauseMs([])).toBe(0);
  });
});
