// externalTrafficPolicy: Local Services share one generated router per node set of their
// endpoints: which router, its tracking, moving when the node set changes, deletion when empty,
// names that a restart reproduces.
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { parseRange, type AddressRange } from "../../src/api/ranges.ts";
import { validateVirtualRouter } from "../../src/api/virtual-router.ts";
import type { RouterObject } from "../../src/cluster/routers.ts";
import type { Assignment } from "../../src/lbprovider/allocator.ts";
import { LbProvider, type ProviderPass, type ProviderPool } from "../../src/lbprovider/provider.ts";
import {
  ANNOTATION_ENDPOINT_NODES,
  endpointNodes,
  localRouterName,
  ROUTER_ADDRESSES_MAX,
  routersForPool,
} from "../../src/lbprovider/services.ts";

const pool: ProviderPool = {
  pool: {
    name: "p",
    ranges: [parseRange("198.18.10.0/24") as AddressRange],
    autoAssign: true,
    avoidBuggyIPs: true,
    allows: () => true,
    crossNamespaceSharing: true,
  },
  announce: { pool: "p", routers: 2, template: { interface: "eth0" } },
};

let t = 0;
const svc = (name: string, policy: "Local" | "Cluster" = "Local"): V1Service => ({
  metadata: { name, namespace: "ns", creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, t++)) },
  spec: {
    type: "LoadBalancer",
    loadBalancerClass: "vipkeeper.io/vrrp",
    externalTrafficPolicy: policy,
    ports: [{ port: 80 }],
  },
});

/** Runs passes as the controller does: publishing ingress and passing each address's router on. */
class Harness {
  provider = new LbProvider(false);
  services: V1Service[];
  last?: ProviderPass;
  constructor(services: V1Service[]) {
    this.services = services;
  }
  pass(endpoints: Record<string, string[]>): ProviderPass {
    const current = new Map(
      (this.last?.routers ?? []).flatMap((r) =>
        r.spec.addresses.map((a) => [a.address, r.metadata.name] as const),
      ),
    );
    const eps = new Map(Object.entries(endpoints).map(([k, v]) => [`ns/${k}`, v]));
    this.last = this.provider.pass(this.services, [pool], current, eps);
    this.services = this.services.map((s) => {
      const i = this.last!.ingress.get(`ns/${s.metadata!.name}`);
      return i ? { ...s, status: { loadBalancer: { ingress: i } } } : s;
    });
    return this.last;
  }
  addressOf(name: string): string {
    return this.services.find((s) => s.metadata!.name === name)!.status!.loadBalancer!.ingress![0]!.ip!;
  }
  routerOf(name: string): RouterObject | undefined {
    const ip = this.addressOf(name);
    return this.last!.routers.find((r) => r.spec.addresses.some((a) => a.address === ip));
  }
}

const tracked = (r: RouterObject | undefined) =>
  r?.spec.track?.endpoints?.map((e) => `${e.namespace}/${e.service}`);

