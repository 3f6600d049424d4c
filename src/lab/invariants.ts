// The fault lab's invariant checker: over a timeline of who held each VIP (kernel address events
// in every node) and who answered ARP / neighbour solicitations for it (the client's prober), and
// the faults with their times, it lists every invariant break. Pure: the lab records, this judges.
//   holders      from each fault's settle time to the next fault, exactly one holder per VIP
//   unanswered   no gap between answers longer than the limit (Master_Down_Interval + 100 ms)
//   split brain  a split brain that a vipkeeper node could hear (it hears both sides) is
//                reported by one; after the heal it ends within the limit (one advert interval)
import type { Fault, FaultKind } from "./fault-schedule.ts";

export interface HolderChange {
  at: number;
  node: string;
  vip: string;
  held: boolean;
}

export interface Answer {
  at: number;
  vip: string;
  /** The node whose MAC answered ("?" for a MAC that is no node's). */
  node: string;
}

export interface FaultWindow {
  fault: Fault;
  injectedAt: number;
  /** When the fault was undone (the heal, the restart); injectedAt when there is nothing to undo. */
  revertedAt: number;
  /** From settleFrom to settleTo exactly one node holds each VIP. */
  settleFrom: number;
  settleTo: number;
  /** Partition: vipkeeper nodes that hear both sides (cut from neither), alive throughout. */
  splitBrainObservers?: string[];
  /** Split-brain episodes those observers counted from the injection to the heal. */
  splitBrainReports?: number;
}

export interface Limits {
  /** The longest a VIP may go unanswered while an eligible node lives. */
  unansweredMs: number;
  /** A split brain must end this soon after the heal. */
  healMs: number;
}

export type BreakKind = "holders" | "unanswered" | "split-brain-unreported" | "split-brain-after-heal";

export interface InvariantBreak {
  kind: BreakKind;
  /** The fault it happened under (index), if any. */
  fault?: number;
  vip: string;
  at: number;
  detail: string;
}

export interface FaultOutcome {
  index: number;
  kind: FaultKind;
  /** The longest time any VIP went unanswered, from a gap overlapping the fault's window (ms). */
  longestUnansweredMs: number;
  /** The longest stretch in which two nodes or more held one VIP (ms), from the injection to the settle check. */
  longestMultiHolderMs: number;
  /** Partition: how long two nodes or more held a VIP (ms), and how long after the heal it ended. */
  splitBrainMs?: number;
  endedAfterHealMs?: number;
}

export interface Verdict {
  breaks: InvariantBreak[];
  outcomes: FaultOutcome[];
}

/** One VIP's holders over time: each entry holds from `at` until the next entry. */
export type HolderTimeline = { at: number; holders: string[] }[];

export function holderTimeline(changes: readonly HolderChange[], vip: string): HolderTimeline {
  const held = new Set<string>();
  const out: HolderTimeline = [{ at: Number.NEGATIVE_INFINITY, holders: [] }];
  for (const c of [...changes].filter((c) => c.vip === vip).sort((a, b) => a.at - b.at)) {
    const had = held.has(c.node);
    if (had === c.held) continue; // a renewal of an address already held
    if (c.held) held.add(c.node);
    else held.delete(c.node);
    out.push({ at: c.at, holders: [...held].sort() });
  }
  return out;
}

/** The timeline's entries in force at some moment of [from, to]. */
function during(timeline: HolderTimeline, from: number, to: number): HolderTimeline {
  const firstIn = timeline.findIndex((e) => e.at > from);
  const start = (firstIn === -1 ? timeline.length : firstIn) - 1;
  return timeline.slice(Math.max(0, start)).filter((e, i) => i === 0 || e.at <= to);
}

/** Gaps between consecutive answers for one VIP, from its first answer on. */
function answerGaps(answers: readonly Answer[], vip: string, end: number): { from: number; to: number }[] {
  const times = answers
    .filter((a) => a.vip === vip)
    .map((a) => a.at)
    .sort((a, b) => a - b);
  const gaps = times.slice(1).map((t, i) => ({ from: times[i]!, to: t }));
  if (times.length) gaps.push({ from: times.at(-1)!, to: end }); // unanswered until the end
  return gaps;
}

export interface Timeline {
  vips: readonly string[];
  holders: readonly HolderChange[];
  answers: readonly Answer[];
  faults: readonly FaultWindow[];
  /** When recording ended. */
  end: number;
}

