// The engine's priority flag, and scripts run at the default priority whatever the engine's.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ENGINE_NICE, parseAgentArgs } from "../../src/cli/agent.ts";

describe("agent --engine-nice", () => {
  it("defaults to a raised priority, takes -20..19, and names the flag when wrong", () => {
    expect(parseAgentArgs(["--config", "f.yaml", "--node", "n1"])).toMatchObject({ engineNice: ENGINE_NICE });
    expect(ENGINE_NICE).toBeLessThan(0);
    expect(parseAgentArgs(["--cluster", "--node", "n1", "--engine-nice", "0"])).toMatchObject({
      engineNice: 0,
    });
    // A negative value goes with "=", as for any option of Node's parseArgs.
    expect(parseAgentArgs(["--cluster", "--node", "n1", "--engine-nice=-20"])).toMatchObject({
      engineNice: -20,
    });
    for (const bad of ["-21", "20", "high", "1.5"])
      expect(parseAgentArgs(["--cluster", "--node", "n1", `--engine-nice=${bad}`])).toBe(
        `--engine-nice: '${bad}' is not a whole number from -20 to 19`,
      );
  });
});

const ROOT = process.getuid?.() === 0;

describe.skipIf(!ROOT)("a script started by a process at a raised priority", () => {
  it("runs at the default priority, and so does what it forks", () => {
    const dir = mkdtempSync(join(tmpdir(), "vk-nice-"));
    const out = join(dir, "nice");
    // A process at -10 (as the engine) runs a script through runShell; the script and a child of
    // it write their niceness.
    const shell = new URL("../../src/base/shell.ts", import.meta.url).href;
    const r = spawnSync(
      "nice",
      [
        "-n",
        "-10",
        process.execPath,
        "--input-type=module",
        "-e",
        `import { runShell } from ${JSON.stringify(shell)};
         import { getPriority } from "node:os";
         if (getPriority() !== -10) throw new Error("not at -10: " + getPriority());
         const r = await runShell("nice > ${out}; bash -c nice >> ${out}");
         process.exit(r.code ?? 1);`,
      ],
      { encoding: "utf8" },
    );
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(readFileSync(out, "utf8").trim().split("\n")).toEqual(["0", "0"]);
  });
});
