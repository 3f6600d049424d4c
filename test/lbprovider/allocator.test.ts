import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Allocator, type Pool, type ServiceRequest } from "../../src/lbprovider/allocator.ts";
import { parseRange, type AddressRange } from "../../src/api/ranges.ts";

const range = (t: string) => parseRange(t) as AddressRange;
const pool = (name: string, texts: string[], over: Partial<Pool> = {}): Pool => ({
  name,
  ranges: texts.map(range),
  autoAssign: true,
  avoidBuggyIPs: false,
  allows: () => true,
  crossNamespaceSharing: true,
  ...over,
});
const svc = (key: string, over: Partial<ServiceRequest> = {}): ServiceRequest => ({
  key,
  families: [4],
  ports: [{ port: 80, protocol: "TCP" }],
  ...over,
});

describe("address ranges", () => {
  it("parses CIDRs and ranges and says what is wrong", () => {
    expect(range("198.18.10.0/30")).toMatchObject({ family: 4, first: 0xc6120a00n, last: 0xc6120a03n });
    expect(range("2001:db8::/126").last - range("2001:db8::/126").first).toBe(3n);
    expect(range("198.18.10.5 - 198.18.10.9").last - range("198.18.10.5-198.18.10.9").first).toBe(4n);
    expect(parseRange("198.18.10.9-198.18.10.5")).toMatch(/starts after it ends/);
    expect(parseRange("198.18.10.1-2001:db8::1")).toMatch(/mixes IPv4 and IPv6/);
    expect(parseRange("198.18.10.0/33")).toMatch(/invalid prefix/);
    expect(parseRange("nope")).toMatch(/not an IP address/);
  });
});

