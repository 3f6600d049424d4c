import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { VirtualServer, VirtualServerSpec } from "../../src/api/virtual-server.ts";
import { validateVirtualServer } from "../../src/api/virtual-server.ts";
import {
  ServiceHealth,
  virtualServerStatus,
  type VirtualServerStatus,
} from "../../src/cluster-mode/vs-status.ts";
import { toVirtualService } from "../../src/lb/from-api.ts";
import { NftablesPlan } from "../../src/lb/nftables.ts";

const T0 = Date.parse("2026-01-01T00:00:00Z");
const at = (s: number) => T0 + s * 1000;
const iso = (s: number) => new Date(at(s)).toISOString().replace(/\.\d{3}Z$/, "Z");

function vs(spec: Partial<VirtualServerSpec> = {}, generation = 3): VirtualServer {
  return {
    apiVersion: "vipkeeper.io/v1alpha1",
    kind: "VirtualServer",
    metadata: { name: "web", namespace: "shop", generation } as VirtualServer["metadata"],
    spec: {
      address: "198.18.0.50",
      port: 80,
      routerRef: "web",
      realServers: [
        { address: "198.18.0.11", port: 8080 },
        { address: "198.18.0.12", port: 8080 },
        { address: "198.18.0.13", port: 8080 },
      ],
      ...spec,
    },
  };
}

const cond = (s: VirtualServerStatus, type: string) => s.conditions?.find((c) => c.type === type);
const programmed = (h: ServiceHealth) => ({ kind: "programmed", health: h }) as const;

describe("ServiceHealth", () => {
  it("starts every server healthy since the dataplane started, and records changes with their time", () => {
    const h = new ServiceHealth(vs(), at(0));
    expect(h.list.map((s) => [s.healthy, s.since])).toEqual([
      [true, at(0)],
      [true, at(0)],
      [true, at(0)],
    ]);
    expect(h.set("198.18.0.12:8080", false, at(5))).toBe(true);
    expect(h.set("198.18.0.12:8080", false, at(6))).toBe(false); // no change
    expect(h.set("198.18.0.99:8080", false, at(6))).toBe(false); // not one of its servers
    expect(h.servers.get("198.18.0.12:8080")).toMatchObject({ healthy: false, since: at(5) });
  });

  it("a new dataplane keeps a healthy server's since and starts a failed one healthy again", () => {
    const old = new ServiceHealth(vs(), at(0));
    old.set("198.18.0.12:8080", false, at(5));
    const next = new ServiceHealth(vs(), at(9), old);
    expect(next.servers.get("198.18.0.11:8080")).toMatchObject({ healthy: true, since: at(0) });
    expect(next.servers.get("198.18.0.12:8080")).toMatchObject({ healthy: true, since: at(9) });
    expect(old.servers.get("198.18.0.12:8080")?.healthy).toBe(false); // the old one is not touched
  });

  it("names IPv6 servers as the checks do", () => {
    const h = new ServiceHealth(
      vs({ address: "2001:db8::50", realServers: [{ address: "2001:db8::11", port: 80 }] }),
      at(0),
    );
    expect(h.set("[2001:db8::11]:80", false, at(1))).toBe(true);
  });
});

