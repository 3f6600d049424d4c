// Production runs the compiled JavaScript: dist/ is current (every source compiled, none newer than
// its output; `npm test` builds first), and bin/vipkeeper.js runs it even where Node cannot strip
// types at all (so nothing is loaded from src/).
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );

describe("the compiled CLI (dist/)", () => {
  it("has a current .js for every source file (run `npm run build`)", () => {
    const stale: string[] = [];
    for (const src of files(join(ROOT, "src")).filter((f) => f.endsWith(".ts"))) {
      const out = join(ROOT, "dist", relative(join(ROOT, "src"), src)).replace(/\.ts$/, ".js");
      let built = 0;
      try {
        built = statSync(out).mtimeMs;
      } catch {
        /* missing */
      }
      if (built < statSync(src).mtimeMs) stale.push(relative(ROOT, src));
    }
    expect(stale, "sources newer than dist/ (run `npm run build`)").toEqual([]);
  });

  it("bin/vipkeeper.js runs dist/ without type stripping (its version, a simulation)", () => {
    const env = { ...process.env };
    delete env.VIPKEEPER_FROM_SOURCE;
    const run = (...args: string[]) =>
      spawnSync(
        process.execPath,
        ["--no-experimental-strip-types", join(ROOT, "bin/vipkeeper.js"), ...args],
        {
          env,
          encoding: "utf8",
        },
      );
    const version = run("--version");
    expect(version.stderr).toBe("");
    expect(version.stdout).toMatch(/^vipkeeper \d+\.\d+\.\d+$/m);
    const sim = run("sim", "--interval-ms", "100");
    expect(sim.status, sim.stderr).toBe(0);
    expect(sim.stdout).toMatch(/backup -> master \(master-down\)/);
    // The same Node cannot run the sources this way: the test would notice a fallback to src/.
    const fromSource = spawnSync(
      process.execPath,
      ["--no-experimental-strip-types", join(ROOT, "bin/vipkeeper.js"), "--version"],
      { env: { ...env, VIPKEEPER_FROM_SOURCE: "1" }, encoding: "utf8" },
    );
    expect(fromSource.status).not.toBe(0);
  });
});
