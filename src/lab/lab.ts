// A test network of hosts in network namespaces: a switch (a bridge), N nodes and a client, each
// host's eth0 a veth into the bridge. Addresses only from 198.18.0.0/15 and 2001:db8::/32. Used by
// the network tests, the keepalived interop tests, the benchmarks and `vipkeeper lab`; it lives in
// src/ because the CLI ships it. Faults are nftables rules in the switch, in a table of our own.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { existsSync } from "node:fs";

export interface LabOptions {
  /** Namespace name prefix: every namespace of this lab starts with it. */
  prefix: string;
  nodes: number;
}

export interface LabHost {
  name: string;
  ns: string;
  mac: string;
  ipv4: string;
  ipv6: string;
  linkLocal: string;
  /** The host's port on the bridge, in the switch namespace. */
  port: string;
}

export class LabError extends Error {}

/** Runs a command and returns its stdout; throws with stderr when it fails. */
export function run(argv: string[], input?: string): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", input });
  if (r.status !== 0) throw new LabError(`${argv.join(" ")}: ${(r.stderr || r.error?.message || "").trim()}`);
  return r.stdout;
}

const HAVE_SETPRIV = existsSync("/usr/bin/setpriv");

/**
 * The argv that runs `argv` tied to this process: util-linux's setpriv sets the parent-death
 * signal (PR_SET_PDEATHSIG, SIGKILL) and execs it (same pid; `ip netns exec` execs too, and the
 * setting survives exec), so what a test or the lab starts dies with the process that started it,
 * even when that process is killed (a test runner's time limit, Ctrl-C, SIGKILL).
 */
export function tiedToParent(argv: string[], signal: "KILL" | "TERM" = "KILL"): string[] {
  return HAVE_SETPRIV ? ["setpriv", "--pdeathsig", signal, "--", ...argv] : argv;
}

export function namespaces(prefix: string): string[] {
  const out = run(["ip", "-j", "netns", "list"]).trim();
  if (!out) return [];
  return (JSON.parse(out) as { name: string }[]).map((n) => n.name).filter((n) => n.startsWith(prefix));
}

/** Deletes namespaces a crashed run left behind (their processes die with them when killed first). */
export function cleanupStale(prefix: string): void {
  for (const ns of namespaces(prefix)) {
    spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" })
      .stdout.split("\n")
      .filter(Boolean)
      .forEach((pid) => spawnSync("kill", ["-9", pid]));
    spawnSync("ip", ["netns", "del", ns]);
  }
}

const FAULT_TABLE = "vipkeeper_lab_faults";

export class Lab {
  readonly prefix: string;
  readonly switchNs: string;
  readonly nodes: LabHost[] = [];
  readonly client: LabHost;
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  private constructor(opts: LabOptions) {
    this.prefix = opts.prefix;
    this.switchNs = `${opts.prefix}sw`;
    // Host i is 198.18.0.(10+i), MAC 02:00:00:00:00:(10+i), as in the reference captures.
    const host = (name: string, suffix: string, ipv4: string): LabHost => ({
      name,
      ns: `${opts.prefix}${name}`,
      mac: `02:00:00:00:00:${suffix}`,
      ipv4,
      ipv6: `2001:db8::${suffix}`,
      linkLocal: `fe80::ff:fe00:${suffix}`,
      port: `p-${name}`,
    });
    for (let i = 1; i <= opts.nodes; i++) this.nodes.push(host(`n${i}`, `${10 + i}`, `198.18.0.${10 + i}`));
    this.client = host("client", "64", "198.18.0.100");
  }

  /** Builds the lab; on any failure it tears down what it built and throws. */
  static create(opts: LabOptions): Lab {
    if (!/^[a-zA-Z0-9-]{1,8}$/.test(opts.prefix)) throw new LabError("prefix: 1-8 letters, digits or '-'");
    if (opts.nodes < 1 || opts.nodes > 9) throw new LabError("nodes: 1..9");
    cleanupStale(opts.prefix);
    const lab = new Lab(opts);
    // A process that exits without destroying its lab (a test worker whose runner died) still
    // deletes the namespaces; a process killed outright leaves them to the next create's sweep.
    process.once("exit", lab.destroyAtExit);
    try {
      lab.build();
    } catch (err) {
      lab.destroy();
      throw err;
    }
    return lab;
  }

  get hosts(): LabHost[] {
    return [...this.nodes, this.client];
  }

  node(name: string): LabHost {
    const h = this.hosts.find((x) => x.name === name);
    if (!h) throw new LabError(`no host ${name}`);
    return h;
  }

  private build(): void {
    const batch: string[] = [];
    run(["ip", "netns", "add", this.switchNs]);
    batch.push(`link add br0 type bridge`, `link set br0 up`);
    for (const h of this.hosts) run(["ip", "netns", "add", h.ns]);
    for (const h of this.hosts) {
      run([
        "ip",
        "-n",
        this.switchNs,
        "link",
        "add",
        h.port,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        h.ns,
      ]);
      batch.push(`link set ${h.port} master br0`, `link set ${h.port} up`);
    }
    run(["ip", "-n", this.switchNs, "-batch", "-"], batch.join("\n"));
    for (const h of this.hosts) {
      // Instant, deterministic IPv6; keep addresses (VIPs too) when the link goes down.
      for (const [k, v] of [
        ["net.ipv6.conf.eth0.accept_dad", "0"],
        ["net.ipv6.conf.eth0.keep_addr_on_down", "1"],
        ["net.ipv6.conf.eth0.addr_gen_mode", "1"],
      ])
        run(["ip", "netns", "exec", h.ns, "sysctl", "-qw", `${k}=${v}`]);
      run(
        ["ip", "-n", h.ns, "-batch", "-"],
        [
          `link set eth0 address ${h.mac}`,
          `addr add ${h.ipv4}/24 dev eth0`,
          `addr add ${h.ipv6}/64 dev eth0 nodad`,
          `addr add ${h.linkLocal}/64 dev eth0 nodad`,
          `link set eth0 up`,
          `link set lo up`,
        ].join("\n"),
      );
    }
  }

