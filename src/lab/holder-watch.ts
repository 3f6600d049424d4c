// Who holds each virtual address, node by node, from the kernel's own address events: one
// `ip -o monitor address` per node namespace, started before anything binds, each event stamped
// when it arrives. Exact where sampling `ip addr` every 10 ms would cost 400 processes a second
// and still miss what lasts less than a sample.
import type { ChildProcess } from "node:child_process";
import { canonicalAddress } from "../vrrp/address.ts";
import type { HolderChange } from "./invariants.ts";
import type { Lab } from "./lab.ts";

/** One line of `ip -o monitor address`: the address added (or renewed) or deleted. */
export function parseAddressEvent(line: string): { address: string; held: boolean } | undefined {
  const m = /^(Deleted )?\d+: \S+\s+inet6? ([0-9a-fA-F.:]+)\//.exec(line);
  return m ? { address: canonicalAddress(m[2]!), held: m[1] === undefined } : undefined;
}

export class HolderWatch {
  readonly changes: HolderChange[] = [];
  private readonly current = new Map<string, Set<string>>();
  private readonly children: ChildProcess[] = [];

  constructor(lab: Lab, vips: readonly string[]) {
    const wanted = new Set(vips.map(canonicalAddress));
    for (const vip of wanted) this.current.set(vip, new Set());
    for (const n of lab.nodes) {
      const child = lab.spawn(n.name, ["ip", "-o", "monitor", "address"]);
      let buf = "";
      child.stdout?.on("data", (d: Buffer) => {
        const at = Date.now();
        buf += d.toString();
        const lines = buf.split("\n");
        buf = lines.pop() ?? "";
        for (const line of lines) {
          const e = parseAddressEvent(line);
          if (!e || !wanted.has(e.address)) continue;
          this.changes.push({ at, node: n.name, vip: e.address, held: e.held });
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
