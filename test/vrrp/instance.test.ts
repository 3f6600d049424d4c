// Rule-by-rule tests of the state machine (RFC 9568 section 6, RFC 3768 for v2, keepalived's Fault).
import { describe, expect, it } from "vitest";
import { VrrpInstance, type Effect, type InstanceConfig } from "../../src/vrrp/instance.ts";
import type { Advert } from "../../src/vrrp/packet.ts";
import { masterDownIntervalMs, skewTimeMs } from "../../src/vrrp/timers.ts";

const ME = "198.18.0.12";
const LOWER_PEER = "198.18.0.11";
const HIGHER_PEER = "198.18.0.13";

function make(over: Partial<InstanceConfig> = {}): VrrpInstance {
  return new VrrpInstance({
    version: 3,
    vrid: 51,
    priority: 100,
    advertIntervalMs: 1000,
    preempt: true,
    preemptDelayMs: 0,
    primaryAddress: ME,
    addresses: ["198.18.0.50"],
    advertOnLowerPriority: true,
    ...over,
  });
}

const advert = (priority: number, intervalCs = 100, version: 2 | 3 = 3): Advert => ({
  version,
  vrid: 51,
  priority,
  intervalCs,
  addresses: ["198.18.0.50"],
});

const types = (effects: Effect[]) =>
  effects.map((e) => (e.type === "transition" ? `${e.from}->${e.to}:${e.reason}` : e.type));
const sentPriorities = (effects: Effect[]) =>
  effects.flatMap((e) => (e.type === "send-advert" ? [e.advert.priority] : []));

/** Drives an instance to Master through its Master_Down_Timer. */
function master(over: Partial<InstanceConfig> = {}): { vr: VrrpInstance; now: number } {
  const vr = make(over);
  vr.start(0);
  const now = vr.nextDeadline()!;
  vr.tick(now);
  expect(vr.state).toBe("master");
  return { vr, now };
}

describe("Initialize", () => {
  it("a non-owner starts as Backup with Master_Down_Timer = Master_Down_Interval", () => {
    const vr = make();
    expect(types(vr.start(0))).toEqual(["initialize->backup:startup"]);
    expect(vr.nextDeadline()).toBeCloseTo(masterDownIntervalMs(3, 100, 1000), 9);
  });

  it("the address owner (255) becomes Master at once: binds, advertises, announces", () => {
    const vr = make({ priority: 255 });
    const effects = vr.start(0);
    expect(types(effects)).toEqual([
      "initialize->master:address-owner",
      "bind-addresses",
      "send-advert",
      "announce",
    ]);
    expect(sentPriorities(effects)).toEqual([255]);
    expect(vr.nextDeadline()).toBe(1000);
  });

  it("start is idempotent", () => {
    const vr = make();
    vr.start(0);
    expect(vr.start(5)).toEqual([]);
  });
});

