// Which processes a starting agent takes for an earlier run's engine: engine-main from the sources
// (tests) or from dist/ (production), whatever the path; nothing else.
import { describe, expect, it } from "vitest";
import { isEngineCommand } from "../../src/engine/leftovers.ts";

describe("isEngineCommand", () => {
  it("knows an engine run from the sources or from dist/, and nothing else", () => {
    expect(isEngineCommand(["/usr/bin/node", "/opt/vipkeeper/dist/engine/engine-main.js"])).toBe(true);
    expect(isEngineCommand(["node", "/work/src/engine/engine-main.ts"])).toBe(true);
    expect(isEngineCommand(["node", "engine-main.js"])).toBe(true);
    expect(isEngineCommand(["node", "/opt/vipkeeper/bin/vipkeeper.js", "agent", "--cluster"])).toBe(false);
    expect(isEngineCommand(["node", "/x/not-engine-main.js"])).toBe(false);
    expect(isEngineCommand(["node", "/x/engine-main.json"])).toBe(false);
  });
});
