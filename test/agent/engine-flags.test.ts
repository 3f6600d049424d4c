// The engine's V8 flags come from the main process's (bin/vipkeeper.js), all but memory saver
// mode, which makes the engine larger (agent/engines.ts); the semi-space limit once.
import { describe, expect, it } from "vitest";
import { engineExecArgv } from "../../src/agent/engines.ts";

describe("the engine's V8 flags", () => {
  it("are the main process's without memory saver mode, the semi-space limit once", () => {
    expect(
      engineExecArgv(["--max-semi-space-size=1", "--memory-saver-mode", "--enable-source-maps"]),
    ).toEqual(["--max-semi-space-size=1", "--enable-source-maps"]);
  });

  it("have the semi-space limit when the main process was started without it", () => {
    expect(engineExecArgv([])).toEqual(["--max-semi-space-size=1"]);
  });
});
