// The one pass scheduler both status writers use: asks coalesce, a failed pass is retried after a
// backoff, and retryNow() cuts the backoff short.
import { describe, expect, it } from "vitest";
import { CoalescedPasses } from "../../src/base/coalesced-passes.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("CoalescedPasses", () => {
  it("runs one pass for many asks, and one more for asks made during a pass", async () => {
    let passes = 0;
    let release: () => void = () => undefined;
    const p = new CoalescedPasses(
      async () => {
        passes++;
        await new Promise<void>((r) => (release = r));
        return true;
      },
      { delayMs: 5, backoff: { firstMs: 1000, maxMs: 1000 } },
    );
    for (let i = 0; i < 10; i++) p.request();
    await sleep(30);
    expect(passes).toBe(1);
    for (let i = 0; i < 10; i++) p.request(); // during the pass
    release();
    await sleep(30);
    expect(passes).toBe(2);
    release();
    await p.idle();
    expect(passes).toBe(2);
  });

  it("runs a failed pass again after the backoff, or at once on retryNow()", async () => {
    const at: number[] = [];
    let ok = false;
    const start = performance.now();
    const p = new CoalescedPasses(
      () => {
        at.push(performance.now() - start);
        return Promise.resolve(ok);
      },
      { delayMs: 5, backoff: { firstMs: 200, maxMs: 200, jitter: 0 } },
    );
    p.request();
    await sleep(300);
    expect(at).toHaveLength(2); // at ~5 ms, then ~200 ms later
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(190);
    expect(p.backingOff).toBe(true);
    ok = true;
    p.retryNow();
    await p.idle();
    expect(at).toHaveLength(3);
    expect(at[2]! - at[1]!).toBeLessThan(190); // not the backoff's 200 ms
    expect(p.backingOff).toBe(false);
    p.stop();
  });
});