describe("virtualServerStatus", () => {
  it("all healthy: every server listed, all active, Ready True, Invalid False, the generation observed", () => {
    const s = virtualServerStatus(vs(), programmed(new ServiceHealth(vs(), at(0))), undefined, at(1));
    expect(s.active).toBe(3);
    expect(s.observedGeneration).toBe(3);
    expect(s.realServers).toEqual([
      { address: "198.18.0.11", port: 8080, healthy: true, since: iso(0) },
      { address: "198.18.0.12", port: 8080, healthy: true, since: iso(0) },
      { address: "198.18.0.13", port: 8080, healthy: true, since: iso(0) },
    ]);
    expect(cond(s, "Ready")).toMatchObject({
      status: "True",
      reason: "Serving",
      lastTransitionTime: iso(1),
      observedGeneration: 3,
    });
    expect(cond(s, "Ready")!.message).toContain("3 of 3");
    expect(cond(s, "Invalid")).toMatchObject({ status: "False", reason: "Valid" });
  });

  it("a failed server: healthy false since its change, one fewer active, still Ready", () => {
    const h = new ServiceHealth(vs(), at(0));
    h.set("198.18.0.12:8080", false, at(7));
    const s = virtualServerStatus(vs(), programmed(h), undefined, at(8));
    expect(s.active).toBe(2);
    expect(s.realServers?.[1]).toEqual({ address: "198.18.0.12", port: 8080, healthy: false, since: iso(7) });
    expect(cond(s, "Ready")?.status).toBe("True");
  });

  it("all down: Ready False QuorumLost, naming the sorry server when there is one", () => {
    const h = new ServiceHealth(vs(), at(0));
    for (const n of [11, 12, 13]) h.set(`198.18.0.${n}:8080`, false, at(2));
    const s = virtualServerStatus(vs(), programmed(h), undefined, at(3));
    expect(s.active).toBe(0);
    expect(cond(s, "Ready")).toMatchObject({ status: "False", reason: "QuorumLost" });
    expect(cond(s, "Ready")!.message).toBe("healthy weight 0 is below quorum 1: no server serves");
    const spec = { sorryServer: { address: "198.18.0.99", port: 80 } };
    const hs = new ServiceHealth(vs(spec), at(0));
    for (const n of [11, 12, 13]) hs.set(`198.18.0.${n}:8080`, false, at(2));
    const sorry = virtualServerStatus(vs(spec), programmed(hs), undefined, at(3));
    expect(cond(sorry, "Ready")!.message).toContain("the sorry server 198.18.0.99:80 serves");
    expect(sorry.active).toBe(0);
  });

  it("quorum with hysteresis: down below quorum - hysteresis, up again only at quorum + hysteresis", () => {
    const spec = { quorum: 2, hysteresis: 1 };
    const h = new ServiceHealth(vs(spec), at(0));
    const ready = () => cond(virtualServerStatus(vs(spec), programmed(h), undefined, at(9)), "Ready")!;
    h.set("198.18.0.11:8080", false, at(1));
    h.set("198.18.0.12:8080", false, at(2));
    expect(ready().status).toBe("True"); // weight 1 >= 2 - 1
    h.set("198.18.0.13:8080", false, at(3));
    expect(ready()).toMatchObject({ status: "False", reason: "QuorumLost" });
    expect(ready().message).toBe(
      "healthy weight 0: quorum 2 lost (down below 1, up again at 3): no server serves",
    );
    h.set("198.18.0.11:8080", true, at(4));
    h.set("198.18.0.12:8080", true, at(5));
    expect(ready().status).toBe("False"); // weight 2 < 2 + 1: still down
    h.set("198.18.0.13:8080", true, at(6));
    expect(ready().status).toBe("True");
  });

  it("inhibitOnFailure keeps a failed server at weight 0: not active", () => {
    const spec = { inhibitOnFailure: true };
    const h = new ServiceHealth(vs(spec), at(0));
    h.set("198.18.0.13:8080", false, at(1));
    expect(virtualServerStatus(vs(spec), programmed(h), undefined, at(2)).active).toBe(2);
  });

  it("quorum 0 with every server down: Ready False NoServerUp", () => {
    const spec = { quorum: 0 };
    const h = new ServiceHealth(vs(spec), at(0));
    for (const n of [11, 12, 13]) h.set(`198.18.0.${n}:8080`, false, at(1));
    const s = virtualServerStatus(vs(spec), programmed(h), undefined, at(2));
    expect(cond(s, "Ready")).toMatchObject({ status: "False", reason: "NoServerUp" });
    expect(cond(s, "Ready")!.message).toBe("0 of 3 real servers healthy, none with weight: no server serves");
  });

  it("invalid: Invalid True with the errors naming the fields, Ready False, nothing active", () => {
    const bad = vs({ port: undefined, realServers: [{ address: "2001:db8::1", port: 80 }] });
    const errors = validateVirtualServer(bad);
    const s = virtualServerStatus(bad, { kind: "invalid", errors }, undefined, at(1));
    expect(s).toMatchObject({ active: 0, observedGeneration: 3 });
    expect(s.realServers).toBeUndefined();
    expect(cond(s, "Invalid")).toMatchObject({ status: "True", reason: "InvalidSpec" });
    expect(cond(s, "Invalid")!.message).toContain("spec.port: is required with spec.address");
    expect(cond(s, "Invalid")!.message).toContain("spec.realServers[0].address: IPv6, but");
    expect(cond(s, "Ready")).toMatchObject({ status: "False", reason: "Invalid" });
  });

  it("not programmed: Ready False NotProgrammed, naming its own problem or the one that kept it out", () => {
    const reason = [
      "VirtualServer web: spec.fwmark: needs the IPVS backend",
      "VirtualServer other: spec.forwarding: TUN needs the IPVS backend",
    ].join("\n");
    const s = virtualServerStatus(vs(), { kind: "notProgrammed", reason }, undefined, at(1));
    expect(cond(s, "Ready")).toMatchObject({
      status: "False",
      reason: "NotProgrammed",
      message: "the load balancer cannot run it: VirtualServer web: spec.fwmark: needs the IPVS backend",
    });
    expect(s.active).toBe(0);
    const innocent = virtualServerStatus(
      vs(),
      { kind: "notProgrammed", reason: "VirtualServer other: spec.forwarding: TUN needs the IPVS backend" },
      undefined,
      at(1),
    );
    expect(cond(innocent, "Ready")!.message).toBe(
      "the node's load balancer did not start: VirtualServer other: spec.forwarding: TUN needs the IPVS backend",
    );
  });

  it("not permitted by its router: Ready False NotPermitted with the rule's message, nothing active", () => {
    const refusal = {
      rule: "ExecNotAllowed",
      message: "spec.healthCheck.exec: the agent runs without --allow-scripts; the command was not run",
    } as const;
    const s = virtualServerStatus(vs(), { kind: "refused", refusal }, undefined, at(1));
    expect(s.active).toBe(0);
    expect(s.realServers).toBeUndefined();
    expect(cond(s, "Ready")).toMatchObject({
      status: "False",
      reason: "NotPermitted",
      message: `not programmed: ${refusal.message}`,
    });
    expect(cond(s, "Invalid")).toMatchObject({ status: "False" });
  });

  it("a message with thousands of errors is clipped", () => {
    const errors = Array.from({ length: 5000 }, (_, i) => ({
      field: `spec.realServers[${i}].address`,
      message: "'x' is not an IP address",
    }));
    const s = virtualServerStatus(vs(), { kind: "invalid", errors }, undefined, at(1));
    expect(cond(s, "Invalid")!.message).toHaveLength(2048);
    expect(cond(s, "Invalid")!.message.endsWith("...")).toBe(true);
  });

  it("carries lastTransitionTime and since over from the previous status while they stand", () => {
    const h = new ServiceHealth(vs(), at(100)); // a new master, or a restarted agent
    const previous = virtualServerStatus(vs(), programmed(new ServiceHealth(vs(), at(0))), undefined, at(1));
    const s = virtualServerStatus(vs(), programmed(h), previous, at(101));
    expect(s).toEqual(previous); // nothing changed: nothing to write
    h.set("198.18.0.11:8080", false, at(102));
    for (const n of [12, 13]) h.set(`198.18.0.${n}:8080`, false, at(103));
    const down = virtualServerStatus(vs(), programmed(h), s, at(104));
    expect(cond(down, "Ready")!.lastTransitionTime).toBe(iso(104));
    expect(cond(down, "Invalid")!.lastTransitionTime).toBe(iso(1));
    expect(down.realServers?.[0]?.since).toBe(iso(102));
  });

  it("active and Ready agree with the nftables plan after any sequence of health changes", () => {
    const server = fc.record({ weight: fc.integer({ min: 0, max: 3 }) });
    fc.assert(
      fc.property(
        fc.array(server, { minLength: 1, maxLength: 5 }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 2 }),
        fc.boolean(),
        fc.boolean(),
        fc.array(fc.tuple(fc.nat(), fc.boolean()), { maxLength: 20 }),
        (servers, quorum, hysteresis, inhibitOnFailure, sorry, flips) => {
          const spec: Partial<VirtualServerSpec> = {
            realServers: servers.map((s, i) => ({
              address: `198.18.1.${i + 1}`,
              port: 80,
              weight: s.weight,
            })),
            quorum,
            hysteresis,
            inhibitOnFailure,
            ...(sorry ? { sorryServer: { address: "198.18.2.1", port: 80 } } : {}),
          };
          const object = vs(spec);
          const plan = new NftablesPlan([toVirtualService(object)]);
          plan.initial();
          const h = new ServiceHealth(object, at(0));
          flips.forEach(([i, healthy], step) => {
            const key = `198.18.1.${(i % servers.length) + 1}:80`;
            plan.setHealth("shop/web", key, healthy);
            h.set(key, healthy, at(step + 1));
          });
          const s = virtualServerStatus(object, programmed(h), undefined, at(99));
          const dests = plan.destinations("shop/web");
          const active = dests.filter((d) => !d.sorry && d.weight > 0).length;
          expect(s.active).toBe(active);
          expect(cond(s, "Ready")!.status).toBe(active > 0 ? "True" : "False");
        },
      ),
      { numRuns: 500 },
    );
  });
});
