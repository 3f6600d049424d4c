// The fault lab's members: a node's VRRP speaker, vipkeeper's agent (supervisor + engine) or
// keepalived (parent + VRRP child), behind one interface, so that the same fault lands on either.
import type { ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Lab } from "../src/lab/lab.ts";
import { keepalivedCommand, keepalivedConfig, type KeepalivedInstance } from "../test/interop/keepalived.ts";
import { readStatus, startAgent, writeConfig } from "../test/support/agents.ts";

export type Impl = "vipkeeper" | "keepalived";

export interface GroupSettings {
  vrid: number;
  advertIntervalMs: number;
  vip4: string;
  vip6: string;
  priorities: Record<string, number>;
  /** Directory of the tracked scripts' flag files: <dir>/<node>.down fails the node's script. */
  flagDir: string;
  trackWeight: number;
  trackIntervalS: number;
}

export interface Member {
  readonly node: string;
  readonly impl: Impl;
  start(): void;
  /** The process that speaks VRRP: vipkeeper's engine, keepalived's VRRP child. */
  vrrpPid(): number | undefined;
  /** Every process of the agent on the node (the started one and its descendants). */
  pids(): number[];
  /** Resolves when the speaker runs again after a start or a crash (false after the time limit). */
  ready(timeoutMs: number): Promise<boolean>;
  /** Graceful stop: SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** The configuration changed (the node's priority moved by `delta`) and reloaded (SIGHUP). */
  reload(delta: number): void;
  /** vipkeeper: split-brain episodes its instances counted so far; keepalived has no such report. */
  splitBrains(): Promise<number | undefined>;
  /** Last lines of its log, for a failure's report. */
  log(): string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The process and its descendants, from /proc (children of children included). */
export function processTree(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out = parents.has(root) ? [root] : [];
  for (let i = 0; i < out.length; i++) for (const [pid, ppid] of parents) if (ppid === out[i]) out.push(pid);
  return out;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function vipkeeperYaml(s: GroupSettings, node: string, priority: number): string {
  const priorities = Object.entries({ ...s.priorities, [node]: priority })
    .map(([n, p]) => `{node: ${n}, priority: ${p}}`)
    .join(", ");
  return `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: fl}
spec:
  vrid: ${s.vrid}
  interface: eth0
  advertInterval: ${s.advertIntervalMs}ms
  addresses: [{address: ${s.vip4}/24}, {address: ${s.vip6}/64}]
  priorities: [${priorities}]
  track:
    scripts: [{name: flag, command: "test ! -e ${join(s.flagDir, `${node}.down`)}", interval: ${s.trackIntervalS}s, weight: ${s.trackWeight}}]
  garp: {delay: 1s, repeat: 1}
`;
}

class VipkeeperMember implements Member {
  readonly impl = "vipkeeper";
  private readonly file: string;
  private agent: ReturnType<typeof startAgent> | undefined;
  private delta = 0;
  private readonly lab: Lab;
  readonly node: string;
  private readonly s: GroupSettings;
  constructor(lab: Lab, node: string, s: GroupSettings) {
    this.lab = lab;
    this.node = node;
    this.s = s;
    this.file = writeConfig(vipkeeperYaml(s, node, s.priorities[node]!));
  }
  start(): void {
    this.agent = startAgent(this.lab, this.node, this.file);
  }
  pids(): number[] {
    return this.agent?.child.pid ? processTree(this.agent.child.pid) : [];
  }
  vrrpPid(): number | undefined {
    return this.pids().find((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("engine-main");
      } catch {
        return false;
      }
    });
  }
  async ready(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const status = this.agent ? await readStatus(this.agent.socket).catch(() => undefined) : undefined;
      if (status && status.instances.length === 2 && status.instances.every((i) => i.state !== "initialize"))
        return true;
      await sleep(50);
    }
    return false;
  }
  async stop(): Promise<void> {
    if (!this.agent) return;
    this.agent.child.kill("SIGTERM");
    await this.agent.exited;
  }
  reload(delta: number): void {
    this.delta += delta;
    writeFileSync(this.file, vipkeeperYaml(this.s, this.node, this.s.priorities[this.node]! + this.delta));
    this.agent?.child.kill("SIGHUP");
  }
  async splitBrains(): Promise<number | undefined> {
    if (!this.agent) return undefined;
    const status = await readStatus(this.agent.socket).catch(() => undefined);
    if (!status) return undefined;
    return Object.entries(status.counters)
      .filter(([k]) => k.startsWith("split_brains"))
      .reduce((sum, [, v]) => sum + v, 0);
  }
  log(): string[] {
    return this.agent?.log.slice(-30) ?? [];
  }
}

class KeepalivedMember implements Member {
  readonly impl = "keepalived";
  private child: ChildProcess | undefined;
  private dir = "";
  private configFile = "";
  private delta = 0;
  private readonly lines: string[] = [];
  private readonly lab: Lab;
  readonly node: string;
  private readonly s: GroupSettings;
  constructor(lab: Lab, node: string, s: GroupSettings) {
    this.lab = lab;
    this.node = node;
    this.s = s;
  }
  private config(): string {
    const s = this.s;
    const base: Omit<KeepalivedInstance, "name" | "addresses"> = {
      version: 3,
      vrid: s.vrid,
      priority: s.priorities[this.node]! + this.delta,
      interfaceName: "eth0",
      advertIntervalS: s.advertIntervalMs / 1000,
      trackScript: {
        name: "flag",
        script: `/usr/bin/test ! -e ${join(s.flagDir, `${this.node}.down`)}`,
        intervalS: s.trackIntervalS,
        weight: s.trackWeight,
      },
    };
    return keepalivedConfig(
      [
        { ...base, name: "fl4", addresses: [`${s.vip4}/24`] },
        { ...base, name: "fl6", addresses: [`${s.vip6}/64`] },
      ],
      this.node,
    );
  }
  start(): void {
    const { argv, dir } = keepalivedCommand(this.config());
    this.dir = dir;
    this.configFile = argv[argv.indexOf("-f") + 1]!;
    this.child = this.lab.spawn(this.node, argv);
    const collect = (d: Buffer) => {
      this.lines.push(...d.toString().split("\n").filter(Boolean));
      if (this.lines.length > 200) this.lines.splice(0, this.lines.length - 200);
    };
    this.child.stdout?.on("data", collect);
    this.child.stderr?.on("data", collect);
  }
  pids(): number[] {
    return this.child?.pid ? processTree(this.child.pid) : [];
  }
  vrrpPid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.dir, "vrrp.pid"), "utf8").trim());
      return pid > 0 && alive(pid) && this.pids().includes(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }
  async ready(timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      // keepalived has no status to ask: its VRRP child running (pid file written) is the sign.
      if (this.vrrpPid() !== undefined) return true;
      await sleep(50);
    }
    return false;
  }
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
  reload(delta: number): void {
    this.delta += delta;
    writeFileSync(this.configFile, this.config());
    this.child?.kill("SIGHUP");
  }
  splitBrains(): Promise<number | undefined> {
    return Promise.resolve(undefined);
  }
  log(): string[] {
    return this.lines.slice(-30);
  }
}

export function member(lab: Lab, impl: Impl, node: string, s: GroupSettings): Member {
  return impl === "vipkeeper" ? new VipkeeperMember(lab, node, s) : new KeepalivedMember(lab, node, s);
}

/** The flag file that fails a node's tracked script. */
export function setTrackFlag(s: GroupSettings, node: string, failed: boolean): void {
  const path = join(s.flagDir, `${node}.down`);
  if (failed) writeFileSync(path, "");
  else rmSync(path, { force: true });
}
