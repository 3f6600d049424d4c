// The supervisor with real child processes: crash handling, restart, graceful stop, stop timeout.
import { fork } from "node:child_process";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { Supervisor } from "../../src/agent/supervisor.ts";

// A stand-in engine: reports itself master of "web/ipv4", exits 0 on SIGTERM unless told to hang.
// Its SIGTERM handler is in place before it reports: a stop may follow the report at once.
const dir = mkdtempSync(join(tmpdir(), "vk-sup-"));
const ENGINE = join(dir, "engine.mjs");
writeFileSync(
  ENGINE,
  `if (process.argv[2] !== "hang") process.on("SIGTERM", () => process.exit(0));
   else process.on("SIGTERM", () => {});
   process.send({ type: "state", masters: process.argv[2] === "backup" ? [] : ["web/ipv4"] });
   setInterval(() => {}, 1000);`,
);

const log = pino({ level: "silent" });
const waitFor = async (cond: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe("supervisor", () => {
  it("resigns at once for what a killed engine held, then restarts it", async () => {
    const resigned: { keys: string[]; at: number }[] = [];
    const sup = new Supervisor({
      spawn: () => fork(ENGINE, [], { stdio: "ignore" }),
      resign: (keys) => Promise.resolve(void resigned.push({ keys, at: Date.now() })),
      log,
      restartDelayMs: 50,
    });
    sup.start();
    await waitFor(() => sup.heldMasters().length === 1);
    const first = sup.pid!;
    const killedAt = Date.now();
    process.kill(first, "SIGKILL");
    await waitFor(() => resigned.length === 1);
    expect(resigned[0]!.keys).toEqual(["web/ipv4"]);
    expect(resigned[0]!.at - killedAt).toBeLessThan(1000);
    await waitFor(() => sup.pid !== first && sup.heldMasters().length === 1);
    expect(sup.crashes).toBe(1);
    await sup.stop();
    expect(resigned).toHaveLength(1); // a graceful stop resigns by itself
  });

  it("kills and resigns for an engine that ignores SIGTERM past the grace period", async () => {
    const resigned: string[][] = [];
    const sup = new Supervisor({
      spawn: () => fork(ENGINE, ["hang"], { stdio: "ignore" }),
      resign: (keys) => Promise.resolve(void resigned.push(keys)),
      log,
      stopGraceMs: 200,
    });
    sup.start();
    await waitFor(() => sup.heldMasters().length === 1);
    await sup.stop();
    expect(resigned).toEqual([["web/ipv4"]]);
  });

  it("cleans up after a dead engine that held no master, before restarting it; not after a graceful stop", async () => {
    const events: string[] = [];
    const sup = new Supervisor({
      spawn: () => {
        events.push("spawn");
        return fork(ENGINE, ["backup"], { stdio: "ignore" });
      },
      resign: () => Promise.resolve(void events.push("resign")),
      cleanup: (pid) => new Promise((r) => setTimeout(() => r(events.push(`cleanup ${pid}`)), 50)),
      log,
      restartDelayMs: 10,
    });
    sup.start();
    await waitFor(() => sup.pid !== undefined);
    await new Promise((r) => setTimeout(r, 200));
    const dead = sup.pid!;
    process.kill(dead, "SIGKILL");
    await waitFor(() => events.length >= 3);
    // For the engine that died (its pid marks what it made), not the next one.
    expect(events).toEqual(["spawn", `cleanup ${dead}`, "spawn"]);
    await new Promise((r) => setTimeout(r, 200));
    await sup.stop();
    expect(events).toEqual(["spawn", `cleanup ${dead}`, "spawn"]);
  });
});
