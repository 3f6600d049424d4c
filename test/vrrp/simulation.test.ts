// A simulated LAN of VRRP routers on a virtual clock, with loss, delay and partitions: the
// protocol's promises at group level, through the real codec, receive checks and state machine.
import { describe, expect, it } from "vitest";
import type { IpFamily } from "../../src/base/ip.ts";
import type { VrrpVersion } from "../../src/vrrp/packet.ts";
import { SimulatedLan, type SimLanOptions, type SimRouterSpec } from "../../src/vrrp/simulation.ts";
import { masterDownIntervalMs, skewTimeMs } from "../../src/vrrp/timers.ts";

const DELAY = 1;

function lan(routers: Omit<SimRouterSpec, "address">[], over: Partial<SimLanOptions> = {}): SimulatedLan {
  const family = over.family ?? 4;
  const l = new SimulatedLan({
    version: 3,
    family,
    vrid: 51,
    advertIntervalMs: 1000,
    addresses: [family === 4 ? "198.18.0.50" : "2001:db8::50"],
    delayMs: DELAY,
    ...over,
  });
  routers.forEach((r, i) =>
    l.add({ ...r, address: family === 4 ? `198.18.0.${11 + i}` : `2001:db8::${11 + i}` }),
  );
  return l;
}

const trio = () => [
  { name: "n1", priority: 150 },
  { name: "n2", priority: 100 },
  { name: "n3", priority: 50 },
];

function startAll(l: SimulatedLan, names: string[]) {
  for (const n of names) l.start(n);
  l.runFor(10_000);
}

function lastAdvertFrom(l: SimulatedLan, name: string): number {
  const sent = l.events.filter((e) => e.router === name && e.effect.type === "send-advert");
  return sent[sent.length - 1]!.at;
}

function becameMasterAt(l: SimulatedLan, name: string, after: number): number | undefined {
  return l.events.find(
    (e) => e.router === name && e.at >= after && e.effect.type === "transition" && e.effect.to === "master",
  )?.at;
}

const variants: { version: VrrpVersion; family: IpFamily; interval: number }[] = [
  { version: 3, family: 4, interval: 1000 },
  { version: 3, family: 4, interval: 100 },
  { version: 3, family: 6, interval: 1000 },
  { version: 2, family: 4, interval: 1000 },
];

describe.each(variants)(
  "VRRPv$version over IPv$family, adverts every $interval ms",
  ({ version, family, interval }) => {
    const opts = { version, family, advertIntervalMs: interval };

    it("elects the highest priority as the one master, and keeps exactly one in steady state", () => {
      for (const seed of [1, 2, 3, 4, 5]) {
        const l = lan(trio(), { ...opts, seed, jitterMs: 5 });
        startAll(l, ["n1", "n2", "n3"]);
        for (let i = 0; i < 600; i++) {
          l.runFor(interval / 10);
          expect(l.masters()).toEqual(["n1"]);
          expect(l.holders()).toEqual(["n1"]);
        }
      }
    });

    it("replaces a killed master within Master_Down_Interval of its last advert", () => {
      for (const phase of [0, 0.1, 0.37, 0.5, 0.93]) {
        const l = lan(trio(), opts);
        startAll(l, ["n1", "n2", "n3"]);
        l.runFor(phase * interval);
        const crashAt = l.now;
        l.crash("n1");
        const last = lastAdvertFrom(l, "n1");
        l.runFor(10 * interval);
        const at = becameMasterAt(l, "n2", crashAt)!;
        const mdi = masterDownIntervalMs(version, 100, interval);
        expect(at - last).toBeGreaterThanOrEqual(mdi);
        expect(at - last).toBeLessThanOrEqual(mdi + DELAY);
        expect(l.masters()).toEqual(["n2"]);
      }
    });

    it("replaces a gracefully stopped master within Skew_Time", () => {
      const l = lan(trio(), opts);
      startAll(l, ["n1", "n2", "n3"]);
      const stopAt = l.now;
      l.shutdown("n1");
      l.runFor(10 * interval);
      const at = becameMasterAt(l, "n2", stopAt)!;
      expect(at - stopAt).toBeCloseTo(DELAY + skewTimeMs(version, 100, interval), 6);
      expect(l.masters()).toEqual(["n2"]);
      expect(l.holders()).toEqual(["n2"]);
    });

    it("lets a returning higher priority preempt after its Master_Down_Interval", () => {
      const l = lan(trio(), opts);
      startAll(l, ["n2", "n3"]);
      expect(l.masters()).toEqual(["n2"]);
      const startAt = l.now;
      l.start("n1");
      l.runFor(10 * interval);
      expect(becameMasterAt(l, "n1", startAt)! - startAt).toBeCloseTo(
        masterDownIntervalMs(version, 150, interval),
        6,
      );
      expect(l.masters()).toEqual(["n1"]);
      expect(l.holders()).toEqual(["n1"]);
    });
  },
);

