// Running an admin's shell command (track and notify scripts) without ever blocking VRRP: spawned,
// never waited for synchronously, killed with its process group when it overruns.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { getPriority } from "node:os";

export interface ShellResult {
  /** Exit status; undefined when killed by a signal (a timeout included). */
  code: number | undefined;
  timedOut: boolean;
  /** The command could not be started at all. */
  error?: string;
}

// keepalived runs scripts without a shell, so `[[ ... ]]` lines (bash syntax) silently fail there;
// bash runs them as their authors meant. /bin/sh where bash is missing.
const SHELL = existsSync("/bin/bash") ? "/bin/bash" : "/bin/sh";

export function runShell(
  command: string,
  opts: { timeoutMs?: number; args?: string[] } = {},
): Promise<ShellResult> {
  return new Promise((resolve) => {
    // Extra arguments become $1.. of the command line (`$0` is a name for error messages).
    const shell = [SHELL, "-c", command, "vipkeeper", ...(opts.args ?? [])];
    // An admin's script runs at the default priority, not the VRRP engine's raised one (nice(1)
    // sets it before the shell starts, so nothing the script forks inherits the engine's).
    const raised = getPriority();
    const argv = raised < 0 ? ["nice", "-n", String(-raised), ...shell] : shell;
    const child = spawn(argv[0]!, argv.slice(1), {
      stdio: "ignore",
      detached: true, // its own process group, so a timeout kills what it started too
    });
    let timedOut = false;
    const timer =
      opts.timeoutMs && opts.timeoutMs > 0
        ? setTimeout(() => {
            timedOut = true;
            try {
              process.kill(-child.pid!, "SIGKILL");
            } catch {
              // already gone
            }
          }, opts.timeoutMs)
        : undefined;
    child.once("error", (err) => {
      clearTimeout(timer);
      resolve({ code: undefined, timedOut: false, error: err.message });
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? undefined, timedOut });
    });
  });
}
