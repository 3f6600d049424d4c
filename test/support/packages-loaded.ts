// What some modules load when imported, in a fresh Node process: the npm packages, and Node's own
// public modules (node:https, ...): for tests that keep heavy parts out of a process (each is paid
// for on every node).
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";

export interface Loaded {
  packages: string[];
  /** The packages' files, as "package/path/in/it.js". */
  packageFiles: string[];
  /** Node's public built-in modules, without "node:" (internal ones left out). */
  builtins: string[];
}

export function loadedBy(...files: string[]): Loaded {
  const script = `
    import { registerHooks } from "node:module";
    const seen = new Set();
    registerHooks({ load(url, context, next) { seen.add(url); return next(url, context); } });
    for (const f of ${JSON.stringify(files.map((f) => pathToFileURL(f).href))}) await import(f);
    const packageFiles = [...seen].flatMap((u) => {
      const m = /\\/node_modules\\/(.+)$/.exec(u);
      return m ? [m[1]] : [];
    });
    const builtins = process.moduleLoadList.flatMap((m) => {
      const b = /^NativeModule ([^/]+)$/.exec(m);
      return b && !b[1].startsWith("internal") ? [b[1]] : [];
    });
    process.stdout.write(JSON.stringify({
      packageFiles: [...new Set(packageFiles)].sort(),
      builtins: [...new Set(builtins)].sort(),
    }));
    process.exit(0);
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  const { packageFiles, builtins } = JSON.parse(r.stdout) as Omit<Loaded, "packages">;
  // A package's name: its file's first path segment, or two for a scope.
  const packages = packageFiles.map((f) => /^((?:@[^/]+\/)?[^/]+)\//.exec(f)![1]!);
  return { packages: [...new Set(packages)].sort(), packageFiles, builtins };
}

export const packagesLoadedBy = (...files: string[]): string[] => loadedBy(...files).packages;