describe("preemption settings", () => {
  it("nopreempt: a returning higher priority stays Backup", () => {
    const l = lan([
      { name: "n1", priority: 150, preempt: false },
      { name: "n2", priority: 100 },
    ]);
    startAll(l, ["n2"]);
    l.start("n1");
    l.runFor(30_000);
    expect(l.masters()).toEqual(["n2"]);
    expect(l.state("n1")).toBe("backup");
  });

  it("preempt delay: takes over only after the delay plus a Master_Down_Interval", () => {
    const l = lan([
      { name: "n1", priority: 150, preemptDelayMs: 5000 },
      { name: "n2", priority: 100 },
    ]);
    startAll(l, ["n2"]);
    const startAt = l.now;
    l.start("n1");
    l.runFor(30_000);
    const took = becameMasterAt(l, "n1", startAt)! - startAt;
    expect(took).toBeGreaterThan(5000);
    expect(took).toBeLessThanOrEqual(5000 + 1000 + masterDownIntervalMs(3, 150, 1000) + DELAY);
    expect(l.masters()).toEqual(["n1"]);
  });
});

describe("faults in the network", () => {
  it("a healed partition converges to one master within one advert interval", () => {
    for (const seed of [1, 2, 3]) {
      const l = lan(trio(), { seed, jitterMs: 3 });
      startAll(l, ["n1", "n2", "n3"]);
      l.partition("n1", "n2");
      l.partition("n1", "n3");
      l.runFor(10_000);
      expect(l.masters().sort()).toEqual(["n1", "n2"]);
      l.runFor(seed * 123); // heal at different phases of the advert cycle
      l.heal();
      const healedAt = l.now;
      const oneAt = l.runUntilTrue(() => l.masters().length === 1, 5000, 1)!;
      expect(oneAt - healedAt).toBeLessThanOrEqual(1000 + 3 + DELAY);
      expect(l.masters()).toEqual(["n1"]);
      expect(l.holders()).toEqual(["n1"]);
    }
  });

  it("with 5% loss and jitter, the group spends almost all its time with one master and ends with one", () => {
    const l = lan(trio(), { seed: 42, lossRate: 0.05, jitterMs: 20, advertIntervalMs: 100 });
    startAll(l, ["n1", "n2", "n3"]);
    let single = 0;
    const samples = 6000;
    for (let i = 0; i < samples; i++) {
      l.runFor(10);
      if (l.masters().length === 1) single++;
    }
    expect(single / samples).toBeGreaterThan(0.99);
    l.lossRate = 0;
    l.runFor(1000);
    expect(l.masters()).toEqual(["n1"]);
  });

  it("counts and ignores adverts that fail the receive checks", () => {
    const l = new SimulatedLan({
      version: 3,
      family: 4,
      vrid: 51,
      advertIntervalMs: 1000,
      addresses: ["198.18.0.50"],
    });
    l.add({ name: "n1", address: "198.18.0.11", priority: 150 });
    l.add({ name: "owner", address: "198.18.0.12", priority: 255 });
    startAll(l, ["n1"]);
    l.partition("n1", "owner");
    l.start("owner"); // both master while cut apart
    l.runUntil(lastAdvertFrom(l, "n1") + 1000 - 0.5);
    l.heal(); // n1's next advert reaches the owner, which must not obey it
    l.runFor(5000);
    expect(l.masters()).toEqual(["owner"]);
    expect(l.drops("owner").get("we-are-owner")).toBeGreaterThan(0);
  });
});

describe("tracking moves mastership as the weights say", () => {
  const tracked = () => [
    { name: "n1", priority: 150, tracked: [{ name: "haproxy", weight: -60, healthy: true }] },
    { name: "n2", priority: 100 },
  ];

  it("a failed check with negative weight drops the master below its peer, which takes over", () => {
    const l = lan(tracked());
    startAll(l, ["n1", "n2"]);
    const failAt = l.now;
    l.setHealth("n1", "haproxy", false);
    expect(l.priority("n1")).toBe(90);
    l.runFor(10_000);
    expect(l.masters()).toEqual(["n2"]);
    // n2 discards the lower adverts and waits out its Master_Down_Interval from the last one it accepted.
    expect(becameMasterAt(l, "n2", failAt)! - failAt).toBeLessThanOrEqual(
      masterDownIntervalMs(3, 100, 1000) + DELAY,
    );
    l.setHealth("n1", "haproxy", true);
    l.runFor(10_000);
    expect(l.masters()).toEqual(["n1"]);
  });

  it("a failed weight-0 object faults the master, which resigns so its peer takes over in Skew_Time", () => {
    const l = lan([
      { name: "n1", priority: 150, tracked: [{ name: "eth0", weight: 0, healthy: true }] },
      { name: "n2", priority: 100 },
    ]);
    startAll(l, ["n1", "n2"]);
    const failAt = l.now;
    l.setHealth("n1", "eth0", false);
    expect(l.state("n1")).toBe("fault");
    l.runFor(5000);
    expect(becameMasterAt(l, "n2", failAt)! - failAt).toBeCloseTo(DELAY + skewTimeMs(3, 100, 1000), 6);
    l.setHealth("n1", "eth0", true);
    l.runFor(10_000);
    expect(l.masters()).toEqual(["n1"]);
  });

  it("a positive weight lifts a backup above the master", () => {
    const l = lan([
      { name: "n1", priority: 150 },
      { name: "n2", priority: 100, tracked: [{ name: "bonus", weight: 80, healthy: false }] },
    ]);
    startAll(l, ["n1", "n2"]);
    expect(l.masters()).toEqual(["n1"]);
    l.setHealth("n2", "bonus", true);
    l.runFor(10_000);
    expect(l.masters()).toEqual(["n2"]);
  });
});
