// Boots Debian's User-mode Linux kernel (which has IPVS; the host's has not) with the host's / as a
// read-only root, runs one command inside as PID 1's child, and returns what it wrote to a shared
// writable directory. About 4 s a boot: batch cases into one command. See /work/shared/IPVS-ON-UML.md.
import { spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname } from "node:path";
import { tiedToParent } from "../../src/lab/lab.ts";

export const UML_KERNEL = "/usr/bin/linux.uml";
const MODULES = ["ip_vs", "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_sh", "ip_vs_mh", "veth"];

/** Why UML cannot run here, or undefined when it can. */
export function umlMissing(): string | undefined {
  if (!existsSync(UML_KERNEL))
    return `${UML_KERNEL} is missing (apt-get install user-mode-linux; scripts/setup.sh does)`;
  if (!existsSync("/usr/sbin/ipvsadm")) return "ipvsadm is missing (scripts/setup.sh installs it)";
  return undefined;
}

export interface UmlOptions {
  /** The guest's shell line (cwd the repository); the shared directory is $OUT inside. */
  command: string;
  /**
   * A network namespace on the host whose `eth0` becomes the guest's `eth0` (raw transport: the
   * guest sends and receives that port's frames with its own MAC). Without it the guest has no
   * network device and nothing it does can leave it.
   */
  netns?: string;
  /** The guest's MAC on that port. */
  mac?: string;
  timeoutMs?: number;
}

export interface UmlGuest {
  /** The shared directory (the guest's files are there); removed by cleanup(). */
  dir: string;
  /** Resolves when the guest has powered off or was killed. */
  exited: Promise<void>;
  /** The console so far. */
  console: () => string;
  read: (name: string) => string;
  /** Pulls the plug: every host process of the guest is killed at once. */
  kill: () => void;
  cleanup: () => void;
}

export interface UmlResult {
  /** The command's exit code inside the guest (undefined: it never finished). */
  code: number | undefined;
  dir: string;
  console: string;
  read: (name: string) => string;
  cleanup: () => void;
}

/**
 * Runs the guest and ends every process of it: UML makes itself a session (its pid is its process
 * group) and some of its helper processes outlive the kernel process, so the guard kills that
 * group when the guest exits and when it gets SIGTERM (kill(), or the runner's death).
 */
const GUARD = [
  `trap 'kill -KILL -$pid 2>/dev/null; kill -KILL $pid 2>/dev/null; exit 137' TERM`,
  `"$@" & pid=$!`,
  "wait $pid; rc=$?",
  "kill -KILL -$pid 2>/dev/null",
  "exit $rc",
].join("\n");

/** Boots a guest that runs `command` and powers off when it ends (or is killed). */
export function startUml(opts: UmlOptions): UmlGuest {
  const dir = mkdtempSync("/tmp/vkip-uml-");
  const nodeDir = dirname(process.execPath);
  const repo = new URL("../..", import.meta.url).pathname;
  // UML names the raw-transport device vec0; the guest calls it eth0, as the host it stands for would.
  const network = opts.netns ? "ip link set vec0 name eth0 && ip link set eth0 up" : "true";
  const init = `#!/bin/sh
export PATH=${nodeDir}:/usr/sbin:/usr/bin:/sbin:/bin HOME=/run TMPDIR=/run OUT=${dir}
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmpfs /run
mkdir -p /run/netns
mount -t hostfs -o rw,${dir} none ${dir}
mkdir -p /run/m/lib/modules
ln -s /usr/lib/uml/modules/$(uname -r) /run/m/lib/modules/$(uname -r)
for m in ${MODULES.join(" ")}; do modprobe -d /run/m $m; done
ip link set lo up
${network}
cd ${repo}
(${opts.command}) > ${dir}/stdout 2> ${dir}/stderr
echo $? > ${dir}/rc
echo o > /proc/sysrq-trigger
sleep 30
`;
  writeFileSync(`${dir}/init.sh`, init);
  writeFileSync(`${dir}/runner`, String(process.pid));
  chmodSync(`${dir}/init.sh`, 0o755);
  const args = [
    "mem=768M",
    "root=/dev/root",
    "rootfstype=hostfs",
    "rootflags=/",
    "ro",
    `init=${dir}/init.sh`,
    "con0=fd:0,fd:1",
    "con=null",
    "ssl=null",
    "quiet",
  ];
  if (opts.netns) args.push(`vec0:transport=raw,ifname=eth0${opts.mac ? `,mac=${opts.mac}` : ""}`);
  // Guests an older run left are swept first; this one is tied to this process: GUARD (a shell)
  // gets SIGTERM when this process dies (parent-death signal) and kills the guest's process group.
  sweepOrphanedGuests();
  const argv = tiedToParent(
    [
      "sh",
      "-c",
      GUARD,
      "vk-uml-guard",
      ...(opts.netns ? ["ip", "netns", "exec", opts.netns, UML_KERNEL, ...args] : [UML_KERNEL, ...args]),
    ],
    "TERM",
  );
  let consoleText = "";
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, TMPDIR: dir },
    detached: true, // not in the runner's process group: a Ctrl-C goes to the runner, which ends it
  });
  child.stdout.on("data", (d: Buffer) => (consoleText += d.toString()));
  child.stderr.on("data", (d: Buffer) => (consoleText += d.toString()));
  // The guard kills the guest's process group (the kernel and every helper) and exits.
  const kill = () => {
    try {
      process.kill(child.pid!, "SIGTERM");
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(kill, opts.timeoutMs ?? 120_000);
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      clearTimeout(timer); // the guard has taken the guest's helper processes with it
      resolve();
    }),
  );
  const read = (name: string) => {
    try {
      return readFileSync(`${dir}/${name}`, "utf8");
    } catch {
      return "";
    }
  };
  return {
    dir,
    exited,
    console: () => consoleText,
    read,
    kill,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Kills UML guests whose runner is gone: a linux.uml that startUml booted (its init is
 * /tmp/vkip-uml-XXXX/init.sh, and that directory names the runner's pid in `runner`) whose runner
 * is no longer alive. Guests tied to their runner die with it; this catches what an older run, or
 * a machine without setpriv, left. Returns the pids killed.
 */
export function sweepOrphanedGuests(): number[] {
  const killed: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    try {
      const init = readFileSync(`/proc/${pid}/cmdline`, "utf8")
        .split("\0")
        .find((a) => /^init=\/tmp\/vkip-uml-[^/]+\/init\.sh$/.test(a));
      if (!init) continue;
      const dir = dirname(init.slice("init=".length));
      let runner = 0;
      try {
        runner = Number(readFileSync(`${dir}/runner`, "utf8"));
      } catch {
        // no record: its directory was removed, so nothing can read what the guest does
      }
      if (runner > 0 && alive(runner)) continue;
      process.kill(pid, "SIGKILL"); // its helper processes die with it
      killed.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return killed;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Runs `command` (a shell line, cwd the repository) in a UML guest; the shared dir is $OUT inside. */
export async function runInUml(command: string, timeoutMs = 120_000): Promise<UmlResult> {
  const guest = startUml({ command, timeoutMs });
  await guest.exited;
  const rc = guest.read("rc").trim();
  return {
    code: rc === "" ? undefined : Number(rc),
    dir: guest.dir,
    console: guest.console(),
    read: guest.read,
    cleanup: guest.cleanup,
  };
}
