// The engine with fake ports on a virtual clock: scheduling, ordering and bookkeeping around the
// state machine. The same engine runs on real sockets in the network tests.
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import {
  VrrpEngine,
  type AddressPort,
  type AnnouncePort,
  type RoutePort,
  type VrrpPort,
} from "../../src/engine/engine.ts";
import { parseConfig } from "../../src/file-mode/config-file.ts";
import { planForNode, type PlannedAddress } from "../../src/plan/plan.ts";
import { encodeAdvert } from "../../src/vrrp/packet.ts";
import { skewTimeMs, masterDownIntervalMs } from "../../src/vrrp/timers.ts";
import { FakeClock } from "../support/fake-clock.ts";

const CONFIG = (extra = "") => `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: web}
spec:
  vrid: 51
  interface: eth0
  addresses: [{address: 198.18.0.50/24}]
  priorities: [{node: n1, priority: 150}, {node: n2, priority: 100}]
  garp: {delay: 5s, repeat: 3, interval: 100ms}
${extra}`;

/** web (CONFIG) and a second router, db, on the same interface. */
const TWO_ROUTERS = `${CONFIG()}---
apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: db}
spec:
  vrid: 52
  interface: eth0
  addresses: [{address: 198.18.0.60/24}]
  priorities: [{node: n1, priority: 150}, {node: n2, priority: 100}]
`;

interface Node {
  name: string;
  engine: VrrpEngine;
  log: string[];
  announced: number[];
  sent: { destination: string; priority: number; at: number }[];
  /** Sync group transitions: "g master". */
  groups: string[];
  failBind: boolean;
}

function lan(clock: FakeClock, config = CONFIG()) {
  const { routers } = parseConfig(config);
  const nodes: Node[] = [];
  /** Pairs "a b" that cannot hear each other (a partition between two nodes). */
  const cuts = new Set<string>();
  const make = (name: string, source: string) => {
    const node: Node = {
      name,
      log: [],
      announced: [],
      sent: [],
      groups: [],
      failBind: false,
    } as unknown as Node;
    const port: VrrpPort = {
      sourceAddress: source,
      send(payload, destination) {
        node.sent.push({ destination, priority: payload[2]!, at: clock.now() });
        for (const other of nodes)
          if (
            other !== node &&
            !cuts.has(`${node.name} ${other.name}`) &&
            !cuts.has(`${other.name} ${node.name}`)
          )
            other.engine.receive("eth0", 4, { payload, source, destination, ttl: 255 });
      },
    };
    const addresses: AddressPort = {
      bind: (a: readonly PlannedAddress[]) => {
        if (node.failBind) return Promise.reject(new Error("EPERM"));
        node.log.push(`bind ${a.map((x) => x.address).join()}`);
        return Promise.resolve();
      },
      release: (a: readonly PlannedAddress[]) => {
        node.log.push(`release ${a.map((x) => x.address).join()}`);
        return Promise.resolve();
      },
    };
    const announcer: AnnouncePort = { announce: () => void node.announced.push(clock.now()) };
    const routes: RoutePort = {
      add: (r, rules) => Promise.resolve(void node.log.push(`add ${r.length} routes ${rules.length} rules`)),
      remove: (r, rules) =>
        Promise.resolve(void node.log.push(`remove ${r.length} routes ${rules.length} rules`)),
    };
    node.engine = new VrrpEngine({
      plans: planForNode(routers, name).instances,
      port: () => port,
      addresses,
      announcer,
      routes,
      clock,
      log: pino({ level: "silent" }),
      onGroupTransition: (e) => void node.groups.push(`${e.group} ${e.to}`),
    });
    nodes.push(node);
    return node;
  };
  return { nodes, make, cuts };
}

