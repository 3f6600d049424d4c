// Every channel of transition notifications from a real agent in the lab: a notify script with
// keepalived's arguments, a webhook on another host of the network, and mail through the node's
// SMTP server, for each state an instance goes through: backup and master at start, fault when its
// cable is pulled, and stop when the agent is told to end (the last ones sent before it exits).
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import { readStatus, startAgent, waitUntil, writeConfig, type RunningAgent } from "../support/agents.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/notifications.test.ts skipped: needs root for network namespaces");

const VIP = "198.18.0.70";
const SUPPORT = join(import.meta.dirname, "../support");

/** The router (n1's alone unless other priorities are given), with these lines of `notify:` settings. */
const routerFile = (notify: string, priorities = "[{node: n1, priority: 150}]") =>
  writeConfig(`apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: web}
spec:
  vrid: 61
  interface: eth0
  advertInterval: 100ms
  addresses: [{address: ${VIP}/24}]
  priorities: ${priorities}
${notify}`);

describe.skipIf(!ROOT)("notifications from an agent in the lab", { timeout: 60_000 }, () => {
  let lab: Lab;
  let agent: RunningAgent | undefined;
  const others: RunningAgent[] = [];
  const dir = mkdtempSync(join(tmpdir(), "vk-notify-"));
  const lines = (name: string) => {
    const f = join(dir, name);
    return existsSync(f) ? readFileSync(f, "utf8").trim().split("\n") : [];
  };
  const hooks = () =>
    lines("hooks").map((l) => JSON.parse(l) as { to: string; from: string; reason: string });
  const mails = () => lines("mail").map((l) => JSON.parse(l) as { to: string[]; data: string });

  beforeAll(() => {
    lab = Lab.create({ prefix: "vkn-", nodes: 2 });
  });
  afterAll(async () => {
    for (const a of [agent, ...others]) a?.child.kill("SIGKILL");
    await Promise.all([agent, ...others].map((a) => a?.exited ?? Promise.resolve(null)));
    for (const n of lab.nodes) lab.killAll(n.name); // the scripts an ended engine left running
    lab.destroy();
  });

  const listening = (host: string, argv: string[]) =>
    new Promise((resolve) => lab.spawn(host, [process.execPath, ...argv]).stdout?.once("data", resolve));

  it("tells each channel of backup, master, fault and stop", async () => {
    // The webhook's receiver is on the client, across the switch; the mail server on the node.
    await Promise.all([
      listening("client", [join(SUPPORT, "webhook-sink.ts"), "0.0.0.0", "8080", join(dir, "hooks")]),
      listening("n1", [join(SUPPORT, "smtp-sink.ts"), "25", join(dir, "mail")]),
    ]);
    const script = join(dir, "notify.sh");
    writeFileSync(script, `#!/bin/sh\necho "$@" >> ${join(dir, "scripts")}\n`);
    chmodSync(script, 0o755);
    const config = routerFile(`  notify:
    scripts: {any: ${script}}
    webhooks: [{url: "http://198.18.0.100:8080/hook", timeout: 1s, retries: 6}]
    mail: {to: [root@localhost], from: vipkeeper@localhost, server: "127.0.0.1:25", routerId: n1}
`);
    agent = startAgent(lab, "n1", config);
    const a = agent;
    const state = async () => (await readStatus(a.socket)).instances[0]?.state;
    const told = (to: string, word: string) =>
      hooks().some((h) => h.to === to) &&
      mails().some((m) => m.data.includes(`Subject: [n1] VRRP Instance web/ipv4 - Entering ${word} state`)) &&
      lines("scripts").includes(`INSTANCE web ${word} 150`);

    await waitUntil(() => lab.holders(VIP).join() === "n1", 10_000, "n1 to hold the VIP");
    await waitUntil(
      () => told("backup", "BACKUP") && told("master", "MASTER"),
      10_000,
      "backup and master told",
    );
    expect(hooks().find((h) => h.to === "master")).toMatchObject({ from: "backup", reason: "master-down" });
    expect(mails()[0]!.to).toEqual(["root@localhost"]);
    // The log line of the transition: JSON with the stable field names log filters rely on.
    const logged = a.log.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
    expect(logged.find((l) => l.to === "master")).toMatchObject({
      level: "info",
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
      component: "engine",
      node: "n1",
      instance: "web/ipv4",
      vrid: 61,
      from: "backup",
      reason: "master-down",
    });

    // The cable out: the instance's own interface fails, so Fault; the webhook is sent while the
    // node has no network, and its retries deliver it once the cable is back.
    lab.linkDown("n1");
    await waitUntil(async () => (await state()) === "fault", 5000, "fault");
    await new Promise((r) => setTimeout(r, 500));
    lab.linkUp("n1");
    await waitUntil(() => told("fault", "FAULT"), 15_000, "fault told");
    await waitUntil(async () => (await state()) === "master", 10_000, "master again");

    // Told to end: the instance stops; what it tells of that arrives before the agent exits.
    a.child.kill("SIGTERM");
    expect(await a.exited).toBe(0);
    agent = undefined;
    expect(told("initialize", "STOP")).toBe(true);
    expect(hooks().find((h) => h.to === "initialize")).toMatchObject({ from: "master", reason: "shutdown" });
    expect(lab.holders(VIP)).toEqual([]);
  });

  it("hooks that hang never delay VRRP, and do not keep an ending agent: it exits on its own", async () => {
    // A webhook receiver and a mail server that accept connections and never answer, and a notify
    // script that takes 20 s: every hook of every transition hangs.
    await listening("client", [
      "-e",
      `const net = require("node:net");
       net.createServer(() => {}).listen(8081, "0.0.0.0", () =>
         net.createServer(() => {}).listen(2525, "0.0.0.0", () => console.log("listening")));`,
    ]);
    const config = routerFile(
      `  notify:
    scripts: {master: "sleep 20", backup: "sleep 20", stop: "sleep 20"}
    webhooks: [{url: "http://198.18.0.100:8081/hook", timeout: 60s, retries: 10}]
    mail: {to: [root@localhost], from: vipkeeper@localhost, server: "198.18.0.100:2525"}
`,
      "[{node: n1, priority: 150}, {node: n2, priority: 100}]",
    );
    const [a1, a2] = [startAgent(lab, "n1", config), startAgent(lab, "n2", config)];
    others.push(a2);
    agent = a1;
    // Undefined until the agent serves its status socket.
    const status = async (a: RunningAgent) =>
      (await readStatus(a.socket).catch(() => undefined))?.instances[0];
    await waitUntil(
      async () => lab.holders(VIP).join() === "n1" && (await status(a2))?.state === "backup",
      10_000,
      "n1 master, n2 backup",
    );
    // n1's hooks of its transitions hang; its adverts go on: n2 hears them and stays backup
    // for many times its master-down interval (~0.36 s at 100 ms adverts).
    // (Both started at once: n2 may have been master for a moment before n1's first advert.)
    const counts = async () => {
      const c = (await readStatus(a2.socket)).counters;
      return {
        heard: c['adverts_received{instance="web/ipv4"}'] ?? 0,
        masters: c['transitions{instance="web/ipv4",to="master"}'] ?? 0,
      };
    };
    const before = await counts();
    await new Promise((r) => setTimeout(r, 3000));
    const after = await counts();
    expect(after.heard).toBeGreaterThan(before.heard);
    expect(after.masters).toBe(before.masters);
    expect((await status(a2))?.state).toBe("backup");
    expect(lab.holders(VIP)).toEqual(["n1"]);

    a1.child.kill("SIGTERM");
    expect(await a1.exited).toBe(0);
    agent = undefined;
    const log = a1.log.join("\n");
    expect(log).toContain("notifications still under way at exit; left undone");
    // The engine ended by itself, inside its supervisor's grace: it was not killed.
    expect(log).not.toContain("engine did not stop in time");
    await waitUntil(() => lab.holders(VIP).join() === "n2", 5000, "n2 to take over");
  });
});
