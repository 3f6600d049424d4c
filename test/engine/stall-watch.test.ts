// The engine's stall watch: on time is nothing; a stall is logged with the CPU it used.
import pino from "pino";
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { stallOf, watchStalls } from "../../src/engine/stall-watch.ts";

describe("the engine's stall watch", () => {
  it("tells a tick on time from a stall, and reports the stall's CPU and collector time", () => {
    expect(stallOf(60, 1000, 0)).toBeUndefined();
    expect(stallOf(149, 1000, 0)).toBeUndefined();
    expect(stallOf(350, 290_000, 12.4)).toEqual({ heldUpMs: 300, cpuMs: 290, gcMs: 12 });
  });

  it("logs a busy stall of the event loop with the CPU it used", async () => {
    const lines: string[] = [];
    const log = pino(
      { level: "warn" },
      new Writable({
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const watch = watchStalls(log);
    await new Promise((r) => setTimeout(r, 60)); // one tick on time
    const until = performance.now() + 300;
    while (performance.now() < until); // the loop held up, busy
    await new Promise((r) => setTimeout(r, 120));
    watch.stop();
    expect(lines).toHaveLength(1);
    const stall = JSON.parse(lines[0]!) as { heldUpMs: number; cpuMs: number; msg: string };
    expect(stall.heldUpMs).toBeGreaterThanOrEqual(200);
    // Busy: it used CPU meanwhile (as much as it was given; on a loaded machine less than the wait).
    expect(stall.cpuMs).toBeGreaterThan(0);
    expect(stall.cpuMs).toBeLessThanOrEqual(stall.heldUpMs + 2 * 50);
    expect(stall.msg).toMatch(/^the engine was held up for \d+ ms$/);
  });
});
