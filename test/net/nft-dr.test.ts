// Direct routing with the nftables dataplane, for real: the director holds the VIP and, at its
// eth0's ingress, sends each client connection on to a real server's MAC address, the packet
// unchanged; the real servers hold the VIP on lo (arp_ignore, arp_announce) and answer the client
// directly. The director does not forward IP at all (ip_forward=0), so nothing else can carry it.
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import type { VirtualService } from "../../src/lb/model.ts";
import { applyNft, NftSession } from "../../src/lb/nft-apply.ts";
import { DR_TABLE, NftablesPlan, TABLE } from "../../src/lb/nftables.ts";
import { httpLoad, startBackend } from "../support/http-traffic.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/nft-dr.test.ts skipped: needs root for network namespaces");

const VIP = "198.18.0.70";

describe.skipIf(!ROOT)("direct routing in the nftables dataplane", { timeout: 60_000 }, () => {
  let lab: Lab;
  const service: VirtualService = {
    key: "default/dr",
    family: 4,
    address: VIP,
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
  };
  const load = (n: number) => httpLoad(lab, `http://${VIP}/`, n);
  const lb = () => lab.node("n1").ns;
  const counter = (host: string) =>
    spawnSync("ip", [
      "netns",
      "exec",
      lab.node(host).ns,
      "nft",
      "list",
      "table",
      "netdev",
      "watch",
    ]).stdout.toString();

  beforeAll(async () => {
    lab = Lab.create({ prefix: "vknfd", nodes: 3 });
    lab.exec("n1", ["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
    lab.exec("n1", ["ip", "addr", "add", `${VIP}/24`, "dev", "eth0"]);
    for (const n of ["n2", "n3"]) {
      for (const c of ["all", "eth0"])
        lab.exec(n, [
          "sysctl",
          "-qw",
          `net.ipv4.conf.${c}.arp_ignore=1`,
          `net.ipv4.conf.${c}.arp_announce=2`,
        ]);
      lab.exec(n, ["ip", "addr", "add", `${VIP}/32`, "dev", "lo"]);
      await startBackend(lab, n, 80);
    }
    // Counts answers from the VIP arriving at the director: with DR there must be none.
    lab.exec("n1", [
      "nft",
      `add table netdev watch; add chain netdev watch c { type filter hook ingress device "eth0" priority 10; }; add rule netdev watch c ip saddr ${VIP} tcp sport 80 counter`,
    ]);
  });
  afterAll(() => lab?.destroy());

  it("spreads connections over the real servers, which answer the client directly; a failed one leaves", async () => {
    const plan = new NftablesPlan([service]);
    const table = plan.initial();
    expect(table).toContain(`table netdev ${DR_TABLE} {`);
    await applyNft(table, lb());
    const spread = load(200);
    expect(spread.error).toBeUndefined();
    expect(Object.keys(spread).sort()).toEqual(["n2", "n3"]);
    // By a hash of the client's port: roughly even, never all on one.
    expect(Math.min(spread.n2!, spread.n3!)).toBeGreaterThan(40);
    expect(counter("n1")).toContain("counter packets 0 bytes 0");
    // The VIP's own table has no NAT for it: DR packets never reach prerouting.
    const inet = spawnSync("ip", [
      "netns",
      "exec",
      lb(),
      "nft",
      "list",
      "table",
      "inet",
      TABLE,
    ]).stdout.toString();
    expect(inet).not.toContain(VIP);

    const session = new NftSession(DR_TABLE, lb());
    await session.apply(plan.setHealth("default/dr", "198.18.0.12:80", false));
    expect(load(60)).toEqual({ n3: 60 });
    await session.apply(plan.setHealth("default/dr", "198.18.0.13:80", false));
    expect(load(3)).toEqual({ error: 3 }); // no server left: dropped, not answered by the director
    await session.apply(plan.setHealth("default/dr", "198.18.0.12:80", true));
    expect(load(30)).toEqual({ n2: 30 });
    session.close();
    expect(counter("n1")).toContain("counter packets 0 bytes 0");
  });
});
