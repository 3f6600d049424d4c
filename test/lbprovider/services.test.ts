import type { V1Service } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import type { Assignment } from "../../src/lbprovider/allocator.ts";
import {
  ingressFor,
  isOurs,
  publishedAddresses,
  routerIndex,
  ROUTER_ADDRESSES_MAX,
  routersForPool,
  serviceRequest,
} from "../../src/lbprovider/services.ts";
import { validateVirtualRouter } from "../../src/api/virtual-router.ts";
import type { IPPoolSpec } from "../../src/api/ip-pool.ts";
import { providerPool } from "../../src/lbprovider/pools.ts";

const service = (
  over: Partial<V1Service["spec"]> = {},
  annotations: Record<string, string> = {},
): V1Service => ({
  metadata: { name: "web", namespace: "shop", annotations },
  spec: { type: "LoadBalancer", loadBalancerClass: "vipkeeper.io/vrrp", ports: [{ port: 443 }], ...over },
});

describe("LoadBalancer Services", () => {
  it("takes Services of our class, and classless ones only as the default provider", () => {
    expect(isOurs(service(), false)).toBe(true);
    expect(isOurs(service({ loadBalancerClass: undefined }), false)).toBe(false);
    expect(isOurs(service({ loadBalancerClass: undefined }), true)).toBe(true);
    expect(isOurs(service({ loadBalancerClass: "metallb.io/metallb" }), true)).toBe(false);
    expect(isOurs(service({ type: "ClusterIP" }), true)).toBe(false);
  });

  it("reads families, ports and the annotations", () => {
    const r = serviceRequest(
      service(
        { ipFamilies: ["IPv6", "IPv4"] },
        {
          "vipkeeper.io/addresses": "2001:db8:0:0::7, 198.18.10.7",
          "vipkeeper.io/pool": "edge",
          "vipkeeper.io/sharing-key": "k",
        },
      ),
    );
    expect(r.request).toEqual({
      key: "shop/web",
      families: [6, 4],
      ports: [{ port: 443, protocol: "TCP" }],
      requested: ["2001:db8::7", "198.18.10.7"],
      pool: "edge",
      sharingKey: "k",
    });
  });

  it("names the field when a requested address is wrong", () => {
    expect(serviceRequest(service({}, { "vipkeeper.io/addresses": "198.18.10.300" })).error).toBe(
      "annotation vipkeeper.io/addresses: '198.18.10.300' is not an IP address",
    );
    expect(serviceRequest(service({}, { "vipkeeper.io/addresses": "2001:db8::7" })).error).toMatch(
      /asks for IPv6, but spec.ipFamilies is IPv4/,
    );
  });

  it("accepts the deprecated spec.loadBalancerIP with a warning", () => {
    const r = serviceRequest(service({ loadBalancerIP: "198.18.10.9" }));
    expect(r.request?.requested).toEqual(["198.18.10.9"]);
    expect(r.warnings[0]).toMatch(/spec.loadBalancerIP is deprecated/);
  });

  it("publishes ingress with ipMode VIP and reads it back for adoption", () => {
    const ingress = ingressFor({ addresses: ["198.18.10.7"], pool: "p" });
    expect(ingress).toEqual([{ ip: "198.18.10.7", ipMode: "VIP" }]);
    expect(publishedAddresses({ ...service(), status: { loadBalancer: { ingress } } })).toEqual([
      "198.18.10.7",
    ]);
  });

  it("spreads a pool's Services over its routers, stably, and announces a shared address once", () => {
    const assignments = new Map<string, Assignment>();
    for (let i = 0; i < 20; i++)
      assignments.set(`ns/s${i}`, { addresses: [`198.18.10.${i + 1}`], pool: "p" });
    assignments.set("ns/shared", { addresses: ["198.18.10.1"], pool: "p" });
    assignments.set("ns/other", { addresses: ["198.18.20.1"], pool: "q" });
    const routers = routersForPool({ pool: "p", routers: 3, template: { interface: "eth0" } }, assignments);
    expect(routers.map((r) => r.metadata.name)).toEqual(["lb-p-0", "lb-p-1", "lb-p-2"]);
    const all = routers.flatMap((r) => r.spec.addresses.map((a) => a.address));
    expect(all.sort()).toEqual([...Array.from({ length: 20 }, (_, i) => `198.18.10.${i + 1}`)].sort());
    expect(
      routers.every((r) => validateVirtualRouter({ ...r, metadata: { name: r.metadata.name } }).length === 0),
    ).toBe(true);
    expect(routers[0]!.spec.garp?.refresh).toBe("10s");
    expect(routerIndex("ns/s1", 3)).toBe(routerIndex("ns/s1", 3));
  });

  it("spills past 255 addresses into extra routers, each valid, and keeps addresses where they are", () => {
    const assignments = new Map<string, Assignment>();
    const addr = (i: number) => `198.18.${16 + (i >> 8)}.${i & 255}`;
    for (let i = 0; i < 1000; i++)
      assignments.set(`ns/s${String(i).padStart(4, "0")}`, { addresses: [addr(i)], pool: "p" });
    const announce = { pool: "p", routers: 2, template: { interface: "eth0" } };
    const routers = routersForPool(announce, assignments);
    // Two home routers by hash, each full at 255, the rest in their extras.
    expect(routers.every((r) => r.spec.addresses.length <= ROUTER_ADDRESSES_MAX)).toBe(true);
    expect(
      routers.filter((r) => r.spec.addresses.length === ROUTER_ADDRESSES_MAX).length,
    ).toBeGreaterThanOrEqual(2);
    expect(routers.map((r) => r.metadata.name)).toContain("lb-p-0-more1");
    expect(routers.flatMap((r) => r.spec.addresses).length).toBe(1000);
    for (const r of routers)
      expect(validateVirtualRouter({ ...r, metadata: { name: r.metadata.name } }), r.metadata.name).toEqual(
        [],
      );

    // A new Service whose key sorts first moves nobody: every address keeps its router.
    const where = new Map(
      routers.flatMap((r) => r.spec.addresses.map((a) => [a.address, r.metadata.name] as const)),
    );
    const more = new Map([["ns/a-first", { addresses: ["198.18.30.1"], pool: "p" }], ...assignments]);
    const again = routersForPool(announce, more, new Map(), where);
    const whereAgain = new Map(
      again.flatMap((r) => r.spec.addresses.map((a) => [a.address, r.metadata.name] as const)),
    );
    for (const [a, name] of where) expect(whereAgain.get(a), a).toBe(name);
    expect(again.every((r) => r.spec.addresses.length <= ROUTER_ADDRESSES_MAX)).toBe(true);
    // Without the current placement, the same change would have moved addresses between routers.
    const moved = routersForPool(announce, more);
    const whereMoved = new Map(
      moved.flatMap((r) => r.spec.addresses.map((a) => [a.address, r.metadata.name] as const)),
    );
    expect([...where].some(([a, name]) => whereMoved.get(a) !== name)).toBe(true);
    // A router name that is not the pool's (another pool's, or beyond its router count) is not kept.
    const foreign = new Map([[addr(0), "lb-q-0"]]);
    const placedHome = routersForPool(announce, assignments, new Map(), foreign);
    expect(
      placedHome.find((r) => r.spec.addresses.some((a) => a.address === addr(0)))!.metadata.name,
    ).toMatch(/^lb-p-[01](-more\d+)?$/);
  });

  it("grants each namespace its own Services' addresses on the router that announces them, and nothing else", () => {
    const assignments = new Map<string, Assignment>([
      ["team-a/web", { addresses: ["198.18.10.1", "2001:db8:10::1"], pool: "p" }],
      ["team-b/dns", { addresses: ["198.18.10.1"], pool: "p" }], // shared with team-a/web
      ["team-b/api", { addresses: ["198.18.10.2"], pool: "p" }],
      ["team-c/local", { addresses: ["198.18.10.3"], pool: "p" }],
    ]);
    const routers = routersForPool(
      { pool: "p", routers: 1, template: { interface: "eth0" } },
      assignments,
      new Map([["team-c/local", ["n1"]]]),
    );
    const byName = Object.fromEntries(routers.map((r) => [r.metadata.name, r.spec.virtualServers]));
    const ns = (n: string) => ({ matchLabels: { "kubernetes.io/metadata.name": n } });
    expect(byName["lb-p-0"]).toEqual({
      from: [
        { namespaceSelector: ns("team-a"), addresses: ["198.18.10.1", "2001:db8:10::1"] },
        { namespaceSelector: ns("team-b"), addresses: ["198.18.10.1", "198.18.10.2"] },
      ],
    });
    const local = routers.find((r) => r.metadata.name.includes("-local-"))!;
    expect(local.spec.virtualServers).toEqual({
      from: [{ namespaceSelector: ns("team-c"), addresses: ["198.18.10.3"] }],
    });
    expect(
      routers.every((r) => validateVirtualRouter({ ...r, metadata: { name: r.metadata.name } }).length === 0),
    ).toBe(true);
  });

  it("generated routers never carry routes, rules or a virtual MAC, whatever the pool's object holds", () => {
    // Routes steer the node's traffic: only a VirtualRouter (the admin's) may carry them. The
    // template is built field by field, so even keys the schema would prune do not get through.
    const spec = {
      addresses: ["198.18.10.0/24"],
      announce: {
        routers: 1,
        interface: "eth0",
        advertInterval: "100ms",
        unicast: true,
        routes: [{ to: "0.0.0.0/0", via: "198.18.0.66" }],
        rules: [{ from: "198.18.10.1", table: 7 }],
        virtualMAC: {},
      },
    } as unknown as IPPoolSpec;
    const { announce } = providerPool({ metadata: { name: "p" }, spec }, () => ({}));
    const routers = routersForPool(
      announce,
      new Map<string, Assignment>([["shop/web", { addresses: ["198.18.10.1"], pool: "p" }]]),
      new Map([["shop/web", ["n1"]]]),
    );
    expect(routers.length).toBeGreaterThan(0);
    for (const r of routers) {
      expect(r.spec).not.toHaveProperty("routes");
      expect(r.spec).not.toHaveProperty("rules");
      expect(r.spec).not.toHaveProperty("virtualMAC");
    }
  });
});
