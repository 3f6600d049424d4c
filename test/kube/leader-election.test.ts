// Leader election: the rules as pure functions, then electors through the
// Leases API (kube/leases.ts on kube/rest.ts) against the in-process API server (test/kubeapi).
import type { V1Lease } from "@kubernetes/client-node";
import { LeaseApi, microTime, type Leases } from "../../src/kube/leases.ts";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  decide,
  LeaderElector,
  nextSpec,
  type LeaderElectionOptions,
} from "../../src/kube/leader-election.ts";
import { startApiServer, type ApiServer } from "../kubeapi/server.ts";
import { countCalls } from "../support/count-calls.ts";

const log = pino({ level: "silent" });

describe("leader election rules (pure)", () => {
  const lease = (holder: string, seconds = 15): V1Lease => ({
    spec: { holderIdentity: holder, leaseDurationSeconds: seconds },
  });
  it("creates an absent lease, renews its own, takes an empty (released) one", () => {
    expect(decide(undefined, "me", undefined, 0, 15_000)).toBe("create");
    expect(decide(lease("me"), "me", 0, 0, 15_000)).toBe("renew");
    expect(decide(lease(""), "me", 0, 0, 15_000)).toBe("take");
  });
  it("judges another holder by when we saw its record change, with the lease's own duration", () => {
    expect(decide(lease("other"), "me", 1000, 15_999, 15_000)).toBe("wait");
    expect(decide(lease("other"), "me", 1000, 16_000, 15_000)).toBe("take");
    expect(decide(lease("other", 3), "me", 1000, 4_000, 15_000)).toBe("take");
    // Never observed yet: wait, whatever its renewTime says (clocks differ between nodes).
    const old = lease("other", 1);
    old.spec!.renewTime = new Date(0);
    expect(decide(old, "me", undefined, 1e12, 15_000)).toBe("wait");
  });
  it("counts transitions on takeover only, keeps acquireTime on renewal; times as MicroTime (6 digits)", () => {
    const t0 = new Date(1000);
    const t1 = new Date(2000);
    const held: V1Lease = { spec: { holderIdentity: "me", acquireTime: t0, leaseTransitions: 4 } };
    expect(nextSpec(undefined, "create", "me", t1, 15_000)).toMatchObject({
      holderIdentity: "me",
      leaseDurationSeconds: 15,
      leaseTransitions: 0,
      acquireTime: "1970-01-01T00:00:02.000000Z",
    });
    expect(nextSpec(held, "renew", "me", t1, 15_000)).toMatchObject({
      leaseTransitions: 4,
      acquireTime: "1970-01-01T00:00:01.000000Z",
    });
    // As read back from the server: kept as it is.
    const read: V1Lease = { spec: { ...held.spec, acquireTime: microTime("2026-12-05T10:00:00.123456Z") } };
    expect(nextSpec(read, "renew", "me", t1, 15_000).acquireTime).toBe("2026-12-05T10:00:00.123456Z");
    expect(nextSpec(held, "take", "you", t1, 15_000)).toMatchObject({
      holderIdentity: "you",
      leaseTransitions: 5,
      acquireTime: "1970-01-01T00:00:02.000000Z",
      renewTime: "1970-01-01T00:00:02.000000Z",
    });
  });
  it("refuses timings where a leader could outlive its lease", () => {
    const base = {
      namespace: "n",
      name: "l",
      identity: "a",
      log,
      onStartedLeading() {},
      onStoppedLeading() {},
    };
    const api = {} as Leases;
    expect(() => new LeaderElector(api, { ...base, leaseDurationMs: 10_000 })).toThrow(/leaseDurationMs/);
    expect(() => new LeaderElector(api, { ...base, retryPeriodMs: 10_000 })).toThrow(/renewDeadlineMs/);
  });
});

