import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WorkQueue } from "../../src/kube/work-queue.ts";
import { FakeClock } from "../support/fake-clock.ts";

const settle = () => new Promise<void>((r) => setImmediate(r));

/** A handler whose calls wait until the test lets them go. */
function gatedHandler() {
  const calls: { key: string; at: number; release(err?: Error): void }[] = [];
  let running = 0;
  let maxRunning = 0;
  const clock = new FakeClock();
  const handler = (key: string) =>
    new Promise<void>((resolve, reject) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      calls.push({
        key,
        at: clock.now(),
        release: (err) => {
          running--;
          if (err) reject(err);
          else resolve();
        },
      });
    });
  return { calls, handler, clock, maxRunning: () => maxRunning };
}

describe("work queue", () => {
  it("queues a waiting key once", async () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    q.add("a");
    q.add("b");
    q.add("a");
    expect(q.length).toBe(2);
    expect(await q.get()).toBe("a");
    expect(await q.get()).toBe("b");
  });

  it("never processes one key twice at once; a key added meanwhile runs once more after done", async () => {
    const g = gatedHandler();
    const q = new WorkQueue<string>({ clock: g.clock });
    const done = q.run(3, g.handler);
    q.add("a");
    await settle();
    expect(g.calls.map((c) => c.key)).toEqual(["a"]);
    q.add("a");
    q.add("a");
    q.add("b");
    await settle();
    // b runs beside a; the second a waits for the first to finish.
    expect(g.calls.map((c) => c.key)).toEqual(["a", "b"]);
    g.calls[0]!.release();
    await settle();
    expect(g.calls.map((c) => c.key)).toEqual(["a", "b", "a"]);
    g.calls[1]!.release();
    g.calls[2]!.release();
    await settle();
    expect(g.calls).toHaveLength(3);
    q.shutDown();
    await done;
  });

  it("retries failures after 5, 10, 20 ms and so on; success forgets the count", async () => {
    const g = gatedHandler();
    const q = new WorkQueue<string>({ clock: g.clock });
    const done = q.run(1, g.handler);
    q.add("k");
    await settle();
    for (let i = 0; i < 4; i++) {
      g.calls.at(-1)!.release(new Error("not yet"));
      await g.clock.advance(0);
      const delay = 5 * 2 ** i;
      await g.clock.advance(delay - 1);
      expect(g.calls).toHaveLength(i + 1); // not before its backoff
      await g.clock.advance(1);
      expect(g.calls).toHaveLength(i + 2);
    }
    expect(q.numRequeues("k")).toBe(4);
    g.calls.at(-1)!.release();
    await settle();
    expect(q.numRequeues("k")).toBe(0);
    expect(q.backoffOf("k")).toBe(5);
    expect(q.failed).toBe(4);
    q.shutDown();
    await done;
  });

  it("caps the backoff (client-go's 1000 s by default, or as configured)", () => {
    const q = new WorkQueue<string>({ clock: new FakeClock() });
    for (let i = 0; i < 40; i++) q.addRateLimited("x");
    expect(q.backoffOf("x")).toBe(1_000_000);
    const small = new WorkQueue<string>({ clock: new FakeClock(), baseDelayMs: 100, maxDelayMs: 250 });
    small.addRateLimited("y");
    expect(small.backoffOf("y")).toBe(200);
    small.addRateLimited("y");
    expect(small.backoffOf("y")).toBe(250);
    expect(() => new WorkQueue({ baseDelayMs: 0 })).toThrow(/baseDelayMs/);
    expect(() => new WorkQueue({ baseDelayMs: 10, maxDelayMs: 5 })).toThrow(/maxDelayMs/);
  });

  it("addAfter adds once when due; of two delays for one key the earlier wins", async () => {
    const clock = new FakeClock();
    const q = new WorkQueue<string>({ clock });
    q.addAfter("a", 100);
    q.addAfter("a", 50);
    q.addAfter("a", 80);
    await clock.advance(49);
    expect(q.length).toBe(0);
    await clock.advance(1);
    expect(q.length).toBe(1);
    await clock.advance(100);
    expect(q.length).toBe(1); // the 100 ms timer was replaced, not added twice
  });

  it("shutDown drains: queued and in-flight keys finish, delayed ones are dropped, new ones refused", async () => {
    const g = gatedHandler();
    const q = new WorkQueue<string>({ clock: g.clock });
    q.add("a");
    q.add("b");
    q.addAfter("later", 10);
    const done = q.run(1, g.handler);
    await settle();
    q.shutDown();
    q.add("c");
    let finished = false;
    void done.then(() => (finished = true));
    g.calls[0]!.release();
    await settle();
    expect(g.calls.map((c) => c.key)).toEqual(["a", "b"]);
    expect(finished).toBe(false);
    g.calls[1]!.release();
    await g.clock.advance(20);
    await done;
    expect(g.calls.map((c) => c.key)).toEqual(["a", "b"]);
  });

  it("property: against a model of client-go's queue over random add/get/done sequences", async () => {
    type Op = { op: "add"; key: string } | { op: "get" } | { op: "done"; pick: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant("add" as const), key: fc.constantFrom("a", "b", "c", "d") }),
      fc.record({ op: fc.constant("get" as const) }),
      fc.record({ op: fc.constant("done" as const), pick: fc.nat(10) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const q = new WorkQueue<string>({ clock: new FakeClock() });
        const waiting: string[] = [];
        const processing: string[] = [];
        const dirty = new Set<string>();
        for (const o of ops) {
          if (o.op === "add") {
            q.add(o.key);
            if (processing.includes(o.key)) dirty.add(o.key);
            else if (!waiting.includes(o.key)) waiting.push(o.key);
          } else if (o.op === "get") {
            if (waiting.length === 0) continue; // get() would wait
            const key = await q.get();
            expect(key).toBe(waiting.shift());
            expect(processing).not.toContain(key);
            processing.push(key!);
          } else if (processing.length) {
            const [key] = processing.splice(o.pick % processing.length, 1);
            q.done(key!);
            if (dirty.delete(key!)) waiting.push(key!);
          }
          expect(q.length).toBe(waiting.length);
        }
      }),
      { numRuns: 300 },
    );
  });
});
