// The virtual-service model and its nftables rendering, without a kernel.
import { describe, expect, it } from "vitest";
import { desiredDestinations, serverKey, type VirtualService } from "../../src/lb/model.ts";
import {
  chainName,
  NftablesPlan,
  renderTable,
  serviceRules,
  slotMapName,
  tableObjects,
} from "../../src/lb/nftables.ts";
import { MAX_SLOTS, weightedSlots } from "../../src/lb/slots.ts";

const svc = (over: Partial<VirtualService> = {}): VirtualService => ({
  key: "default/web",
  family: 4,
  address: "198.18.0.50",
  port: 80,
  protocol: "tcp",
  scheduler: "wrr",
  forwarding: "nat",
  realServers: [
    { address: "198.18.0.12", port: 8080, weight: 1 },
    { address: "198.18.0.13", port: 8080, weight: 2 },
    { address: "198.18.0.14", port: 8080, weight: 3 },
  ],
  inhibitOnFailure: false,
  quorum: 1,
  hysteresis: 0,
  ...over,
});
const down = (...servers: string[]) => new Map(servers.map((s) => [s, false]));

describe("desired destinations", () => {
  it("a failed server is removed, or kept at weight 0 with inhibit-on-failure", () => {
    expect(desiredDestinations(svc(), down("198.18.0.13:8080")).destinations.map((d) => d.address)).toEqual([
      "198.18.0.12",
      "198.18.0.14",
    ]);
    const inhibited = desiredDestinations(
      svc({ inhibitOnFailure: true }),
      down("198.18.0.13:8080"),
    ).destinations;
    expect(inhibited.map((d) => [d.address, d.weight])).toEqual([
      ["198.18.0.12", 1],
      ["198.18.0.13", 0],
      ["198.18.0.14", 3],
    ]);
  });

  it("all down: the sorry server alone; none: nothing", () => {
    const all = down("198.18.0.12:8080", "198.18.0.13:8080", "198.18.0.14:8080");
    const sorry = { address: "198.18.0.15", port: 8080, weight: 1 };
    expect(desiredDestinations(svc({ sorryServer: sorry }), all).destinations).toEqual([
      { ...sorry, sorry: true },
    ]);
    expect(desiredDestinations(svc(), all).destinations).toEqual([]);
  });

  it("quorum with hysteresis: down below quorum - hysteresis, up again only at quorum + hysteresis", () => {
    const s = svc({ quorum: 4, hysteresis: 1, sorryServer: { address: "198.18.0.15", port: 80, weight: 1 } });
    // alive weight 3 (= quorum - 1): still up
    let r = desiredDestinations(s, down("198.18.0.12:8080", "198.18.0.13:8080"), true);
    expect(r.quorumUp).toBe(true);
    // alive weight 2: down, the sorry server serves
    r = desiredDestinations(s, down("198.18.0.14:8080"), true);
    expect([r.quorumUp, r.destinations[0]?.sorry]).toEqual([true, undefined]); // 1+2 = 3: up
    r = desiredDestinations(s, down("198.18.0.12:8080", "198.18.0.14:8080"), true);
    expect([r.quorumUp, r.destinations.map((d) => d.address)]).toEqual([false, ["198.18.0.15"]]);
    // back to 4 (< quorum + hysteresis = 5): stays down; at 6: up
    r = desiredDestinations(s, down("198.18.0.13:8080"), false);
    expect(r.quorumUp).toBe(false);
    r = desiredDestinations(s, new Map(), false);
    expect(r.quorumUp).toBe(true);
  });

  it("server keys bracket IPv6", () => {
    expect(serverKey({ address: "2001:db8::1", port: 80 })).toBe("[2001:db8::1]:80");
  });
});

describe("weighted slots", () => {
  it("each destination appears in proportion to its weight, interleaved", () => {
    const slots = weightedSlots(svc().realServers).map((d) => d.address.slice(-2));
    expect(slots).toHaveLength(6);
    expect(slots.filter((a) => a === "14")).toHaveLength(3);
    expect(slots.filter((a) => a === "13")).toHaveLength(2);
    // smooth: the heaviest never takes three in a row
    expect(slots.join(",")).not.toContain("14,14,14");
  });

  it("large weights are scaled to at most MAX_SLOTS, keeping every live server", () => {
    const slots = weightedSlots([
      { address: "a", port: 1, weight: 10_000 },
      { address: "b", port: 1, weight: 1 },
    ]);
    expect(slots.length).toBeLessThanOrEqual(MAX_SLOTS + 1);
    expect(slots.some((d) => d.address === "b")).toBe(true);
  });
});

