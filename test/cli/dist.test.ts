// Production runs the bundled JavaScript: dist/ is current (built after every source; `npm test`
// builds first), requires Node's own modules instead of importing them (scripts/build.ts), and
// bin/vipkeeper.js runs it even where Node cannot strip types at all (so nothing is loaded from src/).
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)],
  );

describe("the compiled CLI (dist/)", () => {
  it("is current: built after every source, with each program's entry (run `npm run build`)", () => {
    const built = files(join(ROOT, "dist")).filter((f) => f.endsWith(".js"));
    const oldest = Math.min(...built.map((f) => statSync(f).mtimeMs));
    const sources = [...files(join(ROOT, "src")), join(ROOT, "scripts/build.ts")];
    const newer = sources.filter((f) => statSync(f).mtimeMs > oldest).map((f) => relative(ROOT, f));
    expect(newer, "sources newer than dist/ (run `npm run build`)").toEqual([]);
    for (const entry of [
      "cli/main.js",
      "engine/engine-main.js",
      "lab/http-backend.js",
      "lab/unix-forward-main.js",
    ])
      expect(built).toContain(join(ROOT, "dist", entry));
  });

  it("runs each program from its entry: the lab's forwarder (its code in a shared chunk) says its usage", () => {
    const r = spawnSync(process.execPath, [join(ROOT, "dist/lab/unix-forward-main.js")], {
      encoding: "utf8",
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^usage: unix-forward-main/);
  });

  it("requires Node's modules, never imports them (an import of node:http loads TLS; scripts/build.ts)", () => {
    const imports = files(join(ROOT, "dist"))
      .filter((f) => f.endsWith(".js"))
      .flatMap((f) =>
        [...readFileSync(f, "utf8").matchAll(/^import .* from "(node:[^"]+)";/gm)].map((m) => m[1]),
      );
    // Each file's one import: createRequire, for the requires.
    expect(new Set(imports)).toEqual(new Set(["node:module"]));
    // A program that serves HTTP, from dist/: node:http loaded, and none of what its ESM
    // namespace would load (undici's TLS, HTTP/2, zlib). Its port is bad, so it ends at once.
    const atExit = `import { writeSync } from "node:fs"; process.on("exit", () => writeSync(1, JSON.stringify(process.moduleLoadList)));`;
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        `data:text/javascript,${encodeURIComponent(atExit)}`,
        join(ROOT, "dist/lab/http-backend.js"),
        "no-port",
        "x",
      ],
      { encoding: "utf8" },
    );
    const builtins = (JSON.parse(r.stdout.slice(r.stdout.indexOf("["))) as string[]).map((m) =>
      m.replace(/^NativeModule /, ""),
    );
    expect(builtins).toContain("http");
    for (const heavy of ["tls", "http2", "zlib"]) expect(builtins).not.toContain(heavy);
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
