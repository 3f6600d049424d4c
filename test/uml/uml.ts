// Boots Debian's User-mode Linux kernel (which has IPVS; the host's has not) with the host's / as a
// read-only root, runs one command inside as PID 1's child, and returns what it wrote to a shared
// writable directory. About 4 s a boot: batch cases into one command. See /work/shared/IPVS-ON-UML.md.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

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
  const argv = opts.netns ? ["ip", "netns", "exec", opts.netns, UML_KERNEL, ...args] : [UML_KERNEL, ...args];
  let consoleText = "";
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, TMPDIR: dir },
    detached: true, // its own process group: kill() takes every process of the guest
  });
  child.stdout.on("data", (d: Buffer) => (consoleText += d.toString()));
  child.stderr.on("data", (d: Buffer) => (consoleText += d.toString()));
  const kill = () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(kill, opts.timeoutMs ?? 120_000);
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      clearTimeout(timer);
      kill(); // the guest's helper processes go with it
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
