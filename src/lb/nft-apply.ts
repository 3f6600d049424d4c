// Running nftables transactions: text through `nft -f -` (its JSON input cannot define the maps
// this table uses in nft 1.0.6). One process per transaction; a failed one changes nothing.
import { spawn } from "node:child_process";

export class NftError extends Error {}

/** nft's command line, in the network namespace if one is given. */
const nftArgv = (args: readonly string[], netns?: string) =>
  netns ? ["ip", "netns", "exec", netns, "nft", ...args] : ["nft", ...args];

/** What `nft ARGS` prints (given `input` on its standard input); NftError if it fails. */
export function nftOutput(args: readonly string[], netns?: string, input?: string): Promise<string> {
  const [cmd, ...rest] = nftArgv(args, netns);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, rest, { stdio: "pipe" });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.once("error", (e) => reject(new NftError(`nft: ${e.message}`)));
    child.once("exit", (code) =>
      code === 0
        ? resolve(out)
        : reject(new NftError(`nft ${args.join(" ")} failed (${code}): ${err.trim().split("\n")[0] ?? ""}`)),
    );
    child.stdin.end(input);
  });
}

/** The names of what our table holds now ("terse": without set contents); none if it is absent. */
export async function listTable(table: string, netns?: string): Promise<string> {
  try {
    return await nftOutput(["-t", "list", "table", "inet", table], netns);
  } catch (err) {
    if (err instanceof NftError && /No such file or directory/.test(err.message)) return "";
    throw err;
  }
}

/** Runs a script (`nft -f -`) as one transaction: all of it, or nothing and NftError. */
export async function applyNft(script: string, netns?: string): Promise<void> {
  if (script) await nftOutput(["-f", "-"], netns, script);
}

/**
 * A long-lived `nft -i` for changes after start-up: each change is one input line (one transaction:
 * nft commits a line as a batch). Spawning nft per change costs ~35 ms; a line here ~1-3 ms, as
 * long as the line only names set elements: then nft loads no rules into its cache. Echo (`nft -e`)
 * would acknowledge a commit but makes nft load the whole table first (320 ms at 10,000 real
 * servers), so instead each transaction is followed by a line nft cannot parse, `vipkeeper-ack-N`:
 * nft reports it on stderr only after the line before it is committed or refused.
 */
export class NftSession {
  private readonly child;
  private err = "";
  private seq = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly table: string;

  /** `table`: the one table this session changes, named in its errors. */
  constructor(table: string, netns?: string) {
    this.table = table;
    const [cmd, ...args] = nftArgv(["-i"], netns);
    this.child = spawn(cmd!, args, { stdio: ["pipe", "ignore", "pipe"] });
    this.child.stderr.on("data", (d: Buffer) => (this.err += d.toString()));
    this.child.on("error", (e) => (this.err += `Error: ${e.message}`));
  }

  /** Applies a script of commands (one per line) as one transaction. */
  apply(script: string): Promise<void> {
    const commands = script.split("\n").filter((l) => l.trim());
    if (commands.length === 0) return this.queue;
    const run = async () => {
      const n = ++this.seq;
      const ack = `vipkeeper-ack-${n}`;
      this.err = "";
      this.child.stdin.write(`${commands.join("; ")}\n${ack}\n`);
      const deadline = Date.now() + 5000;
      for (;;) {
        const at = this.err.indexOf(ack);
        if (at >= 0) {
          // Whatever nft said before the acknowledgement's own syntax error is about our line.
          const ours = this.err.slice(0, this.err.lastIndexOf("\n", at) + 1);
          const before = ours.slice(0, ours.lastIndexOf("Error: syntax error"));
          if (before.includes("Error")) {
            const line = before.split("\n").find((l) => l.includes("Error")) ?? "";
            throw new NftError(`nft (${this.table}): ${line.trim()}`);
          }
          return;
        }
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
