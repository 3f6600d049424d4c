// Running real agents in lab nodes, and reading their status sockets.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Lab } from "../../src/lab/lab.ts";
import type { InstanceStatus } from "../../src/observe/events.ts";
import { isEngineCommand } from "../../src/engine/leftovers.ts";
export { waitUntil } from "../../src/lab/wait.ts";

const BIN = join(import.meta.dirname, "../../bin/vipkeeper.js");

export interface RunningAgent {
  node: string;
  child: ChildProcess;
  socket: string;
  log: string[];
  exited: Promise<number | null>;
}

/** Writes an agent's file: YAML objects, or a keepalived.conf with `name` "keepalived.conf". */
export function writeConfig(text: string, name = "routers.yaml"): string {
  const dir = mkdtempSync(join(tmpdir(), "vk-cfg-"));
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/**
 * Starts `vipkeeper agent` on a lab node, from the sources as every test does, or with `fromDist`
 * from the compiled dist/ as in production (`npm test` builds it first); `nodeBinary` runs it
 * under another Node binary than this process's.
 */
export function startAgent(
  lab: Lab,
  node: string,
  config: string,
  extra: string[] = [],
  opts: { fromDist?: boolean; nodeBinary?: string } = {},
): RunningAgent {
  const socket = join(mkdtempSync(join(tmpdir(), "vk-sock-")), `${node}.sock`);
  const env = opts.fromDist ? { ...process.env, VIPKEEPER_FROM_SOURCE: "" } : process.env;
  const child = lab.spawn(
    node,
    [
      opts.nodeBinary ?? process.execPath,
      BIN,
      "agent",
      "--config",
      config,
      "--node",
      node,
      "--status-socket",
      socket,
      ...extra,
    ],
    { env },
  );
  const log: string[] = [];
  let buf = "";
  const collect = (chunk: Buffer) => {
    buf += chunk.toString();
    const lines = buf.split("\n");
    buf = lines.pop() ?? "";
    log.push(...lines);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { node, child, socket, log, exited };
}

export interface AgentStatus {
  node: string;
  instances: InstanceStatus[];
  counters: Record<string, number>;
}

export function readStatus(socket: string): Promise<AgentStatus> {
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    let data = "";
    conn.on("data", (d) => (data += d.toString()));
    conn.on("end", () => {
      try {
        resolve(JSON.parse(data) as AgentStatus);
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
    conn.on("error", reject);
  });
}

/** The PID of the engine process (the supervisor's child) in a node's namespace. */
export function enginePid(lab: Lab, node: string): number | undefined {
  return enginePids(lab, node)[0];
}

/** Every engine process in a node's namespace (one, while an agent runs). */
export function enginePids(lab: Lab, node: string): number[] {
  return lab.pids(node).filter((pid) => {
    try {
      return isEngineCommand(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0"));
    } catch {
      return false; // gone meanwhile
    }
  });
}
