// Direct routing and persistence in the nftables backend, without a kernel: the netdev table's
// rules, the slot changes that name it, and what from-api accepts or refuses by field.
import { describe, expect, it } from "vitest";
import { nftablesProblems, toVirtualService } from "../../src/lb/from-api.ts";
import type { VirtualService } from "../../src/lb/model.ts";
import { drRules, NftablesPlan, renderTable, slotMapName } from "../../src/lb/nftables.ts";

const dr = (over: Partial<VirtualService> = {}): VirtualService => ({
  key: "default/dr",
  family: 4,
  address: "198.18.0.70",
  port: 80,
  protocol: "tcp",
  scheduler: "wrr",
  forwarding: "dr",
  device: "eth0",
  realServers: [
    { address: "198.18.0.12", port: 80, weight: 1 },
    { address: "198.18.0.13", port: 80, weight: 1 },
  ],
  inhibitOnFailure: false,
  quorum: 1,
  hysteresis: 0,
  ...over,
});
const vs = (spec: Record<string, unknown>) =>
  ({
    apiVersion: "vipkeeper.io/v1alpha1",
    kind: "VirtualServer",
    metadata: { name: "web", namespace: "shop" },
    spec: { address: "198.18.0.50", port: 80, realServers: [{ address: "198.18.0.13", port: 80 }], ...spec },
  }) as never;

describe("direct routing rendering", () => {
  it("forwards at ingress by a hash of the client's address and port (sh: address only), and drops an empty slot", () => {
    const m = slotMapName(dr());
    expect(drRules(dr())).toEqual([
      `ip daddr 198.18.0.70 meta l4proto tcp th dport 80 fwd ip to jhash ip saddr . th sport mod 120 map @${m} device "eth0"`,
      "ip daddr 198.18.0.70 meta l4proto tcp th dport 80 drop",
    ]);
    expect(drRules(dr({ scheduler: "sh" }))[0]).toContain("jhash ip saddr mod 120");
    const v6 = dr({
      family: 6,
      address: "2001:db8::70",
      realServers: [{ address: "2001:db8::12", port: 80, weight: 1 }],
    });
    expect(drRules(v6)[0]).toContain(`fwd ip6 to jhash ip6 saddr . th sport mod 120 map @${slotMapName(v6)}`);
  });

  it("replaces the netdev table with the inet one, keeps DR out of NAT, and changes slots in the netdev table", () => {
    const plan = new NftablesPlan([dr()]);
    const table = plan.initial();
    expect(table).toContain("add table netdev vipkeeper_dr\ndelete table netdev vipkeeper_dr\n");
    expect(table).toContain('type filter hook ingress device "eth0" priority 0;');
    expect(table).toContain(`add element netdev vipkeeper_dr ${slotMapName(dr())} { 0 : 198.18.0.1`);
    expect(table).not.toContain("services4 { 198.18.0.70");
    const change = plan.setHealth("default/dr", "198.18.0.12:80", false);
    expect(change).toMatch(
      /^delete element netdev vipkeeper_dr slots_\w+ \{ [\d, ]+ \}\nadd element netdev vipkeeper_dr /,
    );
    expect(change).toContain(": 198.18.0.13,");
    // Without DR services the netdev table is removed, not left behind.
    expect(new NftablesPlan([]).initial()).toContain("delete table netdev vipkeeper_dr\n");
    expect(() => renderTable([dr({ device: undefined })], () => [])).toThrow(
      "spec.forwarding: DR needs the device",
    );
  });
});

describe("from-api for the nftables backend", () => {
  it("accepts DR, refuses TUN and DR with persistence, and IPv6 persistence, each naming the field", () => {
    expect(nftablesProblems(vs({ forwarding: "DR" }))).toEqual([]);
    expect(nftablesProblems(vs({ forwarding: "TUN" }))[0]).toContain(
      "spec.forwarding: TUN needs the IPVS backend",
    );
    expect(nftablesProblems(vs({ forwarding: "DR", persistence: { timeout: "60s" } }))[0]).toContain(
      "spec.persistence:",
    );
    expect(nftablesProblems(vs({ address: "2001:db8::50", persistence: { timeout: "60s" } }))[0]).toContain(
      "spec.persistence: the nftables backend keeps IPv4 clients only",
    );
  });

  it("maps spec.persistence with keepalived's defaults (per address)", () => {
    expect(toVirtualService(vs({ persistence: { timeout: "5m" } })).persistence).toEqual({
      timeoutMs: 300_000,
      ipv4PrefixLength: 32,
      ipv6PrefixLength: 128,
    });
    expect(
      toVirtualService(vs({ persistence: { timeout: "30s", ipv4PrefixLength: 24 } })).persistence,
    ).toMatchObject({
      timeoutMs: 30_000,
      ipv4PrefixLength: 24,
    });
    expect(toVirtualService(vs({})).persistence).toBeUndefined();
  });
});
