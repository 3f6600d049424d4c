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
