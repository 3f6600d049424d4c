// Track and notify scripts: rise / fall counting, real shell runs (exit status, bash syntax,
// timeouts that kill what the script started), and keepalived's notify arguments.
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RiseFall } from "../../src/health/rise-fall.ts";
import { runShell } from "../../src/base/shell.ts";
import type { TransitionEvent } from "../../src/observe/events.ts";
import type { InstancePlan } from "../../src/plan/plan.ts";
import { groupNotifyCommands, notifyCommands } from "../../src/observe/notify-scripts.ts";

describe("rise and fall", () => {
  it("changes health only after `fall` failures or `rise` successes in a row", () => {
    const h = new RiseFall(2, 3);
    expect([false, false].map((ok) => h.record(ok))).toEqual([undefined, undefined]);
    expect(h.record(true)).toBeUndefined(); // the streak is broken
    expect([false, false, false].map((ok) => h.record(ok))).toEqual([undefined, undefined, false]);
    expect(h.healthy).toBe(false);
    expect([true, false, true, true].map((ok) => h.record(ok))).toEqual([
      undefined,
      undefined,
      undefined,
      true,
    ]);
  });

  it("rise and fall of 1 follow every result", () => {
    const h = new RiseFall(1, 1);
    expect([false, false, true].map((ok) => h.record(ok))).toEqual([false, undefined, true]);
  });
});

describe("running shell commands", () => {
  it("reports the exit status and runs bash syntax as keepalived's tutorials write it", async () => {
    expect((await runShell("exit 0")).code).toBe(0);
    expect((await runShell("exit 3")).code).toBe(3);
    const dir = mkdtempSync(join(tmpdir(), "vk-sh-"));
    const check = `[[ -f ${dir}/down ]] && exit 1 || exit 0`;
    expect((await runShell(check)).code).toBe(0);
    await runShell(`touch ${dir}/down`);
    expect((await runShell(check)).code).toBe(1);
  });

  it("passes arguments as $1.., which a notify line appends after the command's own", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vk-sh-"));
    await runShell(`printf '%s,' >${dir}/out own "$@"`, { args: ["INSTANCE", "web", "MASTER", "150"] });
    expect(readFileSync(join(dir, "out"), "utf8")).toBe("own,INSTANCE,web,MASTER,150,");
  });

  it("a timeout kills the script and what it started", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vk-sh-"));
    const r = await runShell(`(sleep 0.5; touch ${dir}/late) & sleep 5`, { timeoutMs: 100 });
    expect(r).toMatchObject({ timedOut: true, code: undefined });
    await new Promise((res) => setTimeout(res, 700));
    expect(existsSync(join(dir, "late"))).toBe(false);
  });
});

describe("notify commands", () => {
  const plan = {
    key: "web/ipv4",
    router: "web",
    notify: { master: "/bin/m", backup: "/bin/b", any: "/bin/any" },
  } as unknown as InstancePlan;
  const event = (to: TransitionEvent["to"]): TransitionEvent => ({
    plan,
    from: "backup",
    to,
    reason: "test",
    at: 0,
    priority: 150,
  });

  it("runs the state's own script, and `notify` with INSTANCE name STATE priority", () => {
    expect(notifyCommands(event("master"))).toEqual([
      { command: "/bin/m", args: [] },
      { command: "/bin/any", args: ["INSTANCE", "web", "MASTER", "150"] },
    ]);
    expect(notifyCommands(event("fault"))).toEqual([
      { command: "/bin/any", args: ["INSTANCE", "web", "FAULT", "150"] },
    ]);
    expect(notifyCommands(event("initialize"))[0]!.args[2]).toBe("STOP");
  });

  it("names an imported router's instance as keepalived.conf did", () => {
    const imported = { ...event("master"), plan: { ...plan, keepalivedName: "VI_1" } };
    expect(notifyCommands(imported)[1]!.args).toEqual(["INSTANCE", "VI_1", "MASTER", "150"]);
  });

  it("a sync group's scripts: its state's own, and `notify` with GROUP name STATE", () => {
    const member = {
      ...plan,
      syncGroup: "g1",
      syncGroupNotify: { group: "G1", master: "/bin/gm", fault: "/bin/gf", any: "/bin/gany" },
    };
    const group = (to: "master" | "backup" | "fault" | "stop") =>
      groupNotifyCommands({ group: "g1", from: undefined, to, members: [plan, member] });
    expect(group("master")).toEqual([
      { command: "/bin/gm", args: [] },
      { command: "/bin/gany", args: ["GROUP", "G1", "MASTER"] },
    ]);
    expect(group("backup")).toEqual([{ command: "/bin/gany", args: ["GROUP", "G1", "BACKUP"] }]);
    expect(group("stop")[0]!.args).toEqual(["GROUP", "G1", "STOP"]);
    // A group none of whose members has scripts runs none.
    expect(groupNotifyCommands({ group: "g1", from: undefined, to: "master", members: [plan] })).toEqual([]);
    // Set on two members: the first by name runs, once.
    const other = { ...member, router: "a-first", syncGroupNotify: { group: "g1", master: "/bin/other" } };
    expect(group("master")).toHaveLength(2);
    expect(
      groupNotifyCommands({ group: "g1", from: undefined, to: "master", members: [member, other] }),
    ).toEqual([{ command: "/bin/other", args: [] }]);
  });
});
