import type { V1Service } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { LbProvider, type ProviderPool } from "../../src/lbprovider/provider.ts";
import { parseRange, type AddressRange } from "../../src/api/ranges.ts";

const pools: ProviderPool[] = [
  {
    pool: {
      name: "p",
      ranges: [parseRange("198.18.10.1-198.18.10.3") as AddressRange],
      autoAssign: true,
      avoidBuggyIPs: false,
      allows: () => true,
      crossNamespaceSharing: true,
    },
    announce: { pool: "p", routers: 2, template: { interface: "eth0" } },
  },
];

let t = 0;
const svc = (name: string, over: Partial<V1Service> = {}): V1Service => ({
  metadata: { name, namespace: "ns", creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, t++)) },
  spec: { type: "LoadBalancer", loadBalancerClass: "vipkeeper.io/vrrp", ports: [{ port: 80 }] },
  ...over,
});

/** Applies the pass's ingress to the Services, as the API would after the status writes. */
function publish(
  services: V1Service[],
  ingress: Map<string, { ip?: string; ipMode?: string }[]>,
): V1Service[] {
  return services.map((s) => {
    const i = ingress.get(`ns/${s.metadata!.name}`);
    return i ? { ...s, status: { loadBalancer: { ingress: i } } } : s;
  });
}

describe("LoadBalancer provider", () => {
  it("assigns, publishes, announces, and keeps every address across a controller restart", () => {
    let services = [svc("a"), svc("b"), svc("c")];
    const first = new LbProvider(false).pass(services, pools);
    expect([...first.ingress.values()].map((i) => i[0]?.ip)).toEqual([
      "198.18.10.1",
      "198.18.10.2",
      "198.18.10.3",
    ]);
    expect(first.routers.flatMap((r) => r.spec.addresses.map((a) => a.address)).sort()).toEqual([
      "198.18.10.1",
      "198.18.10.2",
      "198.18.10.3",
    ]);
    services = publish(services, first.ingress);
    // A new leader sees the Services in another order, plus a newcomer: nothing moves.
    const again = new LbProvider(false).pass([svc("d"), ...services.reverse()], pools);
    expect(again.ingress.get("ns/a")).toBeUndefined();
    expect(again.ingress.has("ns/d")).toBe(false); // pending: nothing to publish
    expect(again.events.find((e) => e.service === "ns/d")).toMatchObject({ reason: "PoolExhausted" });
  });

  it("reports a problem once, not on every pass", () => {
    const p = new LbProvider(false);
    const services = [
      svc("x", {
        metadata: { name: "x", namespace: "ns", annotations: { "vipkeeper.io/addresses": "198.18.99.1" } },
      }),
    ];
    expect(p.pass(services, pools).events.map((e) => e.reason)).toEqual(["NotInPool"]);
    expect(p.pass(services, pools).events).toEqual([]);
  });

  it("releases on deletion or type change, and the address goes to the next Service", () => {
    const p = new LbProvider(false);
    let services = [svc("a"), svc("b"), svc("c")];
    services = publish(services, p.pass(services, pools).ingress);
    const changed = services.map((s) =>
      s.metadata!.name === "a" ? { ...s, spec: { ...s.spec, type: "ClusterIP" } } : s,
    );
    const next = p.pass([...changed, svc("d")], pools);
    expect(next.ingress.get("ns/d")?.[0]?.ip).toBe("198.18.10.1");
  });

  it("a sharing key from another namespace does not get a Service's address unless both allow it", () => {
    const sharing = (namespace: string, name: string, extra: Record<string, string> = {}): V1Service =>
      svc(name, {
        metadata: {
          name,
          namespace,
          creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, t++)),
          annotations: {
            "vipkeeper.io/sharing-key": "web",
            "vipkeeper.io/addresses": "198.18.10.1",
            ...extra,
          },
        },
        spec: { type: "LoadBalancer", loadBalancerClass: "vipkeeper.io/vrrp", ports: [{ port: 443 }] },
      });
    const owner = sharing("team-a", "web");
    const p = new LbProvider(false);
    const first = p.pass([owner, sharing("team-b", "steal")], pools);
    expect(first.ingress.get("team-a/web")?.[0]?.ip).toBe("198.18.10.1");
    expect(first.ingress.has("team-b/steal")).toBe(false);
    expect(first.events.find((e) => e.service === "team-b/steal")).toMatchObject({
      type: "Warning",
      reason: "AddressInUse",
      message: "198.18.10.1 is held by team-a/web and cannot be shared with it",
    });
    // The generated router grants the address to team-a only.
    expect(first.routers.flatMap((r) => r.spec.virtualServers?.from ?? [])).toEqual([
      {
        namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "team-a" } },
        addresses: ["198.18.10.1"],
      },
    ]);
    // Both sides consent: shared, and each namespace is granted the address.
    const consenting = new LbProvider(false).pass(
      [
        sharing("team-a", "web", { "vipkeeper.io/sharing-cross-namespace": "team-b" }),
        sharing("team-b", "dns", { "vipkeeper.io/sharing-cross-namespace": "team-a" }),
      ].map((s, i) => (i === 1 ? { ...s, spec: { ...s.spec, ports: [{ port: 53, protocol: "UDP" }] } } : s)),
      pools,
    );
    expect(consenting.ingress.get("team-b/dns")?.[0]?.ip).toBe("198.18.10.1");
    expect(consenting.routers.flatMap((r) => r.spec.virtualServers?.from ?? []).length).toBe(2);
  });

  it("leaves Services of other classes alone unless it is the default provider", () => {
    const classless = svc("z", { spec: { type: "LoadBalancer", ports: [{ port: 80 }] } });
    expect(new LbProvider(false).pass([classless], pools).ingress.size).toBe(0);
    expect(new LbProvider(true).pass([classless], pools).ingress.get("ns/z")?.[0]?.ip).toBe("198.18.10.1");
  });
});
