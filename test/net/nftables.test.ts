// The nftables dataplane for real: a load-balancer node with the VIP, three HTTP backends and a
// client in the lab. The distribution follows the weights, a failed server's share moves to the
// others, the sorry server answers when none is left, a restart's replacement of the table loses
// no request, and a table that is not vipkeeper's stays as it was.
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import type { VirtualService } from "../../src/lb/model.ts";
import { applyNft, NftSession } from "../../src/lb/nft-apply.ts";
import { NftablesPlan, TABLE } from "../../src/lb/nftables.ts";
import { replaceTable } from "../../src/lb/backend.ts";
import { HTTP_LOAD, httpLoad, startBackend } from "../support/http-traffic.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/nftables.test.ts skipped: needs root for network namespaces");

const VIP = "198.18.0.50";

describe.skipIf(!ROOT)("the nftables dataplane in the lab", { timeout: 60_000 }, () => {
  let lab: Lab;
  const service: VirtualService = {
    key: "default/web",
    family: 4,
    address: VIP,
    port: 80,
    protocol: "tcp",
    scheduler: "wrr",
    forwarding: "nat",
    realServers: [
      { address: "198.18.0.12", port: 8080, weight: 1 },
      { address: "198.18.0.13", port: 8080, weight: 2 },
      { address: "198.18.0.14", port: 8080, weight: 3 },
    ],
    sorryServer: { address: "198.18.0.15", port: 8080, weight: 1 },
    inhibitOnFailure: false,
    quorum: 1,
    hysteresis: 0,
  };
  const load = (n: number) => httpLoad(lab, `http://${VIP}/`, n);
  const lb = () => lab.node("n1").ns;
  const foreign = () =>
    spawnSync("ip", ["netns", "exec", lb(), "nft", "list", "table", "inet", "other"]).stdout.toString();

  beforeAll(async () => {
    lab = Lab.create({ prefix: "vkn-", nodes: 5 });
    // n1 balances; n2..n4 serve; n5 is the sorry server. Backends answer the client through n1,
    // as NAT mode needs (keepalived's director is the real servers' gateway).
    lab.exec("n1", ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    lab.exec("n1", ["ip", "addr", "add", `${VIP}/24`, "dev", "eth0"]);
    for (const n of ["n2", "n3", "n4", "n5"]) {
      lab.exec(n, ["ip", "route", "add", `${lab.client.ipv4}/32`, "via", lab.node("n1").ipv4]);
      await startBackend(lab, n, 8080);
    }
    // Someone else's table on the same node (kube-proxy's, say): it must stay untouched.
    lab.exec("n1", [
      "nft",
      "add table inet other; add chain inet other c { type filter hook input priority 0; }; add rule inet other c counter",
    ]);
  });
  afterAll(() => lab?.destroy());

  it("follows the weights, moves a failed server's share, falls back to the sorry server, and keeps others' tables", async () => {
    const before = foreign().replace(/packets \d+ bytes \d+/, "");
    const plan = new NftablesPlan([service]);
    await applyNft(plan.initial(), lb());
    // Changes through a long-lived nft session, as the agent makes them.
    const session = new NftSession(TABLE, lb());
    const change = (server: string, healthy: boolean) =>
      session.apply(plan.setHealth("default/web", server, healthy));
    // numgen inc over 120 weighted slots: exact shares for a multiple of the slot count.
    expect(plan.slots("default/web")).toHaveLength(120);
    expect(load(600)).toEqual({ n2: 100, n3: 200, n4: 300 });

    // The change names only n3's 40 slots, which go to n2 and n4 by weight (1:3).
    const down = plan.setHealth("default/web", "198.18.0.13:8080", false);
    expect(down.match(/ : 198\.18\.0\.1[24] \. 8080/g)).toHaveLength(40);
    expect(down).not.toContain("nft");
    await session.apply(down);
    expect(load(480)).toEqual({ n2: 120, n4: 360 });

    await change("198.18.0.12:8080", false);
    await change("198.18.0.14:8080", false);
    expect(load(20)).toEqual({ n5: 20 });

    await change("198.18.0.13:8080", true);
    expect(load(20)).toEqual({ n3: 20 });
    // A refused transaction is reported, not hung on, and the session goes on.
    await expect(session.apply("add rule inet vipkeeper_lb nowhere drop")).rejects.toThrow(
      "No such file or directory",
    );
    await change("198.18.0.12:8080", true);
    expect(load(120)).toEqual({ n2: 40, n3: 80 });
    session.close();
    expect(foreign().replace(/packets \d+ bytes \d+/, "")).toBe(before);
  });

  it("health flips under load lose no request and send none to a removed server", async () => {
    const plan = new NftablesPlan([service]);
    await applyNft(plan.initial(), lb());
    const session = new NftSession(TABLE, lb());
    const client = lab.spawn("client", [process.execPath, HTTP_LOAD, `http://${VIP}/`, "1500"]);
    let out = "";
    client.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise((r) => client.once("exit", r));
    let flips = 0;
    for (let done = false; !done; flips++) {
      await session.apply(plan.setHealth("default/web", "198.18.0.14:8080", flips % 2 === 1));
      done = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((r) => setTimeout(r, 20, false)),
      ]);
    }
    const counts = JSON.parse(out) as Record<string, number>;
    expect(flips).toBeGreaterThan(4);
    expect(counts.error ?? 0).toBe(0);
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(1500);
    // Down for good: n4 (198.18.0.14) gets nothing from the moment its change is acknowledged.
    await session.apply(plan.setHealth("default/web", "198.18.0.14:8080", false));
    expect(load(120)).toEqual({ n2: 40, n3: 80 });
    session.close();
  });

  it("a restart replaces the table atomically: no request fails while it happens", async () => {
    expect(await replaceTable(new NftablesPlan([service]), lb())).toEqual({});
    // Four clients, each a new connection per request, while the table is replaced back to back:
    // deleting and re-making the table here refused or dropped 1-3 connections of 40,000: enough
    // requests that the old way fails here most runs (~90%).
    const clients = [0, 1, 2, 3].map(() => {
      const client = lab.spawn("client", [process.execPath, HTTP_LOAD, `http://${VIP}/`, "20000"]);
      const result = { out: "", err: "" };
      client.stdout?.on("data", (d: Buffer) => (result.out += d.toString()));
      client.stderr?.on("data", (d: Buffer) => (result.err += d.toString()));
      // Listen now: the clients may be done before the replacements are.
      return { result, exited: new Promise((r) => client.once("exit", r)) };
    });
    const exited = Promise.all(clients.map((c) => c.exited));
    let restarts = 0;
    for (let done = false; !done; restarts++) {
      expect(await replaceTable(new NftablesPlan([service]), lb())).toEqual({});
      done = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((r) => setImmediate(r, false)),
      ]);
    }
    expect(restarts).toBeGreaterThan(4);
    await exited;
    for (const { result } of clients) {
      const counts = JSON.parse(result.out) as Record<string, number>;
      expect(counts.error ?? 0, `${result.err} over ${restarts} replacements`).toBe(0);
      expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(20000);
    }
  });

  it("a table it cannot keep (a base chain defined otherwise) is made anew, and says so", async () => {
    lab.exec("n1", [
      "nft",
      `add table inet ${TABLE}; delete table inet ${TABLE}; add table inet ${TABLE}; ` +
        `add chain inet ${TABLE} prerouting { type nat hook prerouting priority -90; policy accept; }`,
    ]);
    const { madeAnew } = await replaceTable(new NftablesPlan([service]), lb());
    expect(madeAnew).toMatch(/^nft -f - failed \(1\): /);
    const chain = lab.exec("n1", ["nft", "list", "chain", "inet", TABLE, "prerouting"]);
    expect(chain).toContain("priority dstnat;");
    const answers = load(60);
    expect(answers.error).toBeUndefined();
    expect(Object.values(answers).reduce((a, b) => a + b, 0)).toBe(60);
  });
});
