// Running nftables transactions: text through `nft -f -` (its JSON input cannot define the maps
// this table uses in nft 1.0.6). One process per transaction; a failed one changes nothing.
import { spawn } from "node:child_process";

export class NftError extends Error {}

export function applyNft(script: string, netns?: string): Promise<void> {
  if (!script) return Promise.resolve();
  const argv = netns ? ["ip", "netns", "exec", netns, "nft", "-f", "-"] : ["nft", "-f", "-"];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.once("error", (e) => reject(new NftError(`nft: ${e.message}`)));
    child.once("exit", (code) =>
      code === 0
        ? resolve()
        : reject(new NftError(`nft -f failed (${code}): ${err.trim().split("\n")[0] ?? ""}`)),
    );
    child.stdin.end(script);
  });
}

/**
 * A long-lived `nft -e -i` for changes after start-up: each change is one input line (one
 * transaction: nft commits a line as a batch), acknowledged by its echo. Spawning nft per change
 * costs ~35 ms; a line here ~1 ms. The acknowledgement is an element added to the table's `acks`
 * set with a sequence number that nft echoes back once the batch committed.
 */
export class NftSession {
  private readonly child;
  private out = "";
  private err = "";
  private seq = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly table: string;

  constructor(table: string, netns?: string) {
    this.table = table;
    const argv = netns ? ["ip", "netns", "exec", netns, "nft", "-e", "-i"] : ["nft", "-e", "-i"];
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout.on("data", (d: Buffer) => (this.out += d.toString()));
    this.child.stderr.on("data", (d: Buffer) => (this.err += d.toString()));
    this.child.on("error", (e) => (this.err += e.message));
  }

  /** Applies a script of commands (one per line) as one transaction. */
  apply(script: string): Promise<void> {
    const commands = script.split("\n").filter((l) => l.trim());
    if (commands.length === 0) return this.queue;
    const run = async () => {
      const n = (this.seq = (this.seq % 65535) + 1);
      const ack = `add element inet ${this.table} acks { ${n} }`;
      this.out = "";
      this.err = "";
      this.child.stdin.write(`${[...commands, `flush set inet ${this.table} acks`, ack].join("; ")}\n`);
      const deadline = Date.now() + 5000;
      for (;;) {
        if (this.out.includes(ack)) return;
        if (this.err.includes("Error")) throw new NftError(`nft: ${this.err.trim().split("\n")[0] ?? ""}`);
        if (this.child.exitCode !== null) throw new NftError("nft: the session ended");
        if (Date.now() > deadline) throw new NftError("nft: no acknowledgement within 5 s");
        await new Promise((r) => setTimeout(r, 0));
      }
    };
    const result = this.queue.then(run);
    this.queue = result.catch(() => undefined);
    return result;
  }

  close(): void {
    this.child.stdin.end();
  }
}
