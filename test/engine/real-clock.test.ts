// The engine's clock after a stall: input that arrived while the process was held up is read
// before a timer that fell due meanwhile runs (a backup's Master_Down_Timer must see the adverts
// that came in time).
import { spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { describe, expect, it } from "vitest";
import { realClock } from "../../src/engine/engine-process.ts";

describe("the engine's real clock", () => {
  it("runs a timer that fires late after the input that came while the loop was held up", async () => {
    const sock = createSocket("udp4");
    await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
    const order: string[] = [];
    sock.on("message", () => order.push("datagram"));
    const ran = new Promise<void>((resolve) =>
      realClock.setTimeout(() => {
        order.push("timer");
        resolve();
      }, 5),
    );
    // The loop is held up (spawnSync blocks it) past the timer's 5 ms, and a datagram arrives in
    // the meantime.
    const r = spawnSync(process.execPath, [
      "-e",
      `const s = require("node:dgram").createSocket("udp4");
       s.send("advert", ${sock.address().port}, "127.0.0.1", () => { s.close(); setTimeout(() => {}, 30); });`,
    ]);
    expect(r.status).toBe(0);
    await ran;
    sock.close();
    expect(order).toEqual(["datagram", "timer"]);
  });

  it("runs a timer on time without waiting for a poll, and cancels one deferred", async () => {
    let fired = 0;
    await new Promise<void>((resolve) =>
      realClock.setTimeout(() => {
        fired++;
        resolve();
      }, 1),
    );
    expect(fired).toBe(1);
    // Both timers fall due while the loop is held up; Node runs both in one timers phase, so the
    // second cancels the first after it deferred itself and before it ran.
    const t = realClock.setTimeout(() => fired++, 1);
    setTimeout(() => t.cancel(), 1);
    const until = performance.now() + 10;
    while (performance.now() < until);
    await new Promise((r) => setTimeout(r, 5));
    expect(fired).toBe(1);
  });
});
