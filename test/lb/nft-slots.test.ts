// Fixed slot counts and stable slot assignment: shares follow weights, and a change moves only
// the slots it must.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Destination } from "../../src/lb/model.ts";
import { MAX_SLOTS, slotCount, stableSlots } from "../../src/lb/slots.ts";

const servers = fc
  .uniqueArray(
    fc.record({
      address: fc.integer({ min: 1, max: 250 }).map((n) => `198.19.0.${n}`),
      weight: fc.integer({ min: 0, max: 100 }),
    }),
    { minLength: 1, maxLength: 12, selector: (s) => s.address },
  )
  .map((list) => list.map((s): Destination => ({ ...s, port: 80 })));

const counts = (slots: readonly (Destination | undefined)[]) => {
  const out = new Map<string, number>();
  for (const d of slots) if (d) out.set(d.address, (out.get(d.address) ?? 0) + 1);
  return out;
};

describe("slot count", () => {
  it("a multiple of the weighted slots, at least MIN_SLOTS, at most MAX_SLOTS", () => {
    expect(
      slotCount([
        { address: "a", port: 1, weight: 1 },
        { address: "b", port: 1, weight: 2 },
      ]),
    ).toBe(120);
    expect(slotCount([{ address: "a", port: 1, weight: 7 }])).toBe(126);
    expect(
      slotCount([
        { address: "a", port: 1, weight: 50 },
        { address: "b", port: 1, weight: 55 },
      ]),
    ).toBe(210);
    expect(
      slotCount([
        { address: "a", port: 1, weight: 1000 },
        { address: "b", port: 1, weight: 3000 },
      ]),
    ).toBe(MAX_SLOTS);
  });
});

describe("stable slots", () => {
  it("fill every slot, each live server within one slot of its weighted share", () => {
    fc.assert(
      fc.property(servers, fc.integer({ min: 1, max: 256 }), (list, n) => {
        const slots = stableSlots(n, list);
        const live = list.filter((d) => d.weight > 0);
        if (live.length === 0) return slots.length === n && slots.every((d) => d === undefined);
        const total = live.reduce((s, d) => s + d.weight, 0);
        const c = counts(slots);
        expect(slots.every((d) => d && d.weight > 0)).toBe(true);
        for (const d of live)
          expect(Math.abs((c.get(d.address) ?? 0) - (n * d.weight) / total)).toBeLessThan(1);
        return slots.length === n;
      }),
    );
  });

  it("a server's failure moves its own slots and at most one more per server; its return about as many as it gets back", () => {
    fc.assert(
      fc.property(servers, fc.nat(), (list, pick) => {
        const live = list.filter((d) => d.weight > 0);
        fc.pre(live.length >= 2);
        const n = slotCount(list);
        const failed = live[pick % live.length]!;
        const before = stableSlots(n, list);
        const after = stableSlots(
          n,
          list.filter((d) => d !== failed),
          before,
        );
        // Besides its own, at most one slot per other server moves (rounding of the shares).
        const others = before.filter((d, i) => d !== failed && after[i]!.address !== d!.address);
        expect(others.length).toBeLessThan(live.length);
        const back = stableSlots(n, list, after);
        const moved = back.filter((d, i) => d!.address !== after[i]!.address).length;
        expect(moved).toBeLessThanOrEqual((counts(back).get(failed.address) ?? 0) + live.length - 1);
      }),
    );
  });
});
