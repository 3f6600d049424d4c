// Persistence in the nftables dataplane, for real: a client keeps going to one real server while
// it keeps coming back within the timeout, a client subnet shares one, and when that server fails
// the client moves to another and stays there; the sorry server's clients move back when a real
// server does.
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import type { VirtualService } from "../../src/lb/model.ts";
import { applyNft, NftSession } from "../../src/lb/nft-apply.ts";
import { applyHealth } from "../../src/lb/nft-persist.ts";
import { NftablesPlan, persistMapName, TABLE } from "../../src/lb/nftables.ts";
import { httpLoad, startBackend } from "../support/http-traffic.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/nft-persistence.test.ts skipped: needs root for network namespaces");

const VIP = "198.18.0.60";

describe.skipIf(!ROOT)("persistence in the nftables dataplane", { timeout: 60_000 }, () => {
  let lab: Lab;
  const service = (over: Partial<VirtualService> = {}): VirtualService => ({
    key: "default/sticky",
    family: 4,
    address: VIP,
    port: 80,
    protocol: "tcp",
    scheduler: "wrr",
    forwarding: "nat",
    realServers: [
      { address: "198.18.0.12", port: 8080, weight: 1 },
      { address: "198.18.0.13", port: 8080, weight: 1 },
      { address: "198.18.0.14", port: 8080, weight: 1 },
    ],
    inhibitOnFailure: false,
    quorum: 1,
    hysteresis: 0,
    persistence: { timeoutMs: 30_000, ipv4PrefixLength: 32, ipv6PrefixLength: 128 },
    ...over,
  });
  const load = (n: number) => httpLoad(lab, `http://${VIP}/`, n);
  const lb = () => lab.node("n1").ns;
  const persisted = (svc: VirtualService) =>
    spawnSync("ip", [
      "netns",
      "exec",
      lb(),
      "nft",
      "list",
      "map",
      "inet",
      TABLE,
      persistMapName(svc),
    ]).stdout.toString();

  /** One real server (n2) and a sorry server (n4), the table applied; `health` flips the real one. */
  const sorryServed = async () => {
    const svc = service({
      realServers: [{ address: "198.18.0.12", port: 8080, weight: 1 }],
      sorryServer: { address: "198.18.0.14", port: 8080, weight: 1 },
    });
    const plan = new NftablesPlan([svc]);
    await applyNft(plan.initial(), lb());
    const session = new NftSession(TABLE, lb());
    const health = (healthy: boolean) =>
      applyHealth(session, plan, { service: svc.key, server: "198.18.0.12:8080", healthy }, lb());
    return { svc, session, health };
  };

  beforeAll(async () => {
    lab = Lab.create({ prefix: "vknf-", nodes: 4 });
    lab.exec("n1", ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    lab.exec("n1", ["ip", "addr", "add", `${VIP}/24`, "dev", "eth0"]);
    for (const n of ["n2", "n3", "n4"]) {
      lab.exec(n, ["ip", "route", "add", `${lab.client.ipv4}/32`, "via", lab.node("n1").ipv4]);
      await startBackend(lab, n, 8080);
    }
  });
  afterAll(() => lab?.destroy());

  it("keeps a client on one real server, and moves it (once) when that server fails", async () => {
    const svc = service();
    // Without persistence the same load spreads over all three: the control for what follows.
    await applyNft(new NftablesPlan([service({ persistence: undefined })]).initial(), lb());
    expect(Object.keys(load(30)).sort()).toEqual(["n2", "n3", "n4"]);

    const plan = new NftablesPlan([svc]);
    await applyNft(plan.initial(), lb());
    const first = load(30);
    expect(Object.values(first)).toEqual([30]);
    const [home] = Object.keys(first);
    const homeAddress = `198.18.0.${{ n2: 12, n3: 13, n4: 14 }[home!]}`;
    expect(persisted(svc)).toMatch(
      new RegExp(`${lab.client.ipv4} expires \\S+ : ${homeAddress.replaceAll(".", "\\.")} \\. 8080`),
    );

    const session = new NftSession(TABLE, lb());
    await applyHealth(
      session,
      plan,
      { service: svc.key, server: `${homeAddress}:8080`, healthy: false },
      lb(),
    );
    const moved = load(30);
    expect(Object.values(moved)).toEqual([30]);
    expect(Object.keys(moved)[0]).not.toBe(home);
    // And it stays on its new server when the old one comes back.
    await applyHealth(
      session,
      plan,
      { service: svc.key, server: `${homeAddress}:8080`, healthy: true },
      lb(),
    );
    expect(load(30)).toEqual(moved);
    session.close();
  });

  it("clients held by the sorry server move to a real server as soon as one is back", async () => {
    const { svc, session, health } = await sorryServed();
    expect(load(5)).toEqual({ n2: 5 });
    await health(false);
    expect(load(5)).toEqual({ n4: 5 });
    expect(persisted(svc)).toMatch(/: 198\.18\.0\.14 \. 8080/);
    await health(true);
    expect(load(5)).toEqual({ n2: 5 });
    expect(persisted(svc)).not.toMatch(/198\.18\.0\.14/);
    session.close();
  });

  it("a connection still open to a server that left does not send its client back there", async () => {
    const { svc, session, health } = await sorryServed();
    await health(false);
    expect(load(5)).toEqual({ n4: 5 });
    // The client keeps a connection open to the sorry server, and sends on it after the real
    // server is back and its entry was evicted: that packet must not write the entry again.
    const held = lab.spawn("client", [
      "bash",
      "-c",
      `exec 3<>/dev/tcp/${VIP}/80; sleep 1.5; printf 'GET' >&3; sleep 0.5; printf ' /' >&3; sleep 30`,
    ]);
    await new Promise((r) => setTimeout(r, 500));
    await health(true);
    await new Promise((r) => setTimeout(r, 2000));
    expect(persisted(svc)).not.toMatch(/198\.18\.0\.14/);
    expect(load(5)).toEqual({ n2: 5 });
    held.kill("SIGKILL");
    session.close();
  });

  it("a client subnet shares one server; an entry ends after the timeout since the last packet", async () => {
    const svc = service({ persistence: { timeoutMs: 2000, ipv4PrefixLength: 24, ipv6PrefixLength: 128 } });
    await applyNft(new NftablesPlan([svc]).initial(), lb());
    expect(Object.values(load(20))).toEqual([20]);
    const subnet = lab.client.ipv4.replace(/\.\d+$/, ".0");
    expect(persisted(svc)).toContain(`${subnet} expires`);
    await new Promise((r) => setTimeout(r, 2500));
    expect(persisted(svc)).not.toContain(`${subnet} expires`);
  });
});
