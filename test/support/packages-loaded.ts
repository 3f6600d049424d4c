// The npm packages some modules load when imported (node: built-ins aside), in a fresh Node process:
// for tests that keep heavy packages out of a process (each is paid for on every node).
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";

export function packagesLoadedBy(...files: string[]): string[] {
  const script = `
    import { registerHooks } from "node:module";
    const seen = new Set();
    registerHooks({ load(url, context, next) { seen.add(url); return next(url, context); } });
    for (const f of ${JSON.stringify(files.map((f) => pathToFileURL(f).href))}) await import(f);
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