const until = async (cond: () => boolean, what: string, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("leader election against an API server", () => {
  let api: ApiServer;
  let coordination: Leases;
  const electors: LeaderElector[] = [];
  const NS = "vkku-le";
  let n = 0;

  beforeAll(async () => {
    api = await startApiServer();
    coordination = new LeaseApi(api.rest());
  });
  afterAll(() => api.close());
  afterEach(async () => {
    api.setUnavailable(false);
    await Promise.all(electors.splice(0).map((e) => e.stop()));
  });

  function elector(
    identity: string,
    name: string,
    extra: Partial<LeaderElectionOptions> = {},
    client: Leases = coordination,
  ) {
    const seen = { started: 0, stopped: 0, leaders: [] as string[], why: [] as string[] };
    const e = new LeaderElector(client, {
      namespace: NS,
      name,
      identity,
      log,
      leaseDurationMs: 3_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 200,
      onStartedLeading: () => seen.started++,
      onStoppedLeading: (why) => {
        seen.stopped++;
        seen.why.push(why);
      },
      onNewLeader: (id) => seen.leaders.push(id),
      ...extra,
    });
    electors.push(e);
    return { e, seen };
  }
  const read = (name: string) => coordination.readNamespacedLease({ name, namespace: NS });

  it("two electors: exactly one leads; its stop releases and the other takes over at its next try", async () => {
    const name = `le-${n++}`;
    const a = elector("a", name);
    const b = elector("b", name);
    void a.e.run();
    void b.e.run();
    await until(() => a.e.isLeader || b.e.isLeader, "a leader");
    // Several rounds each: never both, and the follower keeps following.
    const r0 = a.e.stats.rounds + b.e.stats.rounds;
    await until(() => a.e.stats.rounds + b.e.stats.rounds >= r0 + 10, "ten more rounds");
    expect([a.e.isLeader, b.e.isLeader].filter(Boolean)).toHaveLength(1);
    const [leader, follower] = a.e.isLeader ? [a, b] : [b, a];
    expect(leader.seen.started).toBe(1);
    expect(follower.seen.started).toBe(0);
    const held = await read(name);
    expect(held.spec?.holderIdentity).toBe(leader === a ? "a" : "b");
    expect(held.spec?.leaseTransitions).toBe(0);
    expect(follower.seen.leaders).toEqual([held.spec?.holderIdentity]);

    await leader.e.stop();
    expect(leader.seen.why).toEqual(["stopped"]);
    const released = await read(name);
    expect(released.spec?.holderIdentity).toBe("");
    expect(released.spec?.leaseDurationSeconds).toBe(1);
    const roundsAtRelease = follower.e.stats.rounds;
    await until(() => follower.e.isLeader, "the follower to take over");
    // At its next try (one round may have been in flight when the lease was released).
    expect(follower.e.stats.rounds - roundsAtRelease).toBeLessThanOrEqual(2);
    const taken = await read(name);
    expect(taken.spec?.holderIdentity).toBe(follower === a ? "a" : "b");
    expect(taken.spec?.leaseTransitions).toBe(1);
    expect(follower.seen.started).toBe(1);
  });

  it("waits out another holder by its own observation, whatever the lease's renewTime says", async () => {
    const name = `le-${n++}`;
    // A holder that wrote long ago by its clock: expired only once we have watched it unchanged.
    await coordination.createNamespacedLease({
      namespace: NS,
      body: {
        metadata: { name, namespace: NS },
        spec: { holderIdentity: "ghost", leaseDurationSeconds: 2, renewTime: microTime(new Date(0)) },
      },
    });
    const c = elector("c", name);
    const t0 = performance.now();
    void c.e.run();
    await until(() => c.e.isLeader, "c to take the ghost's lease");
    // Not at once (renewTime 1970 would say so): only after 2 s of watching it unchanged.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(2000);
    expect(c.e.stats.rounds).toBeGreaterThan(1);
    expect((await read(name)).spec).toMatchObject({ holderIdentity: "c", leaseTransitions: 1 });
  });

  it("a take based on a stale read gets 409 Conflict and does not lead", async () => {
    const name = `le-${n++}`;
    await coordination.createNamespacedLease({
      namespace: NS,
      body: { metadata: { name, namespace: NS }, spec: { holderIdentity: "", leaseDurationSeconds: 1 } },
    });
    // Between d's read and d's write, another elector takes the lease (a real race, replayed).
    const racing = new Proxy(coordination, {
      get(target, prop, receiver) {
        if (prop !== "readNamespacedLease") return Reflect.get(target, prop, receiver) as unknown;
        return async (req: { name: string; namespace: string }) => {
          const seenByD = await target.readNamespacedLease(req);
          const current = await target.readNamespacedLease(req);
          if (current.spec?.holderIdentity === "")
            await target.replaceNamespacedLease({
              ...req,
              body: { ...current, spec: { ...current.spec, holderIdentity: "e", leaseDurationSeconds: 60 } },
            });
          return seenByD;
        };
      },
    });
    const seen = { started: 0 };
    const d = new LeaderElector(racing, {
      namespace: NS,
      name,
      identity: "d",
      log,
      leaseDurationMs: 3_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 200,
      onStartedLeading: () => seen.started++,
      onStoppedLeading: () => {},
    });
    electors.push(d);
    void d.run();
    await until(() => d.stats.rounds >= 3, "three rounds");
    expect(d.stats.conflicts).toBe(1);
    expect(d.isLeader).toBe(false);
    expect(seen.started).toBe(0);
    expect((await read(name)).spec?.holderIdentity).toBe("e");
  });

  it("a leader that cannot renew within renewDeadline stops leading (API server unavailable)", async () => {
    const name = `le-${n++}`;
    const a = elector("a", name);
    const ended = a.e.run();
    await until(() => a.e.isLeader, "a to lead");
    const errorsBefore = a.e.stats.errors;
    api.setUnavailable(true);
    await until(() => a.seen.stopped === 1, "a to stop leading");
    await ended;
    expect(a.e.isLeader).toBe(false);
    expect(a.seen.why).toEqual(["lost"]);
    // It kept trying (every retry period) before giving up.
    expect(a.e.stats.errors - errorsBefore).toBeGreaterThanOrEqual(2);
    // Lost leadership does not try again: the process is meant to exit.
    const rounds = a.e.stats.rounds;
    api.setUnavailable(false);
    await new Promise((r) => setTimeout(r, 600));
    expect(a.e.stats.rounds).toBe(rounds);
    expect(a.e.isLeader).toBe(false);
  });

  it("a leader renews in one request (an update conditional on its own last write), and reads after a conflict", async () => {
    const { client: counted, calls } = countCalls(coordination);
    const name = `le-${n++}`;
    const a = elector("a", name, {}, counted);
    void a.e.run();
    await until(() => a.e.isLeader, "a to lead");
    const from = calls.length;
    const rounds = a.e.stats.rounds;
    await until(() => a.e.stats.rounds >= rounds + 5, "five renewals");
    const renewals = calls.slice(from, from + 5);
    expect(renewals).toEqual(Array(5).fill("replaceNamespacedLease"));
    // Someone else writes the lease (its holder unchanged): the next update is stale, 409; the
    // elector reads and renews in the same round, and keeps leading.
    const cur = await read(name);
    await coordination.replaceNamespacedLease({
      name,
      namespace: NS,
      body: { ...cur, metadata: { ...cur.metadata, labels: { touched: "yes" } } },
    });
    const mark = calls.length;
    const r2 = a.e.stats.rounds;
    await until(() => a.e.stats.rounds >= r2 + 2, "two more rounds");
    expect(calls.slice(mark)).toContain("readNamespacedLease");
    expect(a.e.isLeader).toBe(true);
    expect((await read(name)).spec?.holderIdentity).toBe("a");
  });

  it("a leader that finds another holder on the lease stops leading at once, not at renewDeadline", async () => {
    const name = `le-${n++}`;
    const a = elector("a", name);
    const ended = a.e.run();
    await until(() => a.e.isLeader, "a to lead");
    // Someone took the lease (as after a partition where a's renewals did not arrive).
    const cur = await read(name);
    await coordination.replaceNamespacedLease({
      name,
      namespace: NS,
      body: { ...cur, spec: { ...cur.spec, holderIdentity: "x" } },
    });
    const rounds = a.e.stats.rounds;
    await ended;
    expect(a.seen.why).toEqual(["lost"]);
    // At its next read (one round may have been in flight), long before the 2 s renewDeadline's
    // ten rounds.
    expect(a.e.stats.rounds - rounds).toBeLessThanOrEqual(2);
    expect((await read(name)).spec?.holderIdentity).toBe("x");
  });

  it("a renewal that hangs counts as failed: the leader stops at renewDeadline without waiting for it", async () => {
    const name = `le-${n++}`;
    let hang = false;
    const hanging = new Proxy(coordination, {
      get(target, prop, receiver) {
        const real = Reflect.get(target, prop, receiver) as unknown;
        if (typeof real !== "function") return real;
        // Every request from then on hangs: the leader's renewals (updates) as well as reads.
        return (...args: unknown[]) =>
          hang ? new Promise(() => {}) : (real as (...a: unknown[]) => unknown).apply(target, args);
      },
    });
    const seen: string[] = [];
    const a = new LeaderElector(hanging, {
      namespace: NS,
      name,
      identity: "a",
      log,
      leaseDurationMs: 3_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 200,
      onStartedLeading: () => seen.push("started"),
      onStoppedLeading: (why) => seen.push(why),
    });
    const ended = a.run();
    await until(() => a.isLeader, "a to lead");
    const rounds = a.stats.rounds;
    hang = true;
    await ended;
    expect(seen).toEqual(["started", "lost"]);
    // One round started and never came back; no error was ever reported for it.
    expect(a.stats.rounds).toBe(rounds + 1);
    expect(a.isLeader).toBe(false);
  });

  it("stop() while a request hangs still ends (bounded by renewDeadline) and says stopped", async () => {
    const name = `le-${n++}`;
    let hang = false;
    const hanging = new Proxy(coordination, {
      get(target, prop, receiver) {
        const real = Reflect.get(target, prop, receiver) as unknown;
        if (typeof real !== "function") return real;
        // Every request from then on hangs: the leader's renewals (updates) as well as reads.
        return (...args: unknown[]) =>
          hang ? new Promise(() => {}) : (real as (...a: unknown[]) => unknown).apply(target, args);
      },
    });
    const seen: string[] = [];
    const a = new LeaderElector(hanging, {
      namespace: NS,
      name,
      identity: "a",
      log,
      leaseDurationMs: 3_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 200,
      onStartedLeading: () => seen.push("started"),
      onStoppedLeading: (why) => seen.push(why),
    });
    void a.run();
    await until(() => a.isLeader, "a to lead");
    hang = true;
    await a.stop();
    expect(seen).toEqual(["started", "stopped"]);
    // The release could not be read, so the lease still names a: a successor waits it out.
    expect((await read(name)).spec?.holderIdentity).toBe("a");
  });
});
