// The agent's status writer while the API server is away: retries back off (to 30 s), and
// retryNow() (called when the agent's Lease goes through again) writes at once instead of at the
// end of the backoff, so status is right within seconds of the server's return.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { NodeEntry } from "../../src/cluster/status.ts";
import { StatusWriter } from "../../src/cluster-mode/status-writer.ts";

const log = pino({ level: "silent" });
const entry = (state: NodeEntry["state"]) => ({ name: "n1", state }) as NodeEntry;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("StatusWriter", () => {
  it("backs off while writes fail, and retryNow() writes at once when the server is back", async () => {
    let up = false;
    const written: string[] = [];
    const w = new StatusWriter(
      (router, e) => {
        if (!up) return Promise.reject(new Error("fetch failed"));
        written.push(`${router}=${e.state}`);
        return Promise.resolve();
      },
      log,
      10,
    );
    w.report("web", entry("Master"));
    // Attempts at ~10 ms, then 500, 1000 ms after each other: two or three in 1.2 s.
    await sleep(1200);
    const failures = w.stats.failures;
    expect(failures).toBeGreaterThanOrEqual(2);
    expect(failures).toBeLessThanOrEqual(3);
    up = true;
    w.retryNow();
    await sleep(100); // the next backoff step would be ≥ 1 s away
    expect(written).toEqual(["web=Master"]);
    // Nothing pending, no backoff: retryNow() does nothing.
    w.retryNow();
    await sleep(50);
    expect(w.stats.writes).toBe(1);
    w.stop();
  });
});