describe("VRRP engine", () => {
  it("removes stale addresses first, elects the higher priority, binds, then announces in bursts", async () => {
    const clock = new FakeClock();
    const { make } = lan(clock);
    const n1 = make("n1", "198.18.0.11");
    const n2 = make("n2", "198.18.0.12");
    await n1.engine.start();
    await n2.engine.start();
    expect(n1.log).toEqual(["release 198.18.0.50"]);
    await clock.advance(10_000);
    expect(n1.engine.status()[0]).toMatchObject({ state: "master", holdsAddresses: true });
    expect(n2.engine.status()[0]).toMatchObject({ state: "backup", holdsAddresses: false });
    expect(n1.log).toEqual(["release 198.18.0.50", "bind 198.18.0.50"]);
    const masterAt = masterDownIntervalMs(3, 150, 1000);
    // 3 at 100 ms spacing, then 3 more 5 s later
    expect(n1.announced).toEqual([0, 100, 200, 5000, 5100, 5200].map((d) => masterAt + d));
    expect(n2.announced).toEqual([]);
    expect(n1.engine.counters.total("adverts_sent")).toBeGreaterThan(5);
    expect(n2.engine.counters.total("adverts_received")).toBe(n1.engine.counters.total("adverts_sent"));
  });

  it("a master adds its routes and rules after binding and removes them before releasing; a backup never", async () => {
    const clock = new FakeClock();
    const config =
      CONFIG(`  routes: [{to: 198.19.5.0/24, via: 198.18.0.1}, {to: 198.19.6.0/24, type: Blackhole}]
  rules: [{from: 198.18.0.50, table: 100}]
`);
    const { make } = lan(clock, config);
    const n1 = make("n1", "198.18.0.11");
    const n2 = make("n2", "198.18.0.12");
    await n1.engine.start();
    await n2.engine.start();
    await clock.advance(10_000);
    // A start removes what a crashed run may have left, routes before addresses.
    expect(n1.log).toEqual([
      "remove 2 routes 1 rules",
      "release 198.18.0.50",
      "bind 198.18.0.50",
      "add 2 routes 1 rules",
    ]);
    expect(n2.log).toEqual(["remove 2 routes 1 rules", "release 198.18.0.50"]);
    await n1.engine.stop();
    expect(n1.log.slice(-2)).toEqual(["remove 2 routes 1 rules", "release 198.18.0.50"]);
    await clock.advance(5000);
    expect(n2.log.slice(-2)).toEqual(["bind 198.18.0.50", "add 2 routes 1 rules"]);
  });

  it("stop resigns with priority 0 and releases; the backup takes over after Skew_Time", async () => {
    const clock = new FakeClock();
    const { make } = lan(clock);
    const n1 = make("n1", "198.18.0.11");
    const n2 = make("n2", "198.18.0.12");
    await n1.engine.start();
    await n2.engine.start();
    await clock.advance(10_000);
    const stopAt = clock.now();
    await n1.engine.stop();
    expect(n1.sent.at(-1)).toMatchObject({ priority: 0, destination: "224.0.0.18" });
    expect(n1.log.at(-1)).toBe("release 198.18.0.50");
    await clock.advance(5000);
    expect(n2.engine.status()[0]?.state).toBe("master");
    const took = n2.engine.status()[0]!.since - stopAt;
    expect(took).toBeCloseTo(skewTimeMs(3, 100, 1000), 6);
  });

  it("split brain: a cut between master and backup makes two masters; the third node and the metric say so until the heal", async () => {
    const clock = new FakeClock();
    const config = CONFIG().replace(
      "{node: n2, priority: 100}]",
      "{node: n2, priority: 100}, {node: n3, priority: 50}]",
    );
    const { make, cuts } = lan(clock, config);
    const [n1, n2, n3] = [make("n1", "198.18.0.11"), make("n2", "198.18.0.12"), make("n3", "198.18.0.13")];
    for (const n of [n1, n2, n3]) await n.engine.start();
    await clock.advance(10_000);
    const splitBrain = () => [n1, n2, n3].map((n) => n.engine.status()[0]!.splitBrain);
    expect(splitBrain()).toEqual([false, false, false]);
    cuts.add("n1 n2");
    await clock.advance(5000);
    expect([n1, n2].map((n) => n.engine.status()[0]!.state)).toEqual(["master", "master"]);
    // n3 hears both; n1 and n2 hear only n3, which is silent as a backup.
    expect(splitBrain()).toEqual([false, false, true]);
    expect(n3.engine.counters.total("split_brains")).toBe(1);
    cuts.clear();
    await clock.advance(1000); // n2 hears n1 (higher) within one interval and steps down
    expect(n2.engine.status()[0]!.state).toBe("backup");
    await clock.advance(1600); // the evidence is 1.5 intervals old at most
    expect(splitBrain()).toEqual([false, false, false]);
    // The heal itself showed n1 the lower master alternating with its own adverts: at most one
    // episode each, and the failover at the cut (n1 gone silent for n2) none of its own.
    expect(n3.engine.counters.total("split_brains")).toBe(1);
    expect(n2.engine.counters.total("split_brains")).toBe(0);
  });

  it("own interface down: Fault, priority 0, release, and no more announcements", async () => {
    const clock = new FakeClock();
    const { make } = lan(clock);
    const n1 = make("n1", "198.18.0.11");
    const n2 = make("n2", "198.18.0.12");
    await n1.engine.start();
    await n2.engine.start();
    await clock.advance(3500); // n1 master, first burst sent, second burst pending
    const announced = n1.announced.length;
    n1.engine.setLink("eth0", false);
    expect(n1.engine.status()[0]?.state).toBe("fault");
    expect(n1.sent.at(-1)?.priority).toBe(0);
    await clock.advance(10_000);
    expect(n1.announced.length).toBe(announced);
    expect(n1.log.at(-1)).toBe("release 198.18.0.50");
    expect(n2.engine.status()[0]?.state).toBe("master");
    n1.engine.setLink("eth0", true);
    await clock.advance(10_000);
    expect(n1.engine.status()[0]?.state).toBe("master");
  });

  it("a tracked interface with a negative weight moves mastership", async () => {
    const clock = new FakeClock();
    const { make } = lan(clock, CONFIG("  track: {interfaces: [{name: eth1, weight: -60}]}\n"));
    const n1 = make("n1", "198.18.0.11");
    const n2 = make("n2", "198.18.0.12");
    await n1.engine.start();
    await n2.engine.start();
    await clock.advance(10_000);
    n1.engine.setLink("eth1", false);
    expect(n1.engine.status()[0]?.effectivePriority).toBe(90);
    await clock.advance(10_000);
    expect(n2.engine.status()[0]?.state).toBe("master");
    expect(n1.engine.status()[0]?.state).toBe("backup");
  });

  describe("a sync group (keepalived's vrrp_sync_group): members move together, whatever the cause", () => {
    const GROUP = (dbTrack: string) => `${CONFIG("  syncGroup: g\n")}---
apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: db}
spec:
  vrid: 52
  interface: eth0
  syncGroup: g
  addresses: [{address: 198.18.0.60/24}]
  priorities: [{node: n1, priority: 150}, {node: n2, priority: 100}]
  track: {interfaces: [${dbTrack}]}
`;
    const states = (n: Node) => n.engine.status().map((s) => `${s.key} ${s.state}`);

    it("one member in Fault puts the group in Fault (the other resigns too); both come back together", async () => {
      const clock = new FakeClock();
      const { make } = lan(clock, GROUP("{name: eth1, weight: 0}"));
      const n1 = make("n1", "198.18.0.11");
      const n2 = make("n2", "198.18.0.12");
      await n1.engine.start();
      await n2.engine.start();
      await clock.advance(10_000);
      expect(states(n1)).toEqual(["web/ipv4 master", "db/ipv4 master"]);
      n1.engine.setLink("eth1", false); // only db tracks it
      expect(states(n1)).toEqual(["web/ipv4 fault", "db/ipv4 fault"]);
      expect(n1.sent.slice(-2).map((p) => p.priority)).toEqual([0, 0]);
      await clock.advance(5000);
      expect(states(n2)).toEqual(["web/ipv4 master", "db/ipv4 master"]);
      n1.engine.setLink("eth1", true);
      await clock.advance(10_000);
      expect(states(n1)).toEqual(["web/ipv4 master", "db/ipv4 master"]);
      expect(states(n2)).toEqual(["web/ipv4 backup", "db/ipv4 backup"]);
      // The group's own state, for its notify scripts: once per change.
      expect(n1.groups).toEqual(["g backup", "g master", "g fault", "g backup", "g master"]);
      expect(n2.groups).toEqual(["g backup", "g master", "g backup"]);
      await n1.engine.stop();
      expect(n1.groups.at(-1)).toBe("g stop");
    });

    // db's priority on a node: 150 (n1) or 100 (n2), +60 while that node's eth1 is up.
    const PRIORITY = "{name: eth1, weight: 60}";
    const n2FirstThenN1 = async (config: string) => {
      const clock = new FakeClock();
      const { make } = lan(clock, config);
      const n1 = make("n1", "198.18.0.11");
      const n2 = make("n2", "198.18.0.12");
      await n2.engine.start();
      await clock.advance(10_000);
      n1.engine.setLink("eth1", false); // n1's db: 150, below n2's 160
      await n1.engine.start();
      await clock.advance(10_000);
      return { clock, n1, n2 };
    };

    it("priorities alone: the group stays where one member cannot move, and moves whole when every member can", async () => {
      const { clock, n1, n2 } = await n2FirstThenN1(GROUP(PRIORITY));
      // web on n1 (150) would preempt n2's (100), but db cannot (150 < 160): keepalived prefers Backup.
      expect(states(n2)).toEqual(["web/ipv4 master", "db/ipv4 master"]);
      expect(states(n1)).toEqual(["web/ipv4 backup", "db/ipv4 backup"]);
      await clock.advance(30_000);
      expect(states(n1)).toEqual(["web/ipv4 backup", "db/ipv4 backup"]);
      // n2's db drops to 100: now every member of n1's group can preempt, and the group moves whole.
      n2.engine.setLink("eth1", false);
      await clock.advance(10_000);
      expect(states(n1)).toEqual(["web/ipv4 master", "db/ipv4 master"]);
      expect(states(n2)).toEqual(["web/ipv4 backup", "db/ipv4 backup"]);
    });

    it("without the group, the same priorities split the routers over the nodes", async () => {
      const { n1, n2 } = await n2FirstThenN1(GROUP(PRIORITY).replaceAll("  syncGroup: g\n", ""));
      expect(states(n1)).toEqual(["web/ipv4 master", "db/ipv4 backup"]);
      expect(states(n2)).toEqual(["web/ipv4 backup", "db/ipv4 master"]);
    });
  });

  it("healthy scripts with positive weights count from the start; a failed one moves mastership", async () => {
    const clock = new FakeClock();
    const { make } = lan(
      clock,
      CONFIG("  track: {scripts: [{name: chk, command: 'true', weight: 60}]}\n").replace(
        "priority: 100",
        "priority: 140",
      ),
    );
    const n1 = make("n1", "198.18.0.11");
    const n2 = make("n2", "198.18.0.12");
    await n1.engine.start();
    await n2.engine.start();
    expect(n1.engine.status()[0]?.effectivePriority).toBe(210);
    await clock.advance(10_000);
    expect(n1.engine.status()[0]?.state).toBe("master");
    n1.engine.setScript("web", "chk", false); // 150 < 200
    await clock.advance(10_000);
    expect(n2.engine.status()[0]?.state).toBe("master");
  });

  it("a maintenance file puts a weight-0 instance in Fault", async () => {
    const clock = new FakeClock();
    const { make } = lan(clock, CONFIG("  track: {files: [{path: /etc/vipkeeper/down}]}\n"));
    const n1 = make("n1", "198.18.0.11");
    await n1.engine.start();
    await clock.advance(10_000);
    n1.engine.setFile("/etc/vipkeeper/down", true);
    expect(n1.engine.status()[0]?.state).toBe("fault");
  });

  it("sends to each unicast peer instead of the group, and obeys only them", async () => {
    const clock = new FakeClock();
    const { make } = lan(clock, CONFIG("  unicast: {peers: [198.18.0.12, 198.18.0.13]}\n"));
    const n1 = make("n1", "198.18.0.11");
    await n1.engine.start();
    await clock.advance(10_000);
    expect(new Set(n1.sent.map((s) => s.destination))).toEqual(new Set(["198.18.0.12", "198.18.0.13"]));
  });

  it("counts and drops malformed and foreign packets without throwing", async () => {
    const clock = new FakeClock();
    const { make } = lan(clock);
    const n1 = make("n1", "198.18.0.11");
    await n1.engine.start();
    const junk = { source: "198.18.0.99", destination: "224.0.0.18", ttl: 255 };
    n1.engine.receive("eth0", 4, { ...junk, payload: Buffer.from([0x31]) });
    n1.engine.receive("eth0", 4, {
      ...junk,
      payload: Buffer.from([0x31, 99, 100, 1, 0, 100, 0, 0, 1, 2, 3, 4]),
    });
    n1.engine.receive("eth0", 4, {
      ...junk,
      payload: Buffer.from([0x31, 51, 100, 1, 0, 100, 0, 0, 1, 2, 3, 4]),
    });
    n1.engine.receive("eth0", 4, { ...junk, ttl: 1, payload: Buffer.from([0x31, 51]) });
    expect(n1.engine.counters.get("drops", { reason: "too-short" })).toBe(1);
    expect(n1.engine.counters.get("drops", { reason: "unknown-vrid" })).toBe(1);
    expect(n1.engine.counters.get("drops", { instance: "web/ipv4", reason: "bad-checksum" })).toBe(1);
    expect(n1.engine.counters.get("drops", { instance: "web/ipv4", reason: "bad-ttl" })).toBe(1);
  });

  it("with a source filter (cluster mode, multicast) a forged higher priority is dropped and counted; a new node is obeyed in place", async () => {
    const clock = new FakeClock();
    const { routers } = parseConfig(CONFIG());
    const plans = planForNode(routers, "n1").instances.map((p) => ({
      ...p,
      sources: { kind: "nodes" as const, addresses: ["198.18.0.11", "198.18.0.12"] },
    }));
    const engine = new VrrpEngine({
      plans,
      port: () => ({ sourceAddress: "198.18.0.11", send: () => undefined }),
      addresses: { bind: () => Promise.resolve(), release: () => Promise.resolve() },
      announcer: { announce: () => undefined },
      clock,
      log: pino({ level: "silent" }),
    });
    await engine.start();
    await clock.advance(10_000);
    const state = () => engine.status()[0]!.state;
    expect(state()).toBe("master");
    const forge = (source: string) => ({
      payload: encodeAdvert(
        { version: 3, vrid: 51, priority: 254, intervalCs: 100, addresses: ["198.18.0.50"] },
        { family: 4, source, destination: "224.0.0.18" },
      ),
      source,
      destination: "224.0.0.18",
      ttl: 255,
    });
    for (let i = 0; i < 30; i++) {
      engine.receive("eth0", 4, forge("198.18.0.100"));
      await clock.advance(100);
    }
    expect(state()).toBe("master");
    expect(engine.counters.get("drops", { instance: "web/ipv4", reason: "source-not-allowed" })).toBe(30);
    // Who else speaks on the VRID goes into the status (the controller's ForeignSpeaker).
    expect(engine.status()[0]!.lastForeignAdvert).toEqual({
      from: "198.18.0.100",
      priority: 254,
      at: clock.now() - 100,
    });
    // A node joins the cluster: its adverts are obeyed without a new election of our own.
    expect(
      engine.updateSources("web/ipv4", { kind: "nodes", addresses: ["198.18.0.11", "198.18.0.100"] }),
    ).toBe(true);
    engine.receive("eth0", 4, forge("198.18.0.100"));
    await clock.advance(0);
    expect(state()).toBe("backup");
  });

  it("a failed bind is counted and logged; the instance goes on", async () => {
    const clock = new FakeClock();
    const { make } = lan(clock);
    const n1 = make("n1", "198.18.0.11");
    n1.failBind = true;
    await n1.engine.start();
    await clock.advance(10_000);
    expect(n1.engine.counters.get("address_errors", { instance: "web/ipv4", op: "bind" })).toBe(1);
    expect(n1.engine.status()[0]?.state).toBe("master");
  });

  it("takes new virtual addresses in place: no new election, the master binds and releases the difference", async () => {
    const clock = new FakeClock();
    const { make } = lan(clock);
    const n1 = make("n1", "198.18.0.11");
    const n2 = make("n2", "198.18.0.12");
    await n1.engine.start();
    await n2.engine.start();
    await clock.advance(10_000);
    const transitions = (n: Node) =>
      Object.entries(n.engine.counters.snapshot()).filter(([k]) => k.startsWith("transitions"));
    const before = [transitions(n1), transitions(n2)];
    const key = n1.engine.status()[0]!.key;
    const next: PlannedAddress[] = [{ address: "198.18.0.51", prefixLength: 32, family: 4, dev: "eth0" }];
    n1.log.length = 0;
    const announcedBefore = n1.announced.length;
    expect(n1.engine.updateAddresses(key, next)).toBe(true);
    expect(n2.engine.updateAddresses(key, next)).toBe(true);
    await clock.advance(3000);
    expect(n1.log).toEqual(["release 198.18.0.50", "bind 198.18.0.51"]);
    expect(n1.announced.length).toBeGreaterThan(announcedBefore);
    expect(n2.log.filter((l) => l.startsWith("bind"))).toEqual([]);
    expect(n1.engine.status()[0]).toMatchObject({ state: "master", addresses: ["198.18.0.51/32"] });
    // Still one election's worth of transitions, and adverts carry the new list (no mismatch drops).
    expect([transitions(n1), transitions(n2)]).toEqual(before);
    expect(Object.keys(n2.engine.counters.snapshot()).filter((k) => /drops|mismatch/.test(k))).toEqual([]);
    expect(n1.engine.updateAddresses("nope", next)).toBe(false);
  });

  it("removes one router in place: it resigns and releases, the other router's instance runs on", async () => {
    const clock = new FakeClock();
    const { make } = lan(clock, TWO_ROUTERS);
    const n1 = make("n1", "198.18.0.11");
    const n2 = make("n2", "198.18.0.12");
    await n1.engine.start();
    await n2.engine.start();
    await clock.advance(10_000);
    expect(n1.engine.masters().map((p) => p.router)).toEqual(["web", "db"]);
    n1.log.length = 0;
    const sent = n1.sent.length;
    await n1.engine.removeRouters(new Set(["web"]));
    // web's resignation (priority 0) and release; db untouched, still master.
    expect(n1.sent.slice(sent).map((s) => s.priority)).toEqual([0]);
    expect(n1.log).toEqual(["release 198.18.0.50"]);
    expect(n1.engine.status().map((i) => [i.key, i.state])).toEqual([["db/ipv4", "master"]]);
    await clock.advance(5000);
    expect(n2.engine.status().map((i) => [i.key, i.state])).toEqual([
      ["web/ipv4", "master"],
      ["db/ipv4", "backup"],
    ]);
    // web's adverts from n2 now reach an engine without web: counted as foreign, not acted on.
    expect(n1.engine.counters.total("drops", { reason: "unknown-vrid" })).toBeGreaterThan(0);
    expect(n1.log).toEqual(["release 198.18.0.50"]);
  });

  it("adds a router in place: it is elected while the running one's adverts keep their interval", async () => {
    const clock = new FakeClock();
    const { make } = lan(clock, CONFIG());
    const n1 = make("n1", "198.18.0.11");
    const n2 = make("n2", "198.18.0.12");
    await n1.engine.start();
    await n2.engine.start();
    await clock.advance(10_000);
    const before = n1.sent.length;
    const webTransitions = n1.engine.counters.total("transitions", { instance: "web/ipv4" });
    const db = planForNode(parseConfig(TWO_ROUTERS).routers, "n1").instances.filter((i) => i.router === "db");
    await n1.engine.addInstances(db);
    await clock.advance(10_000);
    // db's own election (no peer speaks for it here), web's adverts every second throughout.
    expect(n1.engine.status().map((i) => [i.key, i.state])).toEqual([
      ["web/ipv4", "master"],
      ["db/ipv4", "master"],
    ]);
    expect(n1.engine.counters.total("transitions", { instance: "web/ipv4" })).toBe(webTransitions);
    const webAdverts = n1.sent.slice(before).filter((s) => s.priority === 150);
    const gaps = webAdverts.slice(1).map((s, i) => s.at - webAdverts[i]!.at);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(1000);
  });

  it("changes tracked cluster objects in place: the new one's known health counts, no re-election", async () => {
    const clock = new FakeClock();
    const { make } = lan(clock, CONFIG(`  track: {endpoints: [{namespace: a, service: one, weight: 0}]}\n`));
    const n1 = make("n1", "198.18.0.11");
    n1.engine.setClusterTracked("endpoints a/one", true);
    n1.engine.setClusterTracked("endpoints a/two", false);
    await n1.engine.start();
    await clock.advance(10_000);
    expect(n1.engine.status()[0]!.state).toBe("master");
    const plan = n1.engine.status()[0]!;
    const track = (services: string[]) => ({
      ...planForNode(parseConfig(CONFIG()).routers, "n1").instances[0]!.track,
      endpoints: services.map((service) => ({ namespace: "a", service, weight: 0 })),
    });
    // Joined by a Service whose endpoints are known not ready on this node: Fault at once.
    expect(n1.engine.updateClusterTracking(plan.key, track(["one", "two"]))).toBe(true);
    expect(n1.engine.status()[0]!.state).toBe("fault");
    // It leaves again: healthy, and master after the election a Fault ends with.
    n1.engine.updateClusterTracking(plan.key, track(["one"]));
    await clock.advance(10_000);
    expect(n1.engine.status()[0]!.state).toBe("master");
    expect(n1.engine.status()[0]!.tracked.map((t) => t.name)).toEqual(["interface eth0", "endpoints a/one"]);
  });
});