describe("externalTrafficPolicy Local routers", () => {
  it("gives Services whose endpoints lie on the same nodes one router, tracking each of them", () => {
    const h = new Harness([svc("a"), svc("b"), svc("c"), svc("web", "Cluster")]);
    const pass = h.pass({ a: ["n1", "n2"], b: ["n2", "n1", "n2"], c: ["n3"], web: ["n1"] });
    const ab = h.routerOf("a")!;
    expect(h.routerOf("b")).toBe(ab);
    expect(ab.metadata.name).toBe(localRouterName("p", ["n1", "n2"]));
    expect(ab.metadata.name).toMatch(/^lb-p-local-[0-9a-z]{14}$/);
    expect(ab.metadata.annotations).toEqual({ [ANNOTATION_ENDPOINT_NODES]: "n1,n2" });
    expect(ab.spec.addresses.map((a) => a.address)).toEqual([h.addressOf("a"), h.addressOf("b")]);
    expect(ab.spec.track?.endpoints).toEqual([
      { namespace: "ns", service: "a", weight: 0 },
      { namespace: "ns", service: "b", weight: 0 },
    ]);
    const c = h.routerOf("c")!;
    expect(c.metadata.name).toBe(localRouterName("p", ["n3"]));
    expect(tracked(c)).toEqual(["ns/c"]);
    // A Cluster Service stays on the pool's shared routers, which track nothing of the sort.
    expect(h.routerOf("web")!.metadata.name).toMatch(/^lb-p-[01]$/);
    expect(h.routerOf("web")!.spec.track).toBeUndefined();
    expect(pass.routers).toHaveLength(3);
    expect(pass.members.get(ab.metadata.name)).toEqual(["ns/a", "ns/b"]);
    for (const r of pass.routers)
      expect(validateVirtualRouter({ ...r, metadata: { name: r.metadata.name } }), r.metadata.name).toEqual(
        [],
      );
  });

  it("names a router by pool and node set only, so a restarted controller writes the same objects", () => {
    expect(localRouterName("p", ["n2", "n1"])).toBe(localRouterName("p", ["n1", "n2", "n1"]));
    expect(localRouterName("p", ["n1", "n2"])).not.toBe(localRouterName("p", ["n1", "n3"]));
    expect(localRouterName("p", ["n1"])).not.toBe(localRouterName("q", ["n1"]));
    // One name per node set over many sets (64 bits of hash).
    const names = new Set<string>();
    for (let i = 0; i < 2000; i++)
      names.add(localRouterName("p", [`n${i % 50}`, `n${50 + (i % 37)}`, `m${i}`]));
    expect(names.size).toBe(2000);

    const first = new Harness([svc("a"), svc("b"), svc("c")]);
    const endpoints = { a: ["n1"], b: ["n1"], c: ["n2", "n3"] };
    const before = first.pass(endpoints).routers;
    // A new leader: a fresh provider, the Services as published, listed in another order.
    const again = new Harness([...first.services].reverse());
    expect(again.pass(endpoints).routers).toEqual(before);
    expect(again.last!.ingress.size).toBe(0);
  });

  it("moves a Service whose endpoints move to its new node set's router, and drops a router left empty", () => {
    const h = new Harness([svc("a"), svc("b")]);
    h.pass({ a: ["n1"], b: ["n1"] });
    const n1 = localRouterName("p", ["n1"]);
    const n2 = localRouterName("p", ["n2"]);
    const ipB = h.addressOf("b");
    expect(h.routerOf("b")!.metadata.name).toBe(n1);

    // b's pod moves to n2: b's address goes to n2's router (made for it); a stays, alone.
    let pass = h.pass({ a: ["n1"], b: ["n2"] });
    expect(h.addressOf("b")).toBe(ipB); // the address never changes, only its router
    expect(h.routerOf("b")!.metadata.name).toBe(n2);
    expect(tracked(h.routerOf("b"))).toEqual(["ns/b"]);
    expect(h.routerOf("a")!.metadata.name).toBe(n1);
    expect(tracked(h.routerOf("a"))).toEqual(["ns/a"]);
    expect(pass.routers.map((r) => r.metadata.name).sort()).toEqual([n1, n2].sort());

    // a follows: n1's router has no Service left and is no longer wanted (the caller deletes it).
    pass = h.pass({ a: ["n2"], b: ["n2"] });
    expect(pass.routers.map((r) => r.metadata.name)).toEqual([n2]);
    expect(tracked(pass.routers[0])).toEqual(["ns/a", "ns/b"]);

    // A scale-out adds n3 to a's nodes: a new set, a new router; b keeps n2's.
    pass = h.pass({ a: ["n2", "n3"], b: ["n2"] });
    expect(h.routerOf("a")!.metadata.name).toBe(localRouterName("p", ["n2", "n3"]));
    expect(tracked(h.routerOf("b"))).toEqual(["ns/b"]);

    // Deleting the Services leaves no router at all.
    h.services = [];
    expect(h.pass({}).routers).toEqual([]);
  });

  it("announces a Service with no endpoint node nowhere, says so once, and again after it had one", () => {
    const h = new Harness([svc("a")]);
    let pass = h.pass({});
    expect(h.addressOf("a")).toBe("198.18.10.1"); // the address is held all the same
    expect(pass.routers).toEqual([]);
    expect(pass.events.filter((e) => e.reason === "WaitingForEndpoints")).toEqual([
      {
        service: "ns/a",
        type: "Normal",
        reason: "WaitingForEndpoints",
        message:
          "externalTrafficPolicy is Local and no node has an endpoint of this Service: its address is announced once one has",
      },
    ]);
    expect(h.pass({ a: [] }).events).toEqual([]);
    pass = h.pass({ a: ["n1"] });
    expect(pass.events).toEqual([]);
    expect(h.routerOf("a")!.metadata.name).toBe(localRouterName("p", ["n1"]));
    pass = h.pass({});
    expect(pass.routers).toEqual([]);
    expect(pass.events.map((e) => e.reason)).toEqual(["WaitingForEndpoints"]);
  });

  it("reads node sets from EndpointSlices: every slice of the Service, ready or not, terminating ones left out", () => {
    const slice = (name: string, service: string | undefined, endpoints: V1EndpointSlice["endpoints"]) =>
      ({
        metadata: {
          name,
          namespace: "ns",
          ...(service ? { labels: { "kubernetes.io/service-name": service } } : {}),
        },
        addressType: "IPv4",
        endpoints,
      }) as V1EndpointSlice;
    const nodes = endpointNodes([
      slice("a-1", "a", [
        { addresses: ["10.0.0.1"], nodeName: "n2", conditions: { ready: true } },
        { addresses: ["10.0.0.2"], nodeName: "n1", conditions: { ready: false } },
        { addresses: ["10.0.0.3"], nodeName: "n3", conditions: { ready: false, terminating: true } },
      ]),
      slice("a-2", "a", [{ addresses: ["fd00::1"], nodeName: "n4" }, { addresses: ["fd00::2"] }]),
      slice("b-1", "b", []),
      slice("orphan", undefined, [{ addresses: ["10.0.0.9"], nodeName: "n9" }]),
    ]);
    expect(nodes).toEqual(
      new Map([
        ["ns/a", ["n1", "n2", "n4"]],
        ["ns/b", []],
      ]),
    );
  });

  it("spills a node set's router past 255 addresses into its extras, each tracking its own Services", () => {
    const assignments = new Map<string, Assignment>();
    const local = new Map<string, string[]>();
    const addr = (i: number) => `198.18.${16 + (i >> 8)}.${i & 255}`;
    for (let i = 0; i < 300; i++) {
      const key = `ns/s${String(i).padStart(3, "0")}`;
      assignments.set(key, { addresses: [addr(i)], pool: "p" });
      local.set(key, ["n1", "n2"]);
    }
    const routers = routersForPool(pool.announce, assignments, local);
    const base = localRouterName("p", ["n1", "n2"]);
    expect(routers.map((r) => [r.metadata.name, r.spec.addresses.length])).toEqual([
      [base, ROUTER_ADDRESSES_MAX],
      [`${base}-more1`, 300 - ROUTER_ADDRESSES_MAX],
    ]);
    for (const r of routers) {
      expect(r.spec.track!.endpoints).toHaveLength(r.spec.addresses.length);
      expect(r.metadata.annotations?.[ANNOTATION_ENDPOINT_NODES]).toBe("n1,n2");
    }
    // An address stays in the extra that has it when a Service sorting first joins the set.
    const where = new Map(
      routers.flatMap((r) => r.spec.addresses.map((a) => [a.address, r.metadata.name] as const)),
    );
    assignments.set("ns/a-first", { addresses: ["198.18.30.1"], pool: "p" });
    local.set("ns/a-first", ["n2", "n1"]);
    const again = routersForPool(pool.announce, assignments, local, where);
    const whereAgain = new Map(
      again.flatMap((r) => r.spec.addresses.map((a) => [a.address, r.metadata.name] as const)),
    );
    for (const [a, name] of where) expect(whereAgain.get(a), a).toBe(name);
    // An address on another node set's router does not stay there: its tracking is not right for it.
    const moved = routersForPool(
      pool.announce,
      assignments,
      local,
      new Map([[addr(0), localRouterName("p", ["n3"])]]),
    );
    expect(moved.find((r) => r.spec.addresses.some((a) => a.address === addr(0)))!.metadata.name).toBe(base);
  });

  it("tracks a Service only on its own node set's router when it shares an address with another set", () => {
    const assignments = new Map<string, Assignment>([
      ["ns/a", { addresses: ["198.18.10.1"], pool: "p" }],
      ["ns/b", { addresses: ["198.18.10.1"], pool: "p" }], // shared with a (sharing key)
    ]);
    const routers = routersForPool(
      pool.announce,
      assignments,
      new Map([
        ["ns/a", ["n1"]],
        ["ns/b", ["n2"]],
      ]),
    );
    expect(routers.map((r) => r.metadata.name)).toEqual([localRouterName("p", ["n1"])]);
    // Tracking b too would leave no node eligible (n1 lacks b's endpoint, n2 a's).
    expect(tracked(routers[0])).toEqual(["ns/a"]);
  });
});
