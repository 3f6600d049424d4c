// The engine's one timer for every instance's deadline.
import { describe, expect, it } from "vitest";
import { Deadlines, TIMER_SLACK_MS } from "../../src/engine/deadlines.ts";
import type { Clock } from "../../src/engine/engine.ts";

/** A clock whose time moves only when told; setTimeout records what was asked. */
function manualClock() {
  let now = 0;
  const timers: { at: number; fn: () => void; live: boolean }[] = [];
  const clock: Clock = {
    now: () => now,
    setTimeout: (fn, delayMs) => {
      const t = { at: now + delayMs, fn, live: true };
      timers.push(t);
      return { cancel: () => (t.live = false) };
    },
  };
  /** Moves to `at` and fires the live timers due by then (a wakeup each). */
  const runUntil = (at: number): number => {
    let wakeups = 0;
    for (;;) {
      const next = timers.filter((t) => t.live).sort((a, b) => a.at - b.at)[0];
      if (!next || next.at > at) break;
      next.live = false;
      now = Math.max(now, next.at);
      wakeups++;
      next.fn();
    }
    now = at;
    return wakeups;
  };
  return { clock, runUntil, setNow: (t: number) => (now = t) };
}

describe("Deadlines", () => {
  it("fires each item once, in deadline order, then by the order they were set", () => {
    const { clock, runUntil } = manualClock();
    const fired: string[] = [];
    const d = new Deadlines<string>(clock, (item) => fired.push(item));
    d.set("c", 30);
    d.set("a", 10);
    d.set("b", 10);
    d.set("x", 20);
    d.set("x", undefined);
    runUntil(100);
    expect(fired).toEqual(["a", "b", "c"]);
  });

  it("moves a deadline later without firing it (a backup hearing its master)", () => {
    const { clock, runUntil } = manualClock();
    const fired: number[] = [];
    const d = new Deadlines<string>(clock, (_item, due) => fired.push(due));
    d.set("backup", 50);
    for (let t = 10; t <= 200; t += 10) {
      runUntil(t);
      d.set("backup", t + 50);
    }
    expect(fired).toEqual([]);
    runUntil(300);
    expect(fired).toEqual([250]);
  });

  it("does what is due within the timer's slack in the same wakeup, and says when it was due", () => {
    const { clock, runUntil, setNow } = manualClock();
    const fired: [string, number, number][] = [];
    const d = new Deadlines<string>(clock, (item, due) => fired.push([item, due, clock.now()]));
    d.set("now", 10);
    d.set("soon", 10 + TIMER_SLACK_MS * 0.6);
    d.set("later", 10 + TIMER_SLACK_MS * 1.5);
    // The timer fires at 10: "soon" goes with it, told its own deadline; "later" waits.
    expect(runUntil(10)).toBe(1);
    expect(fired).toEqual([
      ["now", 10, 10],
      ["soon", 10 + TIMER_SLACK_MS * 0.6, 10],
    ]);
    setNow(10);
    expect(runUntil(20)).toBe(1);
    expect(fired.map((f) => f[0])).toEqual(["now", "soon", "later"]);
  });
});

describe("Deadlines, input read first", () => {
  it("runs beforeDue when the timer fires, before taking what is due: a deadline moved there waits", () => {
    const { clock, runUntil } = manualClock();
    const fired: string[] = [];
    let reads = 0;
    // The advert that came in time, read only now: it moves the backup's deadline on (once).
    const read = () => reads++ === 0 && d.set("backup", 400);
    const d: Deadlines<string> = new Deadlines<string>(clock, (item) => fired.push(item), read);
    d.set("backup", 100);
    d.set("other", 100);
    runUntil(100);
    expect(fired).toEqual(["other"]);
    runUntil(500);
    expect(fired).toEqual(["other", "backup"]);
  });
});
