// What the engine process loads: the node's one engine runs every router of the node, so every
// package it loads is paid for on every node. It needs none of the schemas (typebox), the parsers
// (yaml), the metrics (prom-client, in the main process), the API client or the mailer (loaded on
// the first mail). bench/agent-memory.ts measures the memory this keeps out.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

/** The npm packages a module loads when imported (node: built-ins aside), in a fresh Node process. */
function packagesLoadedBy(file: string): string[] {
  const script = `
    import { registerHooks } from "node:module";
    const seen = new Set();
    registerHooks({ load(url, context, next) { seen.add(url); return next(url, context); } });
    await import(${JSON.stringify(pathToFileURL(file).href)});
    const names = [...seen].flatMap((u) => {
      const m = /\\/node_modules\\/((?:@[^/]+\\/)?[^/]+)\\//.exec(u);
      return m ? [m[1]] : [];
    });
    process.stdout.write(JSON.stringify([...new Set(names)].sort()));
    process.exit(0);
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as string[];
}

describe("the engine process", () => {
  it("loads neither schemas, parsers, metrics, the API client nor the mailer", () => {
    const loaded = packagesLoadedBy(join(import.meta.dirname, "../../src/engine/engine-main.ts"));
    expect(loaded).toContain("pino"); // the check sees packages at all
    for (const heavy of ["typebox", "yaml", "prom-client", "@kubernetes/client-node", "nodemailer"])
      expect(loaded).not.toContain(heavy);
  });
});
