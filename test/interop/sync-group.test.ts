// A vrrp_sync_group beside keepalived 2.2.7: vipkeeper on n1 runs a keepalived.conf with a sync group
// of two instances, keepalived on n2 the same file with lower priorities. The group moves whole, in
// both directions, whatever the cause: a tracked link failing one member (Fault), and priorities
// (a member of a group never takes over alone, and never stays behind alone). Lab prefix "vksg-".
import { spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import { startAgent, waitUntil, type RunningAgent } from "../support/agents.ts";
import { keepalivedCommand } from "./keepalived.ts";

const ROOT = process.getuid?.() === 0;
const HAVE_KEEPALIVED = spawnSync("keepalived", ["--version"]).status === 0;
if (!ROOT || !HAVE_KEEPALIVED)
  console.warn("test/interop/sync-group.test.ts skipped: needs root and keepalived");

const WEB = "198.18.0.50";
const DB = "198.18.0.60";

/** One file for both nodes but for the priorities; WEB tracks trk0, DB tracks trk1. */
function conf(node: string, priority: number, track: { weight?: number }, notify?: string): string {
  const weight = track.weight === undefined ? "" : ` weight ${track.weight}`;
  const instance = (name: string, vrid: number, vip: string, link: string) => `vrrp_instance ${name} {
  state BACKUP
  version 3
  interface eth0
  virtual_router_id ${vrid}
  priority ${priority}
  advert_int 0.1
  track_interface {
    ${link}${weight}
  }
  virtual_ipaddress {
    ${vip}/24
  }
}
`;
  return `global_defs {
  router_id ${node}
  enable_script_security
  vrrp_garp_master_delay 1
}
vrrp_sync_group G {
  group {
    WEB
    DB
  }${notify ? `\n  notify ${notify}` : ""}
}
${instance("WEB", 61, WEB, "trk0")}${instance("DB", 62, DB, "trk1")}`;
}

describe.skipIf(!ROOT || !HAVE_KEEPALIVED)("vrrp_sync_group beside keepalived", { timeout: 60_000 }, () => {
  let lab: Lab;
  let agent: RunningAgent | undefined;
  let keepalived: ChildProcess | undefined;
  const keepalivedLog: string[] = [];
  const holders = () => `${lab.holders(WEB).join()} ${lab.holders(DB).join()}`;
  const link = (node: string, name: string, up: boolean) =>
    lab.exec(node, ["ip", "link", "set", name, up ? "up" : "down"]);

  beforeAll(() => {
    lab = Lab.create({ prefix: "vksg-", nodes: 2 });
    for (const n of ["n1", "n2"])
      for (const l of ["trk0", "trk1"]) {
        // A veth pair (this kernel has no dummy links): the tracked end and a peer that stays up.
        lab.exec(n, ["ip", "link", "add", l, "type", "veth", "peer", "name", `${l}p`]);
        link(n, `${l}p`, true);
        link(n, l, true);
      }
  });
  afterAll(() => lab?.destroy());
  afterEach(async ({ task }) => {
    if (task.result?.state === "fail")
      console.log(
        `vipkeeper:\n${agent?.log.slice(-30).join("\n")}\nkeepalived:\n${keepalivedLog.join("").split("\n").slice(-30).join("\n")}`,
      );
    keepalivedLog.length = 0;
    for (const n of lab.nodes) lab.killAll(n.name);
    if (agent) await agent.exited;
    agent = undefined;
    for (const n of lab.nodes) {
      for (const a of [`${WEB}/24`, `${DB}/24`])
        spawnSync("ip", ["-n", n.ns, "addr", "del", a, "dev", "eth0"]);
      for (const l of ["trk0", "trk1"]) link(n.name, l, true);
    }
  });

  /** The lines vipkeeper's group notify script wrote (its arguments: GROUP G STATE). */
  let notified = () => [] as string[];

  const start = (opts: { vipkeeper: number; keepalived: number; weight?: number }) => {
    const dir = mkdtempSync(join(tmpdir(), "vk-sync-"));
    const file = join(dir, "keepalived.conf");
    const script = join(dir, "group-notify.sh");
    const out = join(dir, "group-notify.out");
    writeFileSync(script, `#!/bin/sh\necho "$@" >> ${out}\n`);
    chmodSync(script, 0o755);
    notified = () => (existsSync(out) ? readFileSync(out, "utf8").trim().split("\n") : []);
    // Only vipkeeper's file has the group's notify: keepalived refuses scripts under /tmp.
    writeFileSync(file, conf("n1", opts.vipkeeper, opts, script));
    agent = startAgent(lab, "n1", file);
    const { argv } = keepalivedCommand(conf("n2", opts.keepalived, opts));
    keepalived = lab.spawn("n2", argv);
    keepalived.stdout?.on("data", (d: Buffer) => keepalivedLog.push(d.toString()));
    keepalived.stderr?.on("data", (d: Buffer) => keepalivedLog.push(d.toString()));
  };

  it("a tracked link fails one member: the whole group goes to keepalived, and comes back whole", async () => {
    start({ vipkeeper: 150, keepalived: 100 });
    await waitUntil(() => holders() === "n1 n1", 15_000, "vipkeeper to hold both");
    link("n1", "trk1", false); // only DB tracks it
    await waitUntil(() => holders() === "n2 n2", 5000, "keepalived to take both");
    // WEB's own link is up: it went to Fault with its group, and the log says why.
    expect(agent!.log.some((l) => l.includes('"reason":"sync-group"') && l.includes("web/ipv4"))).toBe(true);
    link("n1", "trk1", true);
    await waitUntil(() => holders() === "n1 n1", 5000, "vipkeeper to take both back");
    // The group's own notify script ran at each change of the group's state, as keepalived's does.
    await waitUntil(() => notified().length >= 5, 3000, "the group's notify script");
    expect(notified()).toEqual([
      "GROUP G BACKUP",
      "GROUP G MASTER",
      "GROUP G FAULT",
      "GROUP G BACKUP",
      "GROUP G MASTER",
    ]);
  });

  it("priorities: the group moves only when every member can, and then whole; keepalived's group the same", async () => {
    // vipkeeper 150 - 100 per failed link; keepalived 100 - 100 (its links stay up).
    start({ vipkeeper: 150, keepalived: 100, weight: -100 });
    await waitUntil(() => holders() === "n1 n1", 15_000, "vipkeeper to hold both");
    // WEB drops to 50: keepalived's WEB could preempt, its DB cannot (150 > 100): keepalived stays Backup.
    link("n1", "trk0", false);
    await new Promise((r) => setTimeout(r, 2000));
    expect(holders()).toBe("n1 n1");
    // DB drops too: keepalived's whole group can, and takes both.
    link("n1", "trk1", false);
    await waitUntil(() => holders() === "n2 n2", 5000, "keepalived to take both");
    // WEB is back at 150 > 100: vipkeeper's WEB would preempt, but its DB (50) cannot: it stays Backup.
    link("n1", "trk0", true);
    await new Promise((r) => setTimeout(r, 2000));
    expect(holders()).toBe("n2 n2");
    // DB back too: vipkeeper's group preempts whole.
    link("n1", "trk1", true);
    await waitUntil(() => holders() === "n1 n1", 5000, "vipkeeper to take both back");
  });
});
