import { describe, expect, it } from "vitest";
import { SplitBrainWatch } from "../../src/vrrp/split-brain.ts";

const I = 100;

describe("SplitBrainWatch", () => {
  it("two masters advertising every interval: active from the first return to a speaker, one episode", () => {
    const w = new SplitBrainWatch();
    expect(w.heard("a", 0, I)).toBeUndefined();
    expect(w.heard("b", 40, I)).toBeUndefined();
    expect(w.active(40, I)).toBe(false);
    // The episode begins: both masters named (the one heard last may be this router itself).
    expect(w.heard("a", 100, I)).toEqual(["a", "b"]);
    expect(w.active(100, I)).toBe(true);
    for (let t = 140; t < 1000; t += 100) {
      expect(w.heard("b", t, I)).toBeUndefined(); // the same episode
      w.heard("a", t + 60, I);
    }
    expect(w.active(1000, I)).toBe(true);
    expect(w.episodes).toBe(1);
    // One master left: no evidence after 1.5 intervals.
    w.heard("a", 1060, I);
    w.heard("a", 1160, I);
    w.heard("a", 1260, I);
    expect(w.active(1260, I)).toBe(false);
    // A second episode counts again.
    w.heard("b", 1300, I);
    w.heard("a", 1360, I);
    expect(w.active(1360, I)).toBe(true);
    expect(w.episodes).toBe(2);
  });

  it("a failover (a falls silent, b takes over after Master_Down_Interval) and a preemption are not split brain", () => {
    const w = new SplitBrainWatch();
    for (let t = 0; t <= 500; t += 100) w.heard("a", t, I);
    for (let t = 860; t <= 1500; t += 100) w.heard("b", t, I); // failover
    w.heard("a", 1530, I); // a comes back with higher priority; b steps down on it
    for (let t = 1630; t <= 2000; t += 100) w.heard("a", t, I);
    expect(w.episodes).toBe(0);
    expect(w.active(2000, I)).toBe(false);
  });

  it("alternation slower than the window (a master seen again only after a gap) is not evidence", () => {
    const w = new SplitBrainWatch();
    w.heard("a", 0, I);
    w.heard("b", 100, I);
    w.heard("a", 151, 100 / 3); // the window scales with the interval: 50 ms here
    expect(w.episodes).toBe(0);
  });

  it("reset forgets the speakers", () => {
    const w = new SplitBrainWatch();
    w.heard("a", 0, I);
    w.heard("b", 10, I);
    w.reset();
    w.heard("a", 20, I);
    expect(w.episodes).toBe(0);
  });
});
