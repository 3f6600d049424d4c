// The fault lab's judge on synthetic timelines: each invariant passes a clean timeline and breaks
// on one made to violate it.
import { describe, expect, it } from "vitest";
import type { Fault } from "../../src/lab/fault-schedule.ts";
import {
  checkInvariants,
  holderTimeline,
  type Answer,
  type FaultWindow,
  type HolderChange,
} from "../../src/lab/invariants.ts";

const VIP = "198.18.0.50";
const LIMITS = { unansweredMs: 465, healMs: 150 };
const held = (at: number, node: string, on = true): HolderChange => ({ at, node, vip: VIP, held: on });
/** Answers every 10 ms from `node` over [from, to). */
const answers = (from: number, to: number, node: string): Answer[] =>
  Array.from({ length: Math.ceil((to - from) / 10) }, (_, i) => ({ at: from + i * 10, vip: VIP, node }));
const fault = (kind: Fault["kind"], extra: Partial<Fault> = {}): Fault => ({
  index: 0,
  kind,
  nodes: ["n1"],
  holdMs: 1000,
  ...extra,
});
const window = (f: Fault, injectedAt: number, revertedAt: number, extra: Partial<FaultWindow> = {}) => ({
  fault: f,
  injectedAt,
  revertedAt,
  settleFrom: revertedAt + 3000,
  settleTo: revertedAt + 3500,
  ...extra,
});

