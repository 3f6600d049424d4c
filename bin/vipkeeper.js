#!/usr/bin/env node
// Entry point. Production runs the compiled JavaScript in dist/ (`npm run build`; the set-up and
// the image build it). VIPKEEPER_FROM_SOURCE=1 runs the TypeScript sources directly instead (type
// stripping, Node >= 22.18), as the tests do, so they never run a stale build.
import { existsSync } from "node:fs";

const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `vipkeeper needs Node >= 22.18 (24 LTS recommended); this is ${process.version}.\n` +
      "Run `bash scripts/setup.sh` and `. scripts/env.sh` to put the project's Node 24 on PATH.\n",
  );
  process.exit(1);
}
// The agent's processes run with the settings below, set here for every way of starting the agent
// (the image's ENTRYPOINT, the shebang, the lab): this process replaces itself with execve, same
// pid, and the engine inherits them all but memory saver mode (agent/engines.ts). BENCHMARKS.md
// has the figures.
// - 1 MB semi-spaces: V8 grows the young generation to 32 MB semi-spaces in a burst of allocation
//   (255 routers starting) and keeps the pages, ~35 MB of the cluster agent.
// - At most 2 malloc arenas: glibc makes one per thread that contends, up to 8 per core, and keeps
//   what each grew to (V8's compiler and GC threads in the same burst; -6 MB).
// - glibc's thresholds for giving memory back held at their defaults (128 KiB): each large block
//   freed raises them, up to 32 MiB, and the start's burst then stays in the process (cluster
//   mode, 255 routers: -4 to -8 MB).
// - V8's memory saver mode (slower heap growth, free pages given back), the main process only:
//   the cluster agent's old generation kept ~26 MB of pages for ~10 MB of live objects after 255
//   routers started (-14 MB); 10,000 checks a second still done, on 0.66 of a core against 0.58
//   (bench/under-load.ts).
const AGENT_FLAGS = ["--max-semi-space-size=1", "--memory-saver-mode"];
if (
  process.argv[2] === "agent" &&
  typeof process.execve === "function" &&
  !AGENT_FLAGS.every((f) => process.execArgv.includes(f))
)
  process.execve(
    process.execPath,
    [process.execPath, ...AGENT_FLAGS, ...process.execArgv, ...process.argv.slice(1)],
    {
      MALLOC_ARENA_MAX: "2",
      MALLOC_TRIM_THRESHOLD_: "131072",
      MALLOC_MMAP_THRESHOLD_: "131072",
      ...process.env,
    },
  );
const dist = new URL("../dist/cli/main.js", import.meta.url);
if (process.env.VIPKEEPER_FROM_SOURCE === "1") await import("../src/cli/main.ts");
else if (existsSync(dist)) await import(dist.href);
else {
  process.stderr.write(
    "vipkeeper: dist/ is missing: run `npm run build` (or set VIPKEEPER_FROM_SOURCE=1 to run the sources).\n",
  );
  process.exit(1);
}
