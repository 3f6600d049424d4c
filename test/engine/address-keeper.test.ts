// The dead man's switch's bookkeeping, with fake netlink requests and a hand-driven interval: what
// is bound is renewed with its lifetime, what is released never is again, and a release never runs
// before a renewal of the same address already under way.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { AddressKeeper, DEFAULT_ADDRESS_LIFETIME, type Interval } from "../../src/engine/address-keeper.ts";
import type { PlannedAddress } from "../../src/plan/plan.ts";
import { parseAgentArgs } from "../../src/cli/agent.ts";

const log = pino({ level: "silent" });
const vip = (address: string): PlannedAddress => ({
  address,
  prefixLength: address.includes(":") ? 64 : 24,
  family: address.includes(":") ? 6 : 4,
  dev: "eth0",
});

function fake() {
  const calls: string[] = [];
  let gate: Promise<void> | undefined;
  const ops = {
    async put(a: PlannedAddress, lifetimeSec: number | undefined) {
      calls.push(`put ${a.address} ${lifetimeSec ?? "forever"}`);
      await gate;
    },
    remove(a: PlannedAddress) {
      calls.push(`remove ${a.address}`);
      return Promise.resolve();
    },
  };
  let tick: (() => void) | undefined;
  const interval: Interval = {
    set(fn) {
      tick = fn;
      return { cancel: () => (tick = undefined) };
    },
  };
  return {
    calls,
    ops,
    interval,
    tick: () => tick?.(),
    get ticking() {
      return tick !== undefined;
    },
    hold: () => {
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      return () => {
        gate = undefined;
        open();
      };
    },
  };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe("AddressKeeper", () => {
  it("binds with the lifetime and renews every held address on each tick, and only those", async () => {
    const f = fake();
    const k = new AddressKeeper(f.ops, DEFAULT_ADDRESS_LIFETIME, log, f.interval);
    await k.bind([vip("198.18.0.50"), vip("2001:db8::50")]);
    expect(f.calls).toEqual(["put 198.18.0.50 2", "put 2001:db8::50 2"]);
    f.calls.length = 0;
    f.tick();
    await settle();
    expect(f.calls).toEqual(["put 198.18.0.50 2", "put 2001:db8::50 2"]);
    f.calls.length = 0;
    await k.release([vip("198.18.0.50")]);
    f.tick();
    await settle();
    expect(f.calls).toEqual(["remove 198.18.0.50", "put 2001:db8::50 2"]);
    expect(k.holding().map((a) => a.address)).toEqual(["2001:db8::50"]);
    k.close();
    expect(f.ticking).toBe(false);
  });

  it("a release asked during a renewal round runs after it and stops that address's renewal at once", async () => {
    const f = fake();
    const k = new AddressKeeper(f.ops, DEFAULT_ADDRESS_LIFETIME, log, f.interval);
    await k.bind([vip("198.18.0.50"), vip("198.18.0.51")]);
    f.calls.length = 0;
    const open = f.hold();
    const round = k.renewAll();
    await settle(); // the round is inside its first put, held open
    const released = k.release([vip("198.18.0.50"), vip("198.18.0.51")]);
    open();
    await Promise.all([round, released]);
    // .50 was being renewed when the release came: the removal follows it; .51 is not renewed.
    expect(f.calls).toEqual(["put 198.18.0.50 2", "remove 198.18.0.50", "remove 198.18.0.51"]);
  });

  it("a round still under way is not doubled by the next tick", async () => {
    const f = fake();
    const k = new AddressKeeper(f.ops, DEFAULT_ADDRESS_LIFETIME, log, f.interval);
    await k.bind([vip("198.18.0.50")]);
    f.calls.length = 0;
    const open = f.hold();
    f.tick();
    f.tick();
    f.tick();
    open();
    await settle();
    await settle();
    expect(f.calls).toEqual(["put 198.18.0.50 2"]);
    expect(k.rounds).toBe(1);
  });

  it("a failed renewal is counted and the round goes on with the other addresses", async () => {
    const f = fake();
    let renewing = false;
    const k = new AddressKeeper(
      {
        put: (a) => {
          if (renewing && a.address.endsWith(".50")) return Promise.reject(new Error("ENODEV"));
          f.calls.push(`put ${a.address}`);
          return Promise.resolve();
        },
        remove: () => Promise.resolve(),
      },
      DEFAULT_ADDRESS_LIFETIME,
      log,
      f.interval,
    );
    await k.bind([vip("198.18.0.51"), vip("198.18.0.50")]);
    renewing = true;
    await k.renewAll();
    expect(k.renewErrors).toBe(1);
    expect(f.calls).toEqual(["put 198.18.0.51", "put 198.18.0.50", "put 198.18.0.51"]);
  });

  it("without a lifetime (the switch off) addresses are bound permanently and never renewed", async () => {
    const f = fake();
    const k = new AddressKeeper(f.ops, undefined, log, f.interval);
    expect(f.ticking).toBe(false);
    await k.bind([vip("198.18.0.50")]);
    await k.renewAll();
    expect(f.calls).toEqual(["put 198.18.0.50 forever"]);
  });

  it("the lifetime leaves a dead node within 3 s and a live engine 1.5 s of stall", () => {
    const { lifetimeSec, renewMs } = DEFAULT_ADDRESS_LIFETIME;
    // The kernel removes an address lifetime..lifetime+0.25 s after its last renewal.
    expect(lifetimeSec * 1000 + 250).toBeLessThanOrEqual(3000 - 500);
    expect(lifetimeSec * 1000 - renewMs).toBeGreaterThanOrEqual(1500);
  });

  it("the agent's --permanent-addresses turns the switch off; it is on by default", () => {
    expect(parseAgentArgs(["--config", "f.yaml", "--node", "n1"])).not.toHaveProperty("permanentAddresses");
    expect(parseAgentArgs(["--config", "f.yaml", "--node", "n1", "--permanent-addresses"])).toMatchObject({
      permanentAddresses: true,
    });
    expect(parseAgentArgs(["--cluster", "--node", "n1", "--permanent-addresses"])).toMatchObject({
      permanentAddresses: true,
    });
  });
});
