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

export interface UmlResult {
  /** The command's exit code inside the guest (undefined: it never finished). */
  code: number | undefined;
  /** The shared directory (the guest's files are there); removed by cleanup(). */
  dir: string;
  console: string;
  read(name: string): string;
  cleanup(): void;
}

/** Runs `command` (a shell line, cwd the repository) in a UML guest; the shared dir is $OUT inside. */
export async function runInUml(command: string, timeoutMs = 120_000): Promise<UmlResult> {
  const dir = mkdtempSync("/tmp/vkip-uml-");
  const nodeDir = dirname(process.execPath);
  const repo = new URL("../..", import.meta.url).pathname;
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
cd ${repo}
(${command}) > ${dir}/stdout 2> ${dir}/stderr
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
  let consoleText = "";
  await new Promise<void>((resolve) => {
    const child = spawn(UML_KERNEL, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, TMPDIR: dir },
    });
    child.stdout.on("data", (d: Buffer) => (consoleText += d.toString()));
    child.stderr.on("data", (d: Buffer) => (consoleText += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
  });
  const read = (name: string) => {
    try {
      return readFileSync(`${dir}/${name}`, "utf8");
    } catch {
      return "";
    }
  };
  const rc = read("rc").trim();
  return {
    code: rc === "" ? undefined : Number(rc),
    dir,
    console: consoleText,
    read,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