  /** Runs a command inside a host's namespace and waits for it. */
  exec(host: string, argv: string[], input?: string): string {
    return run(["ip", "netns", "exec", this.node(host).ns, ...argv], input);
  }

  /** Starts a process inside a host's namespace; it is killed on destroy(). */
  spawn(host: string, argv: string[], opts: SpawnOptions = {}): ChildProcess {
    const [cmd, ...args] = tiedToParent(["ip", "netns", "exec", this.node(host).ns, ...argv]);
    const child = spawn(cmd!, args, { stdio: "pipe", ...opts });
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    return child;
  }

  /** The addresses on a host's eth0, as text without prefix. */
  addresses(host: string): string[] {
    const out = JSON.parse(run(["ip", "-n", this.node(host).ns, "-j", "addr", "show", "dev", "eth0"])) as {
      addr_info: { local: string }[];
    }[];
    return out.flatMap((l) => l.addr_info.map((a) => a.local));
  }

  holds(host: string, address: string): boolean {
    return this.addresses(host).includes(address);
  }

  /** The nodes that hold the address now. */
  holders(address: string): string[] {
    return this.nodes.filter((n) => this.holds(n.name, address)).map((n) => n.name);
  }

  /** The processes running in a host's namespace. */
  pids(host: string): number[] {
    const out = spawnSync("ip", ["netns", "pids", this.node(host).ns], { encoding: "utf8" }).stdout;
    return out.split("\n").filter(Boolean).map(Number);
  }

  /** Kills every process in a host's namespace at once, as a power cut would. */
  killAll(host: string): void {
    this.killAtOnce(this.pids(host));
  }

  /** SIGKILL of these processes at one instant: stopped first, so none sees another die and acts on it. */
  killAtOnce(pids: readonly number[]): void {
    for (const signal of ["SIGSTOP", "SIGKILL"] as const)
      for (const pid of pids) {
        try {
          process.kill(pid, signal);
        } catch {
          // already gone
        }
      }
  }

  /** Takes a host's cable out: its bridge port goes down, so its eth0 loses carrier. */
  linkDown(host: string): void {
    run(["ip", "-n", this.switchNs, "link", "set", this.node(host).port, "down"]);
  }

  /**
   * Prepares a link-down that happens the moment it is called (an `ip` already running in the
   * switch namespace, reading commands): for measurements that start their clock at the fault.
   */
  armLinkDown(host: string): () => void {
    const [cmd, ...args] = tiedToParent(["ip", "-n", this.switchNs, "-batch", "-"]);
    const ip = spawn(cmd!, args, { stdio: ["pipe", "ignore", "inherit"] });
    this.children.add(ip);
    ip.once("exit", () => this.children.delete(ip));
    return () => ip.stdin?.end(`link set ${this.node(host).port} down\n`);
  }

  linkUp(host: string): void {
    run(["ip", "-n", this.switchNs, "link", "set", this.node(host).port, "up"]);
  }

  /** Drops a share (0..100 %) of all VRRP packets crossing the switch. */
  dropVrrp(percent: number): void {
    this.fault(`meta l4proto vrrp numgen random mod 100 < ${Math.round(percent)} counter drop`);
  }

  /** Cuts all traffic between two hosts (both directions), by their bridge ports. */
  cut(a: string, b: string): void {
    const pa = this.node(a).port;
    const pb = this.node(b).port;
    this.fault(`iifname "${pa}" oifname "${pb}" counter drop`);
    this.fault(`iifname "${pb}" oifname "${pa}" counter drop`);
  }

  /** Removes every fault rule. */
  heal(): void {
    spawnSync("ip", ["netns", "exec", this.switchNs, "nft", "delete", "table", "bridge", FAULT_TABLE]);
  }

  private fault(rule: string): void {
    run(
      ["ip", "netns", "exec", this.switchNs, "nft", "-f", "-"],
      `table bridge ${FAULT_TABLE} {\n chain forward {\n  type filter hook forward priority 0; policy accept;\n }\n}\nadd rule bridge ${FAULT_TABLE} forward ${rule}\n`,
    );
  }

  private readonly destroyAtExit = () => this.destroy();

  /** Kills what it started and deletes every namespace. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.off("exit", this.destroyAtExit);
    for (const c of this.children) c.kill("SIGKILL");
    cleanupStale(this.prefix);
  }

  /** Tears the lab down when the process exits or is interrupted (for the CLI). */
  destroyOnExit(): void {
    const bye = () => this.destroy();
    process.once("exit", bye);
    for (const sig of ["SIGINT", "SIGTERM"] as const)
      process.once(sig, () => {
        bye();
        process.exit(130);
      });
  }
}
