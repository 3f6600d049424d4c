// What the engine process loads: the node's one engine runs every router of the node, so every
// package it loads is paid for on every node. It needs none of the schemas (typebox), the parsers
// (yaml), the metrics (prom-client, in the main process), the API client or the mailer (loaded on
// the first mail). bench/agent-memory.ts measures the memory this keeps out.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packagesLoadedBy } from "../support/packages-loaded.ts";

describe("the engine process", () => {
  it("loads neither schemas, parsers, metrics, the API client nor the mailer", () => {
    const loaded = packagesLoadedBy(join(import.meta.dirname, "../../src/engine/engine-main.ts"));
    expect(loaded).toContain("pino"); // the check sees packages at all
    for (const heavy of ["typebox", "yaml", "prom-client", "@kubernetes/client-node", "nodemailer"])
      expect(loaded).not.toContain(heavy);
  });
});
