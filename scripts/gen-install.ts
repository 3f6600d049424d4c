// Writes crds/, deploy/ and the generated parts of charts/vipkeeper from src/ (one source):
//   node scripts/gen-install.ts
// test/install/install.test.ts fails when any of them is out of date.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { installFiles } from "../src/install/files.ts";

const root = join(import.meta.dirname, "..");
for (const [dir, files] of installFiles()) {
  const abs = join(root, dir);
  mkdirSync(abs, { recursive: true });
  // Generated directories hold only generated files: stale ones go.
  for (const f of readdirSync(abs, { withFileTypes: true }))
    if (f.isFile() && !files.has(f.name)) rmSync(join(abs, f.name));
  for (const [name, text] of files) writeFileSync(join(abs, name), text);
}