describe("allocator", () => {
  it("allocates in order, skips .0 and .255 when asked, and reports exhaustion", () => {
    const a = new Allocator([pool("p", ["198.18.10.254-198.18.11.1"], { avoidBuggyIPs: true })]);
    const got = ["a", "b", "c"].map((k) => a.assign(svc(k)));
    expect(got.map((r) => r.ok && r.assignment.addresses[0])).toEqual([
      "198.18.10.254",
      "198.18.11.1",
      false,
    ]);
    expect(got[2]).toMatchObject({ ok: false, reason: "PoolExhausted" });
  });

  it("gives dual-stack Services one address per family", () => {
    const a = new Allocator([pool("p", ["198.18.10.0/24", "2001:db8:10::/64"])]);
    const r = a.assign(svc("a", { families: [6, 4] }));
    expect(r.ok && r.assignment.addresses).toEqual(["2001:db8:10::", "198.18.10.0"]);
  });

  it("honours a requested address when free and allowed, and says why not otherwise", () => {
    const a = new Allocator([
      pool("p", ["198.18.10.0/24"]),
      pool("private", ["198.18.20.0/24"], { allows: (s) => s.key.startsWith("team-a/") }),
    ]);
    expect(a.assign(svc("x/a", { requested: ["198.18.10.7"] }))).toMatchObject({
      ok: true,
      assignment: { addresses: ["198.18.10.7"], pool: "p" },
    });
    expect(a.assign(svc("x/b", { requested: ["198.18.10.7"] }))).toMatchObject({ reason: "AddressInUse" });
    expect(a.assign(svc("x/c", { requested: ["198.18.30.1"] }))).toMatchObject({ reason: "NotInPool" });
    expect(a.assign(svc("x/d", { requested: ["198.18.20.1"] }))).toMatchObject({ reason: "PoolNotAllowed" });
    expect(a.assign(svc("team-a/e", { requested: ["198.18.20.1"] })).ok).toBe(true);
  });

  it("shares an address between Services with one sharing key and no port clash", () => {
    const a = new Allocator([pool("p", ["198.18.10.0/24"])]);
    const web = a.assign(svc("default/web", { sharingKey: "k" }));
    const dns = a.assign(svc("default/dns", { sharingKey: "k", ports: [{ port: 53, protocol: "UDP" }] }));
    const clash = a.assign(svc("default/web2", { sharingKey: "k" }));
    expect(web.ok && dns.ok && dns.assignment.addresses).toEqual(web.ok && web.assignment.addresses);
    expect(clash.ok && clash.assignment.addresses).not.toEqual(web.ok && web.assignment.addresses);
    expect(a.holdersOf("198.18.10.0")).toEqual(["default/web", "default/dns"]);
  });

  it("shares across namespaces only when both Services allow it and the pool does not forbid it", () => {
    const dns = { sharingKey: "k", ports: [{ port: 53, protocol: "UDP" }] };
    const shared = (pools: Pool[], web: Partial<ServiceRequest>, other: Partial<ServiceRequest>) => {
      const a = new Allocator(pools);
      a.assign(svc("team-a/web", { sharingKey: "k", requested: ["198.18.10.1"], ...web }));
      return a.assign(svc("team-b/dns", { ...dns, requested: ["198.18.10.1"], ...other }));
    };
    const open = [pool("p", ["198.18.10.0/24"])];
    // The same key alone does not share across namespaces (the key is no secret).
    expect(shared(open, {}, {})).toMatchObject({ ok: false, reason: "AddressInUse" });
    // One side's consent is not enough.
    expect(shared(open, { sharingNamespaces: ["team-b"] }, {})).toMatchObject({ ok: false });
    expect(shared(open, {}, { sharingNamespaces: ["*"] })).toMatchObject({ ok: false });
    expect(shared(open, { sharingNamespaces: ["team-c"] }, { sharingNamespaces: ["team-a"] })).toMatchObject({
      ok: false,
    });
    // Both sides: shared, by name or by *.
    expect(shared(open, { sharingNamespaces: ["team-b"] }, { sharingNamespaces: ["team-a"] }).ok).toBe(true);
    expect(shared(open, { sharingNamespaces: ["*"] }, { sharingNamespaces: ["*"] }).ok).toBe(true);
    // The pool may forbid it whatever the Services say.
    const closed = [pool("p", ["198.18.10.0/24"], { crossNamespaceSharing: false })];
    expect(shared(closed, { sharingNamespaces: ["*"] }, { sharingNamespaces: ["*"] })).toMatchObject({
      ok: false,
      reason: "AddressInUse",
    });
  });

  it("uses a pool without autoAssign only when asked by name", () => {
    const a = new Allocator([pool("manual", ["198.18.10.0/24"], { autoAssign: false })]);
    expect(a.assign(svc("a"))).toMatchObject({ ok: false, reason: "NoPool" });
    expect(a.assign(svc("a", { pool: "manual" })).ok).toBe(true);
  });

  it("never gives one address to two Services that may not share it, and never moves one (property)", () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("create" as const),
        id: fc.integer({ min: 0, max: 15 }),
        key: fc.option(fc.constantFrom("k1", "k2"), { nil: undefined }),
        welcome: fc.option(fc.constantFrom(["*"], ["ns0"], ["ns1"]), { nil: undefined }),
        port: fc.constantFrom(80, 443, 53),
        dual: fc.boolean(),
        ask: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }),
      }),
      fc.record({ kind: fc.constant("delete" as const), id: fc.integer({ min: 0, max: 15 }) }),
      fc.record({ kind: fc.constant("restart" as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const pools = [pool("p", ["198.18.10.0/28", "2001:db8:10::/124"])];
        let a = new Allocator(pools);
        const live = new Map<string, { req: ServiceRequest; addresses: string[]; created: number }>();
        let clock = 0;
        for (const o of ops) {
          if (o.kind === "create") {
            const key = `ns${o.id % 2}/s${o.id}`;
            if (live.has(key)) continue;
            const req = svc(key, {
              families: o.dual ? [4, 6] : [4],
              ports: [{ port: o.port, protocol: "TCP" }],
              ...(o.key ? { sharingKey: o.key } : {}),
              ...(o.welcome ? { sharingNamespaces: o.welcome } : {}),
              ...(o.ask !== undefined ? { requested: [`198.18.10.${o.ask}`] } : {}),
            });
            const r = a.assign(req);
            if (r.ok) live.set(key, { req, addresses: r.assignment.addresses, created: clock++ });
          } else if (o.kind === "delete") {
            a.release(`ns${o.id % 2}/s${o.id}`);
            live.delete(`ns${o.id % 2}/s${o.id}`);
          } else {
            // A new controller: adopt every Service's published addresses, oldest first.
            a = new Allocator(pools);
            for (const s of [...live.values()].sort((x, y) => x.created - y.created)) {
              const r = a.assign(s.req, s.addresses);
              expect(r.ok && r.assignment.addresses).toEqual(s.addresses);
            }
          }
          // Invariants after every step.
          const byAddress = new Map<string, ServiceRequest[]>();
          for (const s of live.values()) {
            expect(a.assignmentOf(s.req.key)?.addresses).toEqual(s.addresses);
            for (const addr of s.addresses) byAddress.set(addr, [...(byAddress.get(addr) ?? []), s.req]);
          }
          for (const holders of byAddress.values()) {
            if (holders.length < 2) continue;
            const k = holders[0]!.sharingKey;
            expect(k).toBeDefined();
            expect(holders.every((h) => h.sharingKey === k)).toBe(true);
            // Across namespaces, each side named the other's namespace (or *).
            const ns = (r: ServiceRequest) => r.key.split("/")[0]!;
            for (const x of holders)
              for (const y of holders)
                if (ns(x) !== ns(y))
                  expect(x.sharingNamespaces?.some((n) => n === "*" || n === ns(y))).toBe(true);
            const ports = holders.flatMap((h) => h.ports.map((p) => `${p.port}/${p.protocol}`));
            expect(new Set(ports).size).toBe(ports.length);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
