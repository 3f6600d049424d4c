// The fault lab's schedule: which fault comes next, on which nodes, for how long, drawn from a
// seeded generator so that a failing run replays from its seed. Pure: no clock, no I/O.
import { seededRandom } from "../base/seeded-random.ts";

export const FAULT_KINDS = [
  "engine-kill", // SIGKILL of the VRRP process (vipkeeper's engine, keepalived's VRRP child)
  "node-kill", // SIGKILL of every agent process on the node; restarted after the hold
  "stop", // SIGSTOP of the VRRP process for longer than Master_Down_Interval, then SIGCONT
  "link", // the node's cable out (its bridge port down), then back
  "partition", // nftables drops in the switch between chosen nodes, then healed
  "loss", // 10-30 % of all VRRP packets dropped at random in the switch, then none
  "track", // a tracked script on the node fails (priority down by its weight), then passes again
  "restart", // graceful restart of the agent (SIGTERM, start again)
  "reload", // the node's configuration changed (its priority moved by a few points) and reloaded
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  /** Position in the run, from 0. */
  index: number;
  kind: FaultKind;
  /** The node the fault hits (partition: the nodes on side A). */
  nodes: string[];
  /** Partition: side B; the drops are between every node of A and every node of B. */
  others?: string[];
  /** loss: the share of VRRP packets dropped, in percent. */
  lossPercent?: number;
  /** How long the fault lasts before it is reverted (ms); 0 for a fault with nothing to revert. */
  holdMs: number;
  /**
   * Aimed at the master, whoever it is when the fault lands (onMaster): `nodes[0]` is then only the
   * fallback, and the lab resolves it with aimAt(). Half the faults, as the master's are the ones
   * that move a VIP.
   */
  onMaster?: boolean;
}

export interface ScheduleOptions {
  seed: number;
  nodes: readonly string[];
  /** Master_Down_Interval of the slowest node (ms): a SIGSTOP lasts longer than this. */
  masterDownMs: number;
  kinds?: readonly FaultKind[];
}

/** An endless sequence of faults for a seed; the run takes them in order until its time is up. */
export function* faultSchedule(opts: ScheduleOptions): Generator<Fault> {
  const random = seededRandom(opts.seed);
  const kinds = opts.kinds ?? FAULT_KINDS;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const between = (lo: number, hi: number) => Math.round(lo + random() * (hi - lo));
  for (let index = 0; ; index++) {
    const kind = pick(kinds);
    const node = pick(opts.nodes);
    const onMaster = random() < 0.5;
    const base = { index, kind, nodes: [node], ...(onMaster && kind !== "loss" ? { onMaster } : {}) };
    switch (kind) {
      case "engine-kill":
      case "reload":
      case "restart":
        yield { ...base, holdMs: 0 };
        break;
      case "node-kill":
        // Either side of the 2 s address lifetime (the dead man's switch): down briefly or for long.
        yield { ...base, holdMs: between(500, 4000) };
        break;
      case "stop":
        yield { ...base, holdMs: Math.round(opts.masterDownMs) + between(100, 1500) };
        break;
      case "link":
      case "track":
        yield { ...base, holdMs: between(500, 3000) };
        break;
      case "loss":
        yield { ...base, nodes: [], lossPercent: between(10, 30), holdMs: between(2000, 5000) };
        break;
      case "partition": {
        // Half the time one pair cut (the others still hear both sides, so they can see a split
        // brain), else the nodes split in two halves at random.
        const shuffled = [...opts.nodes];
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1));
          [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
        }
        const pair = random() < 0.5;
        const cut = pair ? 1 : Math.max(1, Math.floor(shuffled.length / 2));
        const others = pair ? [shuffled[1]!] : shuffled.slice(cut);
        yield { ...base, nodes: shuffled.slice(0, cut), others, holdMs: between(1000, 4000) };
        break;
      }
    }
  }
}

/**
 * The fault as it lands, given who is master now: a fault aimed at the master hits it (on a
 * partition the master takes the place of side A's first node, swapped if it was on side B).
 */
export function aimAt(f: Fault, master: string | undefined): Fault {
  if (!f.onMaster || master === undefined || f.nodes[0] === master) return f;
  const nodes = [...f.nodes];
  const others = f.others ? [...f.others] : undefined;
  const inA = nodes.indexOf(master);
  const inB = others?.indexOf(master) ?? -1;
  if (inA >= 0) [nodes[0], nodes[inA]] = [nodes[inA]!, nodes[0]!];
  else if (inB >= 0) [nodes[0], others![inB]] = [master, nodes[0]!];
  else nodes[0] = master;
  return { ...f, nodes, ...(others ? { others } : {}) };
}

/** One line per fault for the log: enough to see what a replay will do. */
export function describeFault(f: Fault): string {
  const what =
    f.kind === "partition"
      ? `${f.nodes.join("+")} | ${f.others!.join("+")}`
      : f.kind === "loss"
        ? `${f.lossPercent}% of VRRP`
        : f.nodes.join(",");
  return `#${f.index} ${f.kind}${f.onMaster ? " (on the master)" : ""} ${what}${f.holdMs ? ` for ${f.holdMs} ms` : ""}`;
}
