import { describe, expect, it } from "vitest";
import { WorkQueue } from "../../src/kube/work-queue.ts";
import { decide } from "../../src/kube/leader-election.ts";

const tick = () => new Promise((r) => setTimeout(r, 5));

describe("work queue", () => {
  it("queues a waiting key once and never runs one key twice at once", async () => {
    const q = new WorkQueue<string>();
    const log: string[] = [];
    let running = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const done = q.run(3, async (key) => {
      running++;
      expect(running).toBe(1);
      log.push(`start ${key}`);
      if (log.length === 1) await gate;
      log.push(`end ${key}`);
      running--;
    });
    q.add("a");
    q.add("a");
    await tick();
    q.add("a"); // while a runs: once more afterwards
    q.add("a");
    release();
    await tick();
    await tick();
    q.shutDown();
    await done;
    expect(log).toEqual(["start a", "end a", "start a", "end a"]);
  });

  it("retries a failing key with growing backoff, and forgets it on success", async () => {
    const q = new WorkQueue<string>({ baseDelayMs: 5 });
    const at: number[] = [];
    const t0 = Date.now();
    const done = q.run(1, () => {
      at.push(Date.now() - t0);
      return at.length < 4 ? Promise.reject(new Error("not yet")) : Promise.resolve();
    });
    q.add("k");
    await new Promise((r) => setTimeout(r, 150));
    q.shutDown();
    await done;
    expect(at).toHaveLength(4);
    // Gaps double: 5, 10, 20 ms (at least).
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(9);
    expect(at[3]! - at[2]!).toBeGreaterThanOrEqual(19);
  });
});

describe("leader election rules", () => {
  const lease = (holder: string, seconds = 15) => ({
    spec: { holderIdentity: holder, leaseDurationSeconds: seconds },
  });
  it("creates an absent lease, renews its own, takes an empty one", () => {
    expect(decide(undefined, "me", undefined, 0, 15_000)).toBe("create");
    expect(decide(lease("me"), "me", 0, 0, 15_000)).toBe("renew");
    expect(decide(lease(""), "me", 0, 0, 15_000)).toBe("take");
  });
  it("judges another holder by when we saw its record change, not by its renewTime", () => {
    expect(decide(lease("other"), "me", 1000, 15_999, 15_000)).toBe("wait");
    expect(decide(lease("other"), "me", 1000, 16_000, 15_000)).toBe("take");
    // Never observed yet: wait (we cannot know how old it is).
    expect(decide(lease("other"), "me", undefined, 1e12, 15_000)).toBe("wait");
  });
});
