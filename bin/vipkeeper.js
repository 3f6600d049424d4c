#!/usr/bin/env node
// Entry point. vipkeeper's source is TypeScript that Node runs directly (type stripping, Node >= 22.18);
// say so plainly on an older Node instead of failing on the first type annotation.
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `vipkeeper needs Node >= 22.18 (24 LTS recommended); this is ${process.version}.\n` +
      "Run `bash scripts/setup.sh` and `. scripts/env.sh` to put the project's Node 24 on PATH.\n",
  );
  process.exit(1);
}
await import("../src/cli/main.ts");
