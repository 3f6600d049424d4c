// `vipkeeper crds`: prints the CustomResourceDefinitions (kubectl apply -f -), or writes crds/.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { crdFiles } from "../api/crds.ts";

export function runCrds(argv: string[]): number {
  if (argv[0] === "-h" || argv[0] === "--help") {
    process.stdout.write(
      "Usage: vipkeeper crds [--write DIR]\n\nPrints the CRDs as YAML, or writes one file per CRD into DIR.\n",
    );
    return 0;
  }
  const files = crdFiles();
  if (argv[0] === "--write" && argv[1]) {
    mkdirSync(argv[1], { recursive: true });
    for (const [name, text] of files) writeFileSync(join(argv[1], name), text);
    return 0;
  }
  if (argv.length > 0) {
    process.stderr.write(`vipkeeper crds: unexpected ${argv.join(" ")}\n`);
    return 2;
  }
  process.stdout.write([...files.values()].join("---\n"));
  return 0;
}