describe("Backup", () => {
  it("becomes Master when Master_Down_Timer fires, not before", () => {
    const vr = make();
    vr.start(0);
    const down = vr.nextDeadline()!;
    expect(vr.tick(down - 0.001)).toEqual([]);
    expect(types(vr.tick(down))).toEqual([
      "backup->master:master-down",
      "bind-addresses",
      "send-advert",
      "announce",
    ]);
  });

  it("an advert of higher or equal priority resets the timer to Master_Down_Interval", () => {
    const vr = make();
    vr.start(0);
    vr.receive(advert(150), HIGHER_PEER, 2000);
    expect(vr.nextDeadline()).toBeCloseTo(2000 + masterDownIntervalMs(3, 100, 1000), 9);
    vr.receive(advert(100), LOWER_PEER, 3000);
    expect(vr.nextDeadline()).toBeCloseTo(3000 + masterDownIntervalMs(3, 100, 1000), 9);
  });

  it("priority 0 sets the timer to Skew_Time", () => {
    const vr = make();
    vr.start(0);
    vr.receive(advert(0), HIGHER_PEER, 2000);
    expect(vr.nextDeadline()).toBeCloseTo(2000 + skewTimeMs(3, 100, 1000), 9);
    expect(types(vr.tick(vr.nextDeadline()!))[0]).toBe("backup->master:master-resigned");
  });

  it("with preempt, a lower-priority advert is discarded, so the timer runs out", () => {
    const vr = make();
    vr.start(0);
    const deadline = vr.nextDeadline();
    vr.receive(advert(50), LOWER_PEER, 1000);
    expect(vr.nextDeadline()).toBe(deadline);
  });

  it("without preempt, a lower-priority master is obeyed", () => {
    const vr = make({ preempt: false });
    vr.start(0);
    vr.receive(advert(50), LOWER_PEER, 1000);
    expect(vr.nextDeadline()).toBeCloseTo(1000 + masterDownIntervalMs(3, 100, 1000), 9);
  });

  it("preempt delay obeys a lower-priority master until the delay after first seeing it has passed", () => {
    const vr = make({ preemptDelayMs: 5000 });
    vr.start(0);
    for (let t = 1000; t <= 5000; t += 1000) {
      vr.receive(advert(50), LOWER_PEER, t);
      expect(vr.nextDeadline()).toBeCloseTo(t + masterDownIntervalMs(3, 100, 1000), 9);
    }
    // The window opened at t=1000 and ends at t=6000: from then on lower adverts are discarded.
    vr.receive(advert(50), LOWER_PEER, 6000);
    const deadline = vr.nextDeadline()!;
    expect(deadline).toBeCloseTo(5000 + masterDownIntervalMs(3, 100, 1000), 9);
    vr.receive(advert(50), LOWER_PEER, 7000);
    expect(vr.nextDeadline()).toBe(deadline);
    expect(types(vr.tick(deadline))[0]).toBe("backup->master:master-down");
  });

  it("v3 learns Master_Adver_Interval from the master's adverts", () => {
    const vr = make();
    vr.start(0);
    vr.receive(advert(150, 10), HIGHER_PEER, 1000);
    expect(vr.learnedMasterAdverIntervalMs).toBe(100);
    expect(vr.nextDeadline()).toBeCloseTo(1000 + masterDownIntervalMs(3, 100, 100), 9);
  });

  it("v2 keeps its own interval", () => {
    const vr = make({ version: 2 });
    vr.start(0);
    vr.receive(advert(150, 100, 2), HIGHER_PEER, 1000);
    expect(vr.learnedMasterAdverIntervalMs).toBe(1000);
    expect(vr.nextDeadline()).toBeCloseTo(1000 + masterDownIntervalMs(2, 100, 1000), 9);
  });

  it("shutdown cancels the timer and returns to Initialize without a word", () => {
    const vr = make();
    vr.start(0);
    expect(types(vr.stop(10))).toEqual(["backup->initialize:shutdown"]);
    expect(vr.nextDeadline()).toBeUndefined();
  });
});