export function checkInvariants(t: Timeline, limits: Limits): Verdict {
  const breaks: InvariantBreak[] = [];
  const outcomes: FaultOutcome[] = t.faults.map((w) => ({
    index: w.fault.index,
    kind: w.fault.kind,
    longestUnansweredMs: 0,
    longestMultiHolderMs: 0,
  }));
  // A gap is the doing of the fault under which it ended: it often begins a few ms before the
  // injection (the last answer before the cable came out), so its start would blame the one before.
  const windowOf = (to: number) => t.faults.findLastIndex((w) => w.injectedAt < to);
  for (const vip of t.vips) {
    const timeline = holderTimeline(t.holders, vip);
    for (const [i, w] of t.faults.entries()) {
      outcomes[i]!.longestMultiHolderMs = Math.max(
        outcomes[i]!.longestMultiHolderMs,
        longestMultiHolder(during(timeline, w.injectedAt, w.settleTo), w.injectedAt, w.settleTo),
      );
      for (const e of during(timeline, w.settleFrom, w.settleTo))
        if (e.holders.length !== 1)
          breaks.push({
            kind: "holders",
            fault: w.fault.index,
            vip,
            at: Math.max(e.at, w.settleFrom),
            detail: `${e.holders.length} holders (${e.holders.join(", ") || "none"}) ${Math.round(Math.max(e.at, w.settleFrom) - w.settleFrom)} ms into the settled window`,
          });
      if (w.fault.kind === "partition") {
        // The longest of the VIPs' split brains and of their ends after the heal.
        const o = outcomes[i]!;
        const sb = splitBrain(timeline, w, vip, limits, breaks);
        o.splitBrainMs = Math.max(o.splitBrainMs ?? 0, sb.splitBrainMs ?? 0);
        o.endedAfterHealMs = Math.max(o.endedAfterHealMs ?? 0, sb.endedAfterHealMs ?? 0);
      }
    }
    for (const gap of answerGaps(t.answers, vip, t.end)) {
      const length = gap.to - gap.from;
      const i = windowOf(gap.to);
      if (i >= 0) outcomes[i]!.longestUnansweredMs = Math.max(outcomes[i]!.longestUnansweredMs, length);
      if (length > limits.unansweredMs)
        breaks.push({
          kind: "unanswered",
          ...(i >= 0 ? { fault: t.faults[i]!.fault.index } : {}),
          vip,
          at: gap.from,
          detail: `unanswered for ${Math.round(length)} ms (limit ${Math.round(limits.unansweredMs)} ms)`,
        });
    }
  }
  return { breaks, outcomes };
}

/** The longest run of consecutive entries with two holders or more, clipped to [from, to]. */
function longestMultiHolder(entries: HolderTimeline, from: number, to: number): number {
  let longest = 0;
  let runFrom: number | undefined;
  for (const [j, e] of entries.entries()) {
    const start = Math.max(e.at, from);
    const end = Math.min(entries[j + 1]?.at ?? to, to);
    if (e.holders.length >= 2) {
      runFrom ??= start;
      longest = Math.max(longest, end - runFrom);
    } else runFrom = undefined;
  }
  return longest;
}

/** A partition's split brain on one VIP: its length, its end after the heal, and whether it was reported. */
function splitBrain(
  timeline: HolderTimeline,
  w: FaultWindow,
  vip: string,
  limits: Limits,
  breaks: InvariantBreak[],
): Pick<FaultOutcome, "splitBrainMs" | "endedAfterHealMs"> {
  let splitMs = 0;
  let lastSplitEnd: number | undefined;
  const entries = during(timeline, w.injectedAt, w.settleTo);
  for (const [j, e] of entries.entries()) {
    if (e.holders.length < 2) continue;
    const from = Math.max(e.at, w.injectedAt);
    const to = Math.min(entries[j + 1]?.at ?? w.settleTo, w.settleTo);
    splitMs += Math.max(0, to - from);
    lastSplitEnd = to;
  }
  const endedAfterHealMs = lastSplitEnd === undefined ? 0 : Math.max(0, lastSplitEnd - w.revertedAt);
  if (endedAfterHealMs > limits.healMs)
    breaks.push({
      kind: "split-brain-after-heal",
      fault: w.fault.index,
      vip,
      at: w.revertedAt,
      detail: `two holders until ${Math.round(endedAfterHealMs)} ms after the heal (limit ${Math.round(limits.healMs)} ms)`,
    });
  const splitBeforeHeal = entries.some(
    (e, j) => e.holders.length >= 2 && e.at < w.revertedAt && (entries[j + 1]?.at ?? Infinity) > w.injectedAt,
  );
  if (splitBeforeHeal && (w.splitBrainObservers?.length ?? 0) > 0 && (w.splitBrainReports ?? 0) === 0)
    breaks.push({
      kind: "split-brain-unreported",
      fault: w.fault.index,
      vip,
      at: w.injectedAt,
      detail: `split brain during the partition, heard by ${w.splitBrainObservers!.join(", ")}, reported by none`,
    });
  return { splitBrainMs: splitMs, endedAfterHealMs };
}
