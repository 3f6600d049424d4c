// The fuzz harness: runs a target's inputs, each from its own seeded generator, and sorts every
// outcome into accepted, rejected (by the decoder's own reason) or a failure: a crash (anything
// thrown that is not the decoder's typed error) or a wrong answer (accepted with other fields
// than the bytes carry, a valid input refused). Shared by bench/fuzz.ts (millions of inputs) and
// the tests (a few thousand, fixed seed).
import { Random } from "./random.ts";

export type Outcome =
  | { kind: "accepted" }
  | { kind: "rejected"; reason: string }
  /** The decoder answered, but not what the input says. */
  | { kind: "wrong"; detail: string };

export interface FuzzTarget {
  name: string;
  /** Makes input `rng` describes, runs the decoder on it and judges the answer. May throw: a crash. */
  one(rng: Random): Outcome;
}

export interface Failure {
  index: number;
  kind: "crash" | "wrong";
  detail: string;
}

export interface FuzzReport {
  target: string;
  seed: number;
  inputs: number;
  accepted: number;
  rejected: Map<string, number>;
  crashes: number;
  wrong: number;
  /** The first few failures, with the input number that replays each. */
  failures: Failure[];
  /** The slowest input's time (ms) and its number: what "never hangs" rests on. */
  slowest: { ms: number; index: number };
  elapsedMs: number;
}

const KEPT_FAILURES = 10;

/** Runs inputs `from`..`from + count - 1` of `seed` (one with `only`). */
export function runFuzz(target: FuzzTarget, seed: number, count: number, from = 0): FuzzReport {
  const report: FuzzReport = {
    target: target.name,
    seed,
    inputs: 0,
    accepted: 0,
    rejected: new Map(),
    crashes: 0,
    wrong: 0,
    failures: [],
    slowest: { ms: 0, index: -1 },
    elapsedMs: 0,
  };
  const fail = (index: number, kind: Failure["kind"], detail: string) => {
    if (kind === "crash") report.crashes++;
    else report.wrong++;
    if (report.failures.length < KEPT_FAILURES) report.failures.push({ index, kind, detail });
  };
  const start = performance.now();
  for (let index = from; index < from + count; index++) {
    const t0 = performance.now();
    let outcome: Outcome | undefined;
    try {
      outcome = target.one(new Random(seed, index));
    } catch (err) {
      fail(index, "crash", err instanceof Error ? `${err.name}: ${err.message}\n${err.stack}` : String(err));
    }
    const ms = performance.now() - t0;
    if (ms > report.slowest.ms) report.slowest = { ms, index };
    report.inputs++;
    if (outcome?.kind === "accepted") report.accepted++;
    else if (outcome?.kind === "rejected")
      report.rejected.set(outcome.reason, (report.rejected.get(outcome.reason) ?? 0) + 1);
    else if (outcome?.kind === "wrong") fail(index, "wrong", outcome.detail);
  }
  report.elapsedMs = performance.now() - start;
  return report;
}

/** The report as the bench prints it. */
export function formatReport(r: FuzzReport): string {
  const rate = r.elapsedMs > 0 ? Math.round((r.inputs / r.elapsedMs) * 1000) : 0;
  const lines = [
    `${r.target}: ${r.inputs} inputs (seed ${r.seed}), ${r.accepted} accepted, ` +
      `${r.inputs - r.accepted - r.crashes - r.wrong} rejected, ${r.crashes} crashes, ${r.wrong} wrong, ` +
      `${rate} inputs/s, slowest input ${r.slowest.ms.toFixed(2)} ms (#${r.slowest.index})`,
  ];
  for (const [reason, n] of [...r.rejected].sort((a, b) => b[1] - a[1]))
    lines.push(`  rejected ${String(n).padStart(9)}  ${reason}`);
  for (const f of r.failures) lines.push(`  ${f.kind.toUpperCase()} at input ${f.index}: ${f.detail}`);
  return lines.join("\n");
}