describe("nftables rendering", () => {
  it("wrr picks by numgen over a fixed count of slots in a named map; sh by a hash of the client; IPv6 in brackets; then drop", () => {
    expect(serviceRules(svc())).toEqual([
      `meta l4proto tcp dnat ip to numgen inc mod 120 map @${slotMapName(svc())}`,
      "drop",
    ]);
    expect(serviceRules(svc({ scheduler: "sh" }))[0]).toContain("jhash ip saddr mod 120");
    const v6 = svc({
      family: 6,
      address: "2001:db8::50",
      realServers: [{ address: "2001:db8::12", port: 80, weight: 1 }],
    });
    expect(serviceRules(v6)[0]).toBe(
      `meta l4proto tcp dnat ip6 to numgen inc mod 120 map @${slotMapName(v6)}`,
    );
    const plan = new NftablesPlan([v6]);
    expect(plan.initial()).toContain(
      `add element inet vipkeeper_lb ${slotMapName(v6)} { 0 : [2001:db8::12] . 80, 1 : `,
    );
  });

  it("the table is replaced as a whole in one transaction, keeping what stays and touching no other table", () => {
    // Without a listing of what is there, the table is deleted and made anew in the transaction.
    expect(renderTable([svc()], (s) => s.realServers)).toMatch(
      /^add table inet vipkeeper_lb\ndelete table inet vipkeeper_lb\n/,
    );
    const text = renderTable([svc()], (s) => s.realServers, tableObjects(""));
    expect(text).toContain(
      `add element inet vipkeeper_lb services4 { 198.18.0.50 . tcp . 80 : jump ${chainName(svc())} }`,
    );
    expect(text.match(/ inet (\S+)/g)?.every((m) => m.endsWith("vipkeeper_lb"))).toBe(true);
    // Nothing of the inet table is deleted when nothing was there, and what stays is never deleted:
    // its base chains, maps and chains are kept and emptied (see renderTable for why).
    expect(text).not.toMatch(/^delete .* inet /m);
    for (const name of ["prerouting", "output", "persist", chainName(svc())])
      expect(text).toContain(`flush chain inet vipkeeper_lb ${name}\n`);
    for (const name of ["services4", "services6", slotMapName(svc())])
      expect(text).toContain(`flush map inet vipkeeper_lb ${name}\n`);
    // What a listing shows that the services no longer need goes: emptied, then deleted.
    const existing = tableObjects(
      `table inet vipkeeper_lb {\n\tmap services4 {\n\t}\n\tmap slots_gone {\n\t}\n\tset live_gone {\n\t}\n` +
        `\tchain svc_gone {\n\t}\n\tchain prerouting {\n\t}\n\tchain ${chainName(svc())} {\n\t}\n}\n`,
    );
    expect(existing).toEqual({
      chains: ["svc_gone", "prerouting", chainName(svc())],
      maps: ["services4", "slots_gone"],
      sets: ["live_gone"],
    });
    const again = renderTable([svc()], (s) => s.realServers, existing).split("\n");
    const at = (line: string) => again.indexOf(line);
    const deletes = again.filter((l) => l.startsWith("delete ") && l.includes(" inet "));
    expect(deletes).toEqual([
      "delete chain inet vipkeeper_lb svc_gone",
      "delete map inet vipkeeper_lb slots_gone",
      "delete set inet vipkeeper_lb live_gone",
    ]);
    // Emptied before any delete, since the services map jumps to the chain and rules name the maps.
    expect(at("flush map inet vipkeeper_lb services4")).toBeLessThan(
      at("delete chain inet vipkeeper_lb svc_gone"),
    );
    expect(at("flush chain inet vipkeeper_lb svc_gone")).toBeLessThan(
      at("delete map inet vipkeeper_lb slots_gone"),
    );
  });

  it("a health change replaces only the failed server's slots of that service, and nothing when it changes nothing", () => {
    const other = svc({ key: "default/api", port: 81 });
    const plan = new NftablesPlan([svc(), other]);
    plan.initial();
    const before = plan.slots("default/web");
    const change = plan.setHealth("default/web", "198.18.0.13:8080", false);
    const lines = change.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`^delete element inet vipkeeper_lb ${slotMapName(svc())} \\{ `));
    expect(lines[1]).toMatch(new RegExp(`^add element inet vipkeeper_lb ${slotMapName(svc())} \\{ `));
    expect(change).not.toContain(slotMapName(other));
    // Exactly the 40 slots n3 held: deleted and added again with the others, 1:3 by weight.
    const freed = before.flatMap((d, i) => (d?.address === "198.18.0.13" ? [i] : []));
    expect(lines[0]).toBe(`delete element inet vipkeeper_lb ${slotMapName(svc())} { ${freed.join(", ")} }`);
    const after = plan.slots("default/web");
    expect(freed.filter((i) => after[i]!.address === "198.18.0.12")).toHaveLength(10);
    expect(freed.filter((i) => after[i]!.address === "198.18.0.14")).toHaveLength(30);
    expect(plan.setHealth("default/web", "198.18.0.13:8080", false)).toBe("");
    // All down, no sorry server: every slot emptied (the chain's drop answers).
    plan.setHealth("default/web", "198.18.0.12:8080", false);
    expect(plan.setHealth("default/web", "198.18.0.14:8080", false)).toMatch(/^delete element [^\n]*\n$/);
    expect(plan.slots("default/web").every((d) => d === undefined)).toBe(true);
  });
});