describe("Master", () => {
  it("sends an advert every Advertisement_Interval", () => {
    const { vr, now } = master();
    expect(vr.nextDeadline()).toBe(now + 1000);
    expect(sentPriorities(vr.tick(now + 1000))).toEqual([100]);
    expect(vr.nextDeadline()).toBe(now + 2000);
  });

  it("counts the next advert from when the last was due, so a late timer does not stretch the interval", () => {
    const { vr, now } = master();
    // Fired 0.7 ms late: the next is still due one interval after the last was due.
    expect(sentPriorities(vr.tick(now + 1000.7))).toEqual([100]);
    expect(vr.nextDeadline()).toBe(now + 2000);
    // Held up for over an interval: one advert now, the next an interval on (no burst).
    expect(sentPriorities(vr.tick(now + 3500))).toEqual([100]);
    expect(vr.nextDeadline()).toBe(now + 4500);
  });

  it("steps down to a higher priority, releasing its addresses and learning the interval", () => {
    const { vr, now } = master();
    const effects = vr.receive(advert(150, 50), HIGHER_PEER, now + 10);
    expect(types(effects)).toEqual(["release-addresses", "master->backup:higher-priority"]);
    expect(vr.nextDeadline()).toBeCloseTo(now + 10 + masterDownIntervalMs(3, 100, 500), 9);
  });

  it("at equal priority, steps down only to a higher primary address", () => {
    const a = master();
    expect(types(a.vr.receive(advert(100), LOWER_PEER, a.now + 1))).toEqual(["send-advert"]);
    expect(a.vr.state).toBe("master");
    const b = master();
    expect(types(b.vr.receive(advert(100), HIGHER_PEER, b.now + 1))).toEqual([
      "release-addresses",
      "master->backup:equal-priority-higher-address",
    ]);
  });

  it("compares IPv6 primary addresses as unsigned 128-bit numbers", () => {
    const { vr, now } = master({ primaryAddress: "fe80::ff:fe00:12", addresses: ["2001:db8::50"] });
    const v6 = { ...advert(100), addresses: ["2001:db8::50"] };
    expect(vr.receive(v6, "fe80::ff:fe00:11", now + 1).some((e) => e.type === "transition")).toBe(false);
    expect(vr.receive(v6, "fe80::1:0:0:1", now + 2).some((e) => e.type === "transition")).toBe(true);
  });

  it("answers a lower-priority advert with its own at once (keepalived), unless told not to", () => {
    const a = master();
    expect(sentPriorities(a.vr.receive(advert(50), LOWER_PEER, a.now + 300))).toEqual([100]);
    expect(a.vr.nextDeadline()).toBe(a.now + 1300);
    const b = master({ advertOnLowerPriority: false });
    expect(b.vr.receive(advert(50), LOWER_PEER, b.now + 300)).toEqual([]);
  });

  it("answers priority 0 with an advert at once and stays Master", () => {
    const { vr, now } = master();
    expect(sentPriorities(vr.receive(advert(0), LOWER_PEER, now + 200))).toEqual([100]);
    expect(vr.state).toBe("master");
    expect(vr.nextDeadline()).toBe(now + 1200);
  });

  it("shutdown resigns with priority 0 and releases its addresses", () => {
    const { vr, now } = master();
    const effects = vr.stop(now + 1);
    expect(types(effects)).toEqual(["send-advert", "release-addresses", "master->initialize:shutdown"]);
    expect(sentPriorities(effects)).toEqual([0]);
  });

  it("carries v2 authentication in its adverts", () => {
    const { vr, now } = master({ version: 2, auth: { type: "pass", password: "secret" } });
    const sent = vr.tick(now + 1000).find((e) => e.type === "send-advert");
    expect(sent).toMatchObject({
      advert: { version: 2, intervalCs: 100, auth: { type: "pass", password: "secret" } },
    });
  });
});

describe("tracking and Fault (keepalived)", () => {
  it("a master whose tracked object fails resigns (priority 0), releases and enters Fault", () => {
    const { vr, now } = master();
    const effects = vr.updateTracking({ priority: 100, fault: true }, now + 1);
    expect(types(effects)).toEqual(["send-advert", "release-addresses", "master->fault:fault"]);
    expect(sentPriorities(effects)).toEqual([0]);
    expect(vr.nextDeadline()).toBeUndefined();
    expect(vr.receive(advert(50), LOWER_PEER, now + 2)).toEqual([]);
  });

  it("Fault clears to Backup, or straight to Master for the owner", () => {
    const vr = make();
    vr.start(0);
    vr.updateTracking({ priority: 100, fault: true }, 10);
    expect(types(vr.updateTracking({ priority: 100, fault: false }, 20))).toEqual([
      "fault->backup:fault-cleared",
    ]);
    const owner = make({ priority: 255 });
    owner.start(0);
    owner.updateTracking({ priority: 255, fault: true }, 10);
    expect(types(owner.updateTracking({ priority: 255, fault: false }, 20))[0]).toBe(
      "fault->master:address-owner",
    );
  });

  it("an instance faulted before start starts in Fault", () => {
    const vr = make();
    vr.updateTracking({ priority: 100, fault: true }, 0);
    expect(types(vr.start(0))).toEqual(["initialize->fault:fault"]);
  });

  it("a changed priority is what the next advert carries and what preemption compares", () => {
    const { vr, now } = master();
    vr.updateTracking({ priority: 70, fault: false }, now + 1);
    expect(sentPriorities(vr.tick(now + 1000))).toEqual([70]);
    expect(vr.receive(advert(80), HIGHER_PEER, now + 1001).some((e) => e.type === "transition")).toBe(true);
  });
});
