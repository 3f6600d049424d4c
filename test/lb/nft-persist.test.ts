// Persistence rendering without a kernel: masks, the rules, and which entries a change evicts.
import { describe, expect, it } from "vitest";
import type { VirtualService } from "../../src/lb/model.ts";
import {
  clientKey,
  liveSetName,
  NftablesPlan,
  persistMapName,
  renderEvictions,
  serviceRules,
} from "../../src/lb/nftables.ts";

const svc = (over: Partial<VirtualService> = {}): VirtualService => ({
  key: "default/sticky",
  family: 4,
  address: "198.18.0.60",
  port: 80,
  protocol: "tcp",
  scheduler: "wrr",
  forwarding: "nat",
  realServers: [
    { address: "198.18.0.12", port: 8080, weight: 1 },
    { address: "198.18.0.13", port: 8080, weight: 1 },
  ],
  inhibitOnFailure: false,
  quorum: 1,
  hysteresis: 0,
  persistence: { timeoutMs: 300_000, ipv4PrefixLength: 32, ipv6PrefixLength: 128 },
  ...over,
});
const persist = (ipv4PrefixLength: number, ipv6PrefixLength = 128) => ({
  timeoutMs: 1000,
  ipv4PrefixLength,
  ipv6PrefixLength,
});

describe("persistence rendering", () => {
  it("masks the client address to the prefix length", () => {
    expect(clientKey(svc())).toBe("ip saddr");
    expect(clientKey(svc({ persistence: persist(24) }))).toBe("ip saddr & 255.255.255.0");
    expect(clientKey(svc({ persistence: persist(20) }))).toBe("ip saddr & 255.255.240.0");
    expect(clientKey(svc({ persistence: persist(0) }))).toBe("ip saddr & 0.0.0.0");
    expect(clientKey(svc({ family: 6, persistence: persist(32, 56) }))).toBe(
      "ip6 saddr & ffff:ffff:ffff:ff00:0:0:0:0",
    );
  });

  it("looks the client up before the slots, and remembers it in postrouting with the timeout", () => {
    expect(serviceRules(svc())[0]).toBe(`meta l4proto tcp dnat ip to ip saddr map @${persistMapName(svc())}`);
    expect(serviceRules(svc())).toHaveLength(3);
    const table = new NftablesPlan([svc()]).initial();
    expect(table).toContain(`flags dynamic, timeout; timeout 300000ms;`);
    expect(table).toContain(
      "add chain inet vipkeeper_lb persist { type filter hook postrouting priority srcnat - 10;",
    );
    expect(table).toMatch(/^add rule inet vipkeeper_lb persist .* update @persist_/m);
    expect(new NftablesPlan([svc({ persistence: undefined })]).initial()).not.toContain("persist_");
  });

  it("renews an entry only toward a live server: the live set follows the slots", () => {
    const plan = new NftablesPlan([svc()]);
    const table = plan.initial();
    expect(table).toContain(`ip daddr . th dport @${liveSetName(svc())} update @${persistMapName(svc())}`);
    expect(table).toContain(
      `add element inet vipkeeper_lb ${liveSetName(svc())} { 198.18.0.12 . 8080, 198.18.0.13 . 8080 }`,
    );
    const down = plan.setHealth("default/sticky", "198.18.0.13:8080", false);
    expect(down).toContain(`delete element inet vipkeeper_lb ${liveSetName(svc())} { 198.18.0.13 . 8080 }`);
    expect(down).not.toContain(`add element inet vipkeeper_lb ${liveSetName(svc())}`);
    const up = plan.setHealth("default/sticky", "198.18.0.13:8080", true);
    expect(up).toContain(`add element inet vipkeeper_lb ${liveSetName(svc())} { 198.18.0.13 . 8080 }`);
    expect(new NftablesPlan([svc({ persistence: undefined })]).initial()).not.toContain("live_");
  });

  it("evicts the entries that point at a server the service no longer uses, and only those", () => {
    const plan = new NftablesPlan([svc()]);
    plan.initial();
    plan.setHealth("default/sticky", "198.18.0.13:8080", false);
    const listing = `table inet vipkeeper_lb {
	map ${persistMapName(svc())} {
		typeof ip saddr : ip daddr . th dport
		elements = { 198.18.1.1 expires 4m59s : 198.18.0.12 . 8080, 198.18.1.2 expires 1s : 198.18.0.13 . 8080,
			     198.18.1.3 expires 2s : 198.18.0.13 . 8080 }
	}
}`;
    expect(renderEvictions(svc(), listing, plan.slots("default/sticky"))).toBe(
      `delete element inet vipkeeper_lb ${persistMapName(svc())} { 198.18.1.2, 198.18.1.3 }\n`,
    );
    expect(
      renderEvictions(svc(), "table inet vipkeeper_lb { map x { } }", plan.slots("default/sticky")),
    ).toBe("");
  });
});
