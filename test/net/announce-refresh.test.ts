// The periodic refresh of announcements, seen on the wire: a master with `garp.refresh` sends a
// gratuitous ARP for its IPv4 VIP and an unsolicited neighbour advertisement for its IPv6 VIP at
// that interval for as long as it is master (keepalived's vrrp_garp_master_refresh); without it,
// nothing after the start-up bursts.
import { spawnSync } from "node:child_process";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import { startAgent, waitUntil, writeConfig, type RunningAgent } from "../support/agents.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/announce-refresh.test.ts skipped: needs root for network namespaces");

const VIP4 = "198.18.0.50";
const VIP6 = "2001:db8::50";
const router = (garp: string) => `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: web}
spec:
  vrid: 51
  interface: eth0
  advertInterval: 100ms
  addresses: [{address: ${VIP4}/24}, {address: ${VIP6}/64}]
  priorities: [{node: n1, priority: 150}]
  garp: ${garp}
`;

describe.skipIf(!ROOT)("announcement refresh on the wire", { timeout: 30_000 }, () => {
  let lab: Lab;
  let agents: RunningAgent[] = [];

  beforeAll(() => {
    lab = Lab.create({ prefix: "vkga-", nodes: 1 });
  });
  afterAll(() => lab?.destroy());
  afterEach(async () => {
    for (const n of lab.nodes) lab.killAll(n.name);
    await Promise.all(agents.map((a) => a.exited));
    agents = [];
    for (const vip of [`${VIP4}/24`, `${VIP6}/64`])
      spawnSync("ip", ["-n", lab.node("n1").ns, "addr", "del", vip, "dev", "eth0"]);
  });

  /** What the client hears for `seconds`: the times (s) of ARP for VIP4 and NA for VIP6. */
  const capture = (seconds: number) => {
    const out = spawnSync(
      "ip",
      [
        "netns",
        "exec",
        lab.client.ns,
        "timeout",
        String(seconds),
        "tcpdump",
        "-l",
        "-n",
        "-tt",
        "-i",
        "eth0",
        "arp or (icmp6 and ip6[40] == 136)",
      ],
      { encoding: "utf8" },
    ).stdout;
    const lines = out.split("\n");
    const at = (re: RegExp) => lines.filter((l) => re.test(l)).map((l) => Number(l.split(" ")[0]));
    return {
      arp: at(new RegExp(`ARP, .*${VIP4.replaceAll(".", "\\.")}`)),
      na: at(/ICMP6, neighbor advertisement, tgt is 2001:db8::50\b/),
      text: out,
    };
  };
  const gapsMs = (ts: number[]) => ts.slice(1).map((t, i) => Math.round((t - ts[i]!) * 1000));
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

  const master = async (garp: string) => {
    agents.push(startAgent(lab, "n1", writeConfig(router(garp))));
    await waitUntil(() => lab.holds("n1", VIP4) && lab.holds("n1", VIP6), 10_000, "n1 to hold both VIPs");
  };

  it("garp.refresh 1s: one gratuitous ARP and one unsolicited NA a second, for as long as it is master", async () => {
    await master("{delay: 0s, repeat: 1, refresh: 1s}");
    await new Promise((r) => setTimeout(r, 500)); // past the start-up burst
    const seen = capture(5.5);
    // 5.5 s at 1 s: 5 or 6 of each (the capture's start and end are not aligned with the refresh).
    expect(seen.arp.length, seen.text).toBeGreaterThanOrEqual(4);
    expect(seen.arp.length, seen.text).toBeLessThanOrEqual(7);
    expect(seen.na.length, seen.text).toBeGreaterThanOrEqual(4);
    expect(seen.na.length, seen.text).toBeLessThanOrEqual(7);
    // On the set interval: each gap within a loaded machine's margin, the median close to 1 s.
    for (const gaps of [gapsMs(seen.arp), gapsMs(seen.na)]) {
      for (const g of gaps) {
        expect(g).toBeGreaterThan(700);
        expect(g).toBeLessThan(1500);
      }
      expect(Math.abs(median(gaps) - 1000)).toBeLessThan(150);
    }
    console.log(`refresh gaps (ms): ARP ${gapsMs(seen.arp).join(", ")}; NA ${gapsMs(seen.na).join(", ")}`);
  });

  it("without garp.refresh: nothing after the start-up bursts", async () => {
    await master("{delay: 1s, repeat: 1}");
    await new Promise((r) => setTimeout(r, 1500)); // past the burst at start and the one after delay
    const seen = capture(3);
    expect(seen.arp, seen.text).toEqual([]);
    expect(seen.na, seen.text).toEqual([]);
  });
});