describe("fault lab invariants", () => {
  it("a failover inside the limits: no break, the longest unanswered window measured", () => {
    // n1 holds; its link goes down at 1000; n2 answers from 1400; n1 back and master again at 3000.
    const v = checkInvariants(
      {
        vips: [VIP],
        holders: [held(0, "n1"), held(1390, "n2"), held(3000, "n2", false), held(3000, "n1")],
        answers: [...answers(0, 1000, "n1"), ...answers(1400, 3000, "n2"), ...answers(3000, 8000, "n1")],
        faults: [window(fault("link"), 1000, 2500)],
        end: 8000,
      },
      LIMITS,
    );
    expect(v.breaks).toEqual([]);
    expect(v.outcomes[0]!.longestUnansweredMs).toBe(410);
  });

  it("two holders in the settled window break the holder invariant", () => {
    const v = checkInvariants(
      {
        vips: [VIP],
        holders: [held(0, "n1"), held(2000, "n2")],
        answers: answers(0, 8000, "n1"),
        faults: [window(fault("node-kill"), 1000, 2500)],
        end: 8000,
      },
      LIMITS,
    );
    expect(v.breaks.map((b) => b.kind)).toEqual(["holders"]);
    expect(v.breaks[0]!.detail).toContain("2 holders (n1, n2)");
    expect(v.outcomes[0]!.longestMultiHolderMs).toBe(4000); // from 2000 to the end of the window
  });

  it("no holder at all in the settled window is a break too", () => {
    const v = checkInvariants(
      {
        vips: [VIP],
        holders: [held(0, "n1"), held(1000, "n1", false)],
        answers: answers(0, 1000, "n1"),
        faults: [window(fault("restart"), 1000, 1000)],
        end: 8000,
      },
      LIMITS,
    );
    expect(v.breaks.map((b) => b.kind).sort()).toEqual(["holders", "unanswered"]);
  });

  it("a gap in answers longer than the limit breaks the unanswered invariant, charged to its fault", () => {
    const v = checkInvariants(
      {
        vips: [VIP],
        holders: [held(0, "n1")],
        answers: [...answers(0, 1000, "n1"), ...answers(1500, 8000, "n1")],
        faults: [window(fault("stop", { index: 7 }), 900, 2000)],
        end: 8000,
      },
      LIMITS,
    );
    expect(v.breaks).toMatchObject([{ kind: "unanswered", fault: 7 }]);
    expect(v.outcomes[0]!.longestUnansweredMs).toBe(510);
  });

  it("a gap that began just before a fault is that fault's, not the one before", () => {
    const v = checkInvariants(
      {
        vips: [VIP],
        holders: [held(0, "n1")],
        answers: [...answers(0, 5000, "n1"), ...answers(5300, 9000, "n2")],
        faults: [
          window(fault("track", { index: 0 }), 500, 1000),
          window(fault("link", { index: 1 }), 5005, 6000),
        ],
        end: 9000,
      },
      LIMITS,
    );
    expect(v.outcomes.map((o) => Math.round(o.longestUnansweredMs))).toEqual([10, 310]);
  });

  it("a partition: split brain heard by a vipkeeper node must be reported, and end soon after the heal", () => {
    const part = fault("partition", { nodes: ["n1"], others: ["n2"] });
    const base = {
      vips: [VIP],
      answers: answers(0, 9000, "n1"),
      end: 9000,
    };
    // n2 master from 1400 to 100 ms after the heal at 3000, reported by n3.
    const clean = checkInvariants(
      {
        ...base,
        holders: [held(0, "n1"), held(1400, "n2"), held(3100, "n2", false)],
        faults: [window(part, 1000, 3000, { splitBrainObservers: ["n3"], splitBrainReports: 1 })],
      },
      LIMITS,
    );
    expect(clean.breaks).toEqual([]);
    expect(clean.outcomes[0]).toMatchObject({
      splitBrainMs: 1700,
      endedAfterHealMs: 100,
      longestMultiHolderMs: 1700,
    });
    const unreported = checkInvariants(
      {
        ...base,
        holders: [held(0, "n1"), held(1400, "n2"), held(3100, "n2", false)],
        faults: [window(part, 1000, 3000, { splitBrainObservers: ["n3"], splitBrainReports: 0 })],
      },
      LIMITS,
    );
    expect(unreported.breaks.map((b) => b.kind)).toEqual(["split-brain-unreported"]);
    // Nobody could hear both sides (two halves): nothing to report.
    const unheard = checkInvariants(
      {
        ...base,
        holders: [held(0, "n1"), held(1400, "n2"), held(3100, "n2", false)],
        faults: [window(part, 1000, 3000, { splitBrainObservers: [], splitBrainReports: 0 })],
      },
      LIMITS,
    );
    expect(unheard.breaks).toEqual([]);
    const lingering = checkInvariants(
      {
        ...base,
        holders: [held(0, "n1"), held(1400, "n2"), held(3400, "n2", false)],
        faults: [window(part, 1000, 3000, { splitBrainObservers: ["n3"], splitBrainReports: 1 })],
      },
      LIMITS,
    );
    expect(lingering.breaks.map((b) => b.kind)).toEqual(["split-brain-after-heal"]);
  });

  it("a partition's figures are the longest over the VIPs", () => {
    const VIP6 = "2001:db8::50";
    const part = fault("partition", { nodes: ["n1"], others: ["n2"] });
    const v = checkInvariants(
      {
        vips: [VIP, VIP6],
        holders: [
          held(0, "n1"),
          held(1400, "n2"),
          held(3120, "n2", false),
          { at: 0, node: "n1", vip: VIP6, held: true },
          { at: 1300, node: "n2", vip: VIP6, held: true },
          { at: 3040, node: "n2", vip: VIP6, held: false },
        ],
        answers: [...answers(0, 9000, "n1"), ...answers(0, 9000, "n1").map((a) => ({ ...a, vip: VIP6 }))],
        end: 9000,
        faults: [window(part, 1000, 3000)],
      },
      LIMITS,
    );
    expect(v.outcomes[0]).toMatchObject({ splitBrainMs: 1740, endedAfterHealMs: 120 });
  });

  it("renewals of an address already held change nothing in the timeline", () => {
    expect(holderTimeline([held(0, "n1"), held(500, "n1"), held(1000, "n1")], VIP)).toEqual([
      { at: Number.NEGATIVE_INFINITY, holders: [] },
      { at: 0, holders: ["n1"] },
    ]);
  });
});
