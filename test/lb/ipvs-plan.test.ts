// The IPVS plan: a health flip is one command whatever the table's size; the start-up diff adopts,
// deletes only what we own, and never touches a foreign service.
import { describe, expect, it } from "vitest";
import { diffServices, IpvsPlan, ipvsService, type KernelService } from "../../src/lb/ipvs-plan.ts";
import { IP_VS_SVC_F_PERSISTENT } from "../../src/lb/ipvs-netlink.ts";
import { desiredDestinations, serverKey, type VirtualService } from "../../src/lb/model.ts";

const servers = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    address: `198.18.${2 + (i >> 8)}.${i & 255}`,
    port: 80,
    weight: 1,
  }));

const vs = (key: string, port: number, n: number, extra: Partial<VirtualService> = {}): VirtualService => ({
  key,
  family: 4,
  address: "198.18.0.50",
  port,
  protocol: "tcp",
  scheduler: "wrr",
  forwarding: "nat",
  realServers: servers(n),
  inhibitOnFailure: false,
  quorum: 1,
  hysteresis: 0,
  ...extra,
});

describe("IpvsPlan", () => {
  it("a health flip among 10,000 real servers is one DEL_DEST, and back one NEW_DEST", () => {
    const plan = new IpvsPlan([vs("a", 80, 10_000)]);
    const down = plan.setHealth("a", "198.18.2.7:80", false);
    expect(down.map((o) => o.op)).toEqual(["delete-dest"]);
    expect(plan.destinations("a")).toHaveLength(9_999);
    expect(plan.setHealth("a", "198.18.2.7:80", false)).toEqual([]);
    expect(plan.setHealth("a", "198.18.2.7:80", true).map((o) => o.op)).toEqual(["add-dest"]);
  });

  it("with inhibit-on-failure the flip is one SET_DEST to weight 0", () => {
    const plan = new IpvsPlan([vs("a", 80, 3, { inhibitOnFailure: true })]);
    const ops = plan.setHealth("a", "198.18.2.1:80", false);
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject({ op: "edit-dest", dest: { address: "198.18.2.1", weight: 0 } });
  });

  it("below quorum the sorry server replaces the dests (the change, not the table)", () => {
    const plan = new IpvsPlan([
      vs("a", 80, 1, { sorryServer: { address: "198.18.9.9", port: 80, weight: 1 } }),
    ]);
    const ops = plan.setHealth("a", "198.18.2.0:80", false);
    expect(ops.map((o) => [o.op, "dest" in o ? o.dest.address : ""])).toEqual([
      ["delete-dest", "198.18.2.0"],
      ["add-dest", "198.18.9.9"],
    ]);
  });

  it("keys a firewall-mark service by its mark (keepalived's virtual_server fwmark)", () => {
    const marked = vs("m", 0, 2, { address: "", fwmark: 7 });
    expect(ipvsService(marked).id).toEqual({ family: 4, fwmark: 7 });
    const plan = new IpvsPlan([marked, vs("a", 80, 1)]);
    expect(plan.setHealth("m", "198.18.2.1:80", false)).toMatchObject([
      { op: "delete-dest", service: { id: { fwmark: 7 } } },
    ]);
  });

  it("maps persistence to the flag, seconds and prefix length", () => {
    const s = ipvsService(
      vs("p", 443, 1, { persistence: { timeoutMs: 90_500, ipv4PrefixLength: 24, ipv6PrefixLength: 128 } }),
    );
    expect([s.flags & IP_VS_SVC_F_PERSISTENT, s.timeout, s.prefixLength]).toEqual([1, 91, 24]);
  });
});

describe("IpvsPlan's one-dest fast path", () => {
  it("matches desiredDestinations after each of 2,000 random flips (quorum, hysteresis, sorry, inhibit)", () => {
    let seed = 7;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
    for (const inhibitOnFailure of [false, true]) {
      const svc = vs("r", 80, 8, {
        realServers: servers(8).map((r, i) => ({ ...r, weight: i % 3 })),
        inhibitOnFailure,
        quorum: 4,
        hysteresis: 1,
        sorryServer: { address: "198.18.9.9", port: 80, weight: 1 },
      });
      const plan = new IpvsPlan([svc]);
      const health = new Map<string, boolean>();
      let applied = new Map(plan.destinations("r").map((d) => [`${d.address}|${d.port}`, d.weight]));
      let quorumUp = true;
      for (let k = 0; k < 1000; k++) {
        const server = serverKey(svc.realServers[rnd(8)]!);
        const healthy = rnd(2) === 0;
        health.set(server, healthy);
        const ops = plan.setHealth("r", server, healthy);
        // Applying the ops to what we had gives what the model wants.
        applied = new Map(applied);
        for (const o of ops)
          if ("dest" in o) {
            const key = `${o.dest.address}|${o.dest.port}`;
            if (o.op === "delete-dest") applied.delete(key);
            else applied.set(key, o.dest.weight);
          }
        const want = desiredDestinations(svc, health, quorumUp);
        quorumUp = want.quorumUp;
        expect([...applied].sort()).toEqual(
          want.destinations.map((d) => [`${d.address}|${d.port}`, d.weight]).sort(),
        );
      }
    }
  });
});

describe("diffServices", () => {
  const plan = new IpvsPlan([vs("a", 80, 2), vs("b", 81, 2)]);
  const desired = plan.desired();
  const foreign: KernelService = {
    service: { ...ipvsService(vs("f", 9999, 0)), scheduler: "rr" },
    dests: [],
  };

  it("an empty kernel gets every service and dest; a foreign one is not in the plan", () => {
    const { ops } = diffServices([foreign], desired, new Set());
    expect(ops.filter((o) => o.op === "add-service")).toHaveLength(2);
    expect(ops.filter((o) => o.op === "add-dest")).toHaveLength(4);
    expect(ops.some((o) => o.service.id.port === 9999)).toBe(false);
  });

  it("a kernel that already matches is adopted with no command", () => {
    const kernel = desired.map((d) => ({ service: { ...d.service, flags: 2 }, dests: d.dests }));
    const r = diffServices([...kernel, foreign], desired, new Set(plan.keys()));
    expect(r.ops).toEqual([]);
    expect(r.adopted.sort()).toEqual(plan.keys().sort());
  });

  it("deletes an owned service no longer wanted, never a foreign one, even if listed nowhere", () => {
    const only = new IpvsPlan([vs("a", 80, 2)]);
    const r = diffServices([...desired, foreign], only.desired(), new Set(plan.keys()));
    expect(r.ops.map((o) => [o.op, o.service.id.port])).toEqual([["delete-service", 81]]);
  });

  it("a scheduler change is one SET_SERVICE; a weight change one SET_DEST", () => {
    const kernel: KernelService[] = [
      { service: { ...desired[0]!.service, scheduler: "rr" }, dests: desired[0]!.dests },
      { service: desired[1]!.service, dests: desired[1]!.dests.map((d, i) => (i ? d : { ...d, weight: 5 })) },
    ];
    const r = diffServices(kernel, desired, new Set(plan.keys()));
    expect(r.ops.map((o) => o.op)).toEqual(["edit-service", "edit-dest"]);
  });

  it("a desired service someone else created is taken over and reported", () => {
    const r = diffServices([desired[0]!], desired.slice(0, 1), new Set());
    expect(r.foreignTakenOver).toEqual(["tcp|198.18.0.50|80"]);
  });
});
