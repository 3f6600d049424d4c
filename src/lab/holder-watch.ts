// Who holds each virtual address, node by node, from the kernel's own address events: one
// `ip -ts -o monitor address` per node namespace, started before anything binds, each event
// stamped by ip as it reads it (so a busy lab process does not move the times). Exact where
// sampling `ip addr` every 10 ms would cost 400 processes a second and still miss what lasts
// less than a sample.
import type { ChildProcess } from "node:child_process";
import { canonicalAddress } from "../base/ip.ts";
import type { HolderChange } from "./invariants.ts";
import type { Lab } from "./lab.ts";

/**
 * One line of `ip -ts -o monitor address`: the address added (or renewed) or deleted, and when
 * (ip prints local time without a zone, which Date reads as local time too).
 */
export function parseAddressEvent(line: string): { at: number; address: string; held: boolean } | undefined {
  const m = /^\[([0-9T:.-]+)\] (Deleted )?\d+: \S+\s+inet6? ([0-9a-fA-F.:]+)\//.exec(line);
  return m
    ? { at: new Date(m[1]!).getTime(), address: canonicalAddress(m[3]!), held: m[2] === undefined }
    : undefined;
}

export class HolderWatch {
  readonly changes: HolderChange[] = [];
  private readonly current = new Map<string, Set<string>>();
  private readonly children: ChildProcess[] = [];

  constructor(lab: Lab, vips: readonly string[]) {
    const wanted = new Set(vips.map(canonicalAddress));
    for (const vip of wanted) this.current.set(vip, new Set());
    for (const n of lab.nodes) {
      // Real-time priority: ip stamps an event when it reads it, so it must not wait for a busy core.
      const child = lab.spawn(n.name, ["chrt", "-f", "20", "ip", "-ts", "-o", "monitor", "address"]);
      let buf = "";
      child.stdout?.on("data", (d: Buffer) => {
        buf += d.toString();
        const lines = buf.split("\n");
        buf = lines.pop() ?? "";
        for (const line of lines) {
          const e = parseAddressEvent(line);
          if (!e || !wanted.has(e.address)) continue;
          this.changes.push({ at: e.at, node: n.name, vip: e.address, held: e.held });
          if (e.held) this.current.get(e.address)!.add(n.name);
          else this.current.get(e.address)!.delete(n.name);
        }
      });
      child.stderr?.resume();
      this.children.push(child);
    }
  }

  /** The nodes holding `vip` now. */
  holders(vip: string): string[] {
    return [...(this.current.get(canonicalAddress(vip)) ?? [])].sort();
  }

  stop(): void {
    for (const c of this.children) c.kill();
  }
}
