// CI's share of bench/fuzz.ts: the same targets, a few thousand inputs each at a fixed seed. Each
// input is valid or a mutation of a valid one; every outcome must be acceptance with the fields
// the bytes carry or a rejection with the decoder's own reason (test/support/fuzz/).
import { describe, expect, it } from "vitest";
import { ipvsTarget } from "../support/fuzz/ipvs.ts";
import { keepalivedTarget } from "../support/fuzz/keepalived.ts";
import { formatReport, runFuzz, type FuzzTarget } from "../support/fuzz/run.ts";
import { vrrpTarget } from "../support/fuzz/vrrp.ts";

const SEED = 20261205;

/** The share per target, and rejection reasons the share must reach (so a generator gone blind fails). */
const cases: [FuzzTarget, number, string[]][] = [
  [
    vrrpTarget,
    5000,
    [
      "bad-length",
      "bad-version",
      "bad-type",
      "bad-checksum",
      "bad-auth-type",
      "bad-ttl",
      "bad-ip-header",
      "too-short",
    ],
  ],
  [
    ipvsTarget,
    5000,
    ["malformed-datagram", "bad-family", "bad-address", "bad-port", "no-service", "no-dest"],
  ],
  [keepalivedTarget, 2000, ["'{' is never closed", "unterminated quoted string"]],
];

describe("fuzzing the decoders of outside input", () => {
  for (const [target, count, reasons] of cases) {
    it(`${target.name}: ${count} inputs, no crash, no wrong answer`, () => {
      const r = runFuzz(target, SEED, count);
      expect(r.crashes + r.wrong, formatReport(r)).toBe(0);
      expect(r.accepted).toBeGreaterThan(count / 20);
      const seen = [...r.rejected.keys()];
      for (const reason of reasons)
        expect(
          seen.some((s) => s.includes(reason.replace(/'[^']*'/g, "_"))),
          `${reason} in\n${formatReport(r)}`,
        ).toBe(true);
    }, 60_000); // a hang guard, not a speed check: the share takes a few seconds
  }

  it("counts what a decoder throws as a crash, and a wrong answer as one, with the input that replays it", () => {
    let n = 0;
    const flaky: FuzzTarget = {
      name: "flaky",
      one: (rng) => {
        n++;
        if (rng.chance(0.5)) throw new TypeError("boom");
        return { kind: "wrong", detail: "off" };
      },
    };
    const r = runFuzz(flaky, 1, 100);
    expect(n).toBe(100);
    expect(r.crashes + r.wrong).toBe(100);
    expect(r.crashes).toBeGreaterThan(20);
    expect(r.failures[0]).toMatchObject({ index: 0 });
    // Input I of seed S is the same input however it is reached: alone, or in a run.
    const alone = runFuzz(flaky, 1, 1, r.failures[3]!.index);
    expect(alone.failures[0]!.kind).toBe(r.failures[3]!.kind);
  });
});
