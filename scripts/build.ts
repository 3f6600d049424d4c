// Production build: src/ bundled into dist/ by esbuild (`npm run build`). Each program the CLI
// starts as a process is an entry, at its source path (dist/cli/main.js, dist/engine/engine-main.js,
// dist/lab/...); the code they share goes to dist/chunks/, one directory deep like the entries, so
// a path a module finds from import.meta.url ("../engine/engine-main.js", "../../build/Release")
// means the same from src/, from an entry and from a chunk.
// Why a bundle and not tsc's one file per module: a Node process keeps every module's record and
// source, and typebox alone is ~680 modules. One bundle per program, code split so that what a
// program imports lazily (mail, YAML, the Kubernetes client, the lab) stays out of it until used:
// the agent at one router 98 -> 82 MB PSS (BENCHMARKS.md, "Agent memory against keepalived").
// Identifiers are kept, so stack traces name the functions; type checking is `npm run typecheck`.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { build, type Plugin } from "esbuild";

const ROOT = join(import.meta.dirname, "..");

/** The modules run as processes of their own (spawned by path, not imported). */
const ENTRIES = [
  "src/cli/main.ts",
  "src/engine/engine-main.ts",
  "src/lab/http-backend.ts",
  "src/lab/unix-forward-main.ts",
];

// Node's own modules are required, not imported: an ESM import of a built-in makes its namespace,
// reading every export, and some exports are getters that load more. node:http's WebSocket loads
// undici, with TLS, HTTP/2 and zlib: a process that imports node:http is ~14 MB larger than one that
// requires it (node:fs and node:util's streams, ~3 MB more). esbuild's interop reads a required
// module's exports where they are used, so the getters nobody uses never run.
const builtinsRequired: Plugin = {
  name: "node-builtins-required",
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (a) =>
      // The module below's own require is Node's.
      a.namespace === "node-builtin"
        ? { path: a.path, external: true }
        : { path: a.path, namespace: "node-builtin" },
    );
    b.onLoad({ filter: /.*/, namespace: "node-builtin" }, (a) => ({
      contents: `module.exports = require(${JSON.stringify(a.path)});`,
      loader: "js",
    }));
  },
};

rmSync(join(ROOT, "dist"), { recursive: true, force: true });
await build({
  absWorkingDir: ROOT,
  entryPoints: ENTRIES,
  outdir: "dist",
  outbase: "src",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node22",
  chunkNames: "chunks/[name]-[hash]",
  // The addon is loaded by path at run time (net/native.ts). The packages imported only lazily
  // are left to Node, loaded when first used as from the sources: a bundled CommonJS package that
  // is imported with import() shows only its default export (`const { parse } = await
  // import("yaml")` finds no parse).
  external: ["*.node", "yaml", "nodemailer"],
  // Bundled CommonJS packages (pino, ipaddr.js) call require: ESM has none, so each file makes one.
  banner: {
    js: 'import { createRequire as __vipkeeperRequire } from "node:module"; const require = __vipkeeperRequire(import.meta.url);',
  },
  plugins: [builtinsRequired],
  logLevel: "warning",
});
