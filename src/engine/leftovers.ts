// What an earlier run of the agent may have left on this node, found and ended before a new agent
// binds anything: engine processes whose agent died (each engine records itself in a pid file
// under /run/vipkeeper, checked against /proc/<pid>/cmdline so that a reused pid is never taken
// for an engine), and virtual addresses, routes and rules carrying vipkeeper's mark, and the
// macvlans of virtual MACs (by their alias).
//
// Engines end themselves when their agent dies (the IPC channel closes), so a leftover engine is
// one that could not: hung, or stopped. Pid files are per engine and name the network namespace,
// so agents in other namespaces of the same host (a lab) are never touched.
import { mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { removeMarkedAddresses } from "./host.ts";
import { removeMarkedVirtualMacs } from "./virtual-mac.ts";
import { removeMarkedRoutes } from "./routes.ts";
import { RtNetlink } from "../net/rtnetlink.ts";

export const DEFAULT_RUN_DIR = "/run/vipkeeper";

/** Where engines record themselves: VIPKEEPER_RUN_DIR, else /run/vipkeeper. */
export function runDir(): string {
  return process.env.VIPKEEPER_RUN_DIR ?? DEFAULT_RUN_DIR;
}

interface EngineRecord {
  pid: number;
  /** The agent process that forked it. */
  agent: number;
  /** readlink /proc/self/ns/net, e.g. "net:[4026531840]". */
  netns: string;
}

const netnsOf = (pid: number | "self") => readlinkSync(`/proc/${pid}/ns/net`);
const pidFile = (dir: string, pid: number) => join(dir, `engine-${pid}.json`);

/** The engine's own record; removed by removeEnginePidFile() on a clean exit. */
export function writeEnginePidFile(dir = runDir()): string | undefined {
  const record: EngineRecord = { pid: process.pid, agent: process.ppid, netns: netnsOf("self") };
  try {
    mkdirSync(dir, { recursive: true });
    const file = pidFile(dir, process.pid);
    writeFileSync(file, `${JSON.stringify(record)}\n`);
    return file;
  } catch {
    return undefined; // not writable (not root): the engine still ends itself with its agent
  }
}

export function removeEnginePidFile(file: string | undefined): void {
  if (file) rmSync(file, { force: true });
}

/** The process's parent now, from /proc/<pid>/stat (field 4, after the parenthesised name). */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

/** Whether a command line (argv) runs an engine: engine-main.ts from the sources, .js from dist/. */
export function isEngineCommand(argv: readonly string[]): boolean {
  return argv.some((a) => /(^|\/)engine-main\.[jt]s$/.test(a));
}

function isEngine(pid: number): boolean {
  try {
    return isEngineCommand(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0"));
  } catch {
    return false;
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * The engines of this network namespace whose agent is gone (their parent is no longer the agent
 * that forked them). Pid files of processes that are no engine any more are deleted.
 */
export function orphanedEngines(dir = runDir()): number[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^engine-\d+\.json$/.test(n));
  } catch {
    return [];
  }
  const here = netnsOf("self");
  const out: number[] = [];
  for (const name of names) {
    let record: EngineRecord;
    try {
      record = JSON.parse(readFileSync(join(dir, name), "utf8")) as EngineRecord;
    } catch {
      continue; // being written, or not ours
    }
    if (!isEngine(record.pid)) {
      rmSync(join(dir, name), { force: true });
      continue;
    }
    let netns: string;
    try {
      netns = netnsOf(record.pid);
    } catch {
      continue;
    }
    if (netns !== here) continue;
    if (parentOf(record.pid) !== record.agent) out.push(record.pid);
  }
  return out;
}

/**
 * Ends the engines an earlier agent left (SIGTERM: each resigns and releases; SIGKILL after
 * `graceMs`), then removes every address carrying vipkeeper's mark. Before anything is bound.
 */
export async function endLeftovers(
  log: Logger,
  opts: { dir?: string; graceMs?: number } = {},
): Promise<void> {
  const dir = opts.dir ?? runDir();
  const engines = orphanedEngines(dir);
  if (engines.length > 0) {
    log.warn({ engines }, "ending engines an earlier run of the agent left");
    for (const pid of engines) {
      signal(pid, "SIGTERM");
      signal(pid, "SIGCONT"); // a stopped engine takes its SIGTERM only once it runs again
    }
    const deadline = Date.now() + (opts.graceMs ?? 5000);
    while (engines.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const pid of engines.filter(alive)) {
      log.error({ pid }, "a left engine did not end in time; killing it");
      signal(pid, "SIGKILL");
    }
    const reaped = Date.now() + 2000;
    while (engines.some(alive) && Date.now() < reaped) await new Promise((r) => setTimeout(r, 10));
    for (const pid of engines) rmSync(pidFile(dir, pid), { force: true });
  }
  try {
    const removed = await removeMarkedAddresses();
    if (removed.length > 0)
      log.warn({ addresses: removed }, "removed virtual addresses an earlier run left bound");
  } catch (err) {
    log.error({ err: (err as Error).message }, "could not look for virtual addresses an earlier run left");
  }
  const nl = new RtNetlink();
  try {
    const removed = await removeMarkedRoutes(nl);
    if (removed.routes + removed.rules > 0) log.warn(removed, "removed routes and rules an earlier run left");
  } catch (err) {
    log.error({ err: (err as Error).message }, "could not look for routes and rules an earlier run left");
  } finally {
    nl.close();
  }
  try {
    const removed = await removeMarkedVirtualMacs();
    if (removed.length > 0)
      log.warn({ interfaces: removed }, "removed virtual MAC interfaces an earlier run left");
  } catch (err) {
    log.error(
      { err: (err as Error).message },
      "could not look for virtual MAC interfaces an earlier run left",
    );
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone meanwhile
  }
}
