// The client's view of a virtual address: ping it every few milliseconds from the client
// namespace and measure the longest silence. Real ICMP through the real bridge and neighbour cache.
import type { ChildProcess } from "node:child_process";
import type { Lab } from "./lab.ts";

export interface ProbeResult {
  sent: number;
  received: number;
  /** The longest time between two consecutive replies (or from the start to the first). */
  longestGapMs: number;
  /** When that gap began and ended (epoch ms). */
  gapFrom: number;
  gapTo: number;
}

export class Probe {
  private readonly child: ChildProcess;
  private readonly replies: number[] = [];
  private readonly started = Date.now();
  private buffered = "";
  readonly intervalMs: number;

  constructor(lab: Lab, host: string, address: string, intervalMs = 5) {
    this.intervalMs = intervalMs;
    const argv = ["ping", "-D", "-n", "-i", String(intervalMs / 1000), "-W", "1", address];
    this.child = lab.spawn(host, argv);
    this.child.stdout?.on("data", (chunk: Buffer) => {
      this.buffered += chunk.toString();
      const lines = this.buffered.split("\n");
      this.buffered = lines.pop() ?? "";
      for (const line of lines) {
        const m = /^\[(\d+\.\d+)\] \d+ bytes from/.exec(line);
        if (m) this.replies.push(Number(m[1]) * 1000);
      }
    });
  }

  /** Replies received so far. */
  get received(): number {
    return this.replies.length;
  }

  /** Resolves when a reply arrives after `since` (epoch ms). */
  async replyAfter(since: number, timeoutMs: number): Promise<number | undefined> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const r = this.replies.find((t) => t > since);
      if (r !== undefined) return r;
      await new Promise((res) => setTimeout(res, 2));
    }
    return undefined;
  }

  /** Stops pinging; the longest silence is counted from `since` (epoch ms) when given. */
  async stop(since?: number): Promise<ProbeResult> {
    const exited = new Promise((res) => this.child.once("exit", res));
    this.child.kill("SIGINT");
    await exited;
    // From the last reply before `since`: a silence that began before it counts whole.
    const start =
      since === undefined ? this.started : (this.replies.findLast((t) => t <= since) ?? this.started);
    let longest = 0;
    let from = start;
    let to = start;
    let prev = start;
    for (const t of this.replies) {
      if (t <= start) continue;
      if (t - prev > longest) [longest, from, to] = [t - prev, prev, t];
      prev = t;
    }
    const sent = Math.floor((Date.now() - this.started) / this.intervalMs);
    return { sent, received: this.replies.length, longestGapMs: longest, gapFrom: from, gapTo: to };
  }
}
