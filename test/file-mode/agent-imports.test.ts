// What the file agent's main process loads (`vipkeeper agent --config`: cli/agent.ts, then what it
// imports for file mode). It speaks no TLS: prom-client's index loads its Pushgateway, and with it
// node:https and node:zlib (~6 MB a process; BENCHMARKS.md, "Agent memory against keepalived"), so
// the metrics take prom-client's parts from their own modules (observe/prom.ts), all but the one
// that loads OpenTelemetry. The load balancer
// (HTTPS checks) loads on the first VirtualServer, not here. (That Node's own modules are required,
// not imported, is the build's: test/cli/dist.test.ts.)
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadedBy } from "../support/packages-loaded.ts";

const src = (f: string) => join(import.meta.dirname, "../../src", f);

describe("the file agent's main process", () => {
  it("loads prom-client's metrics without its Pushgateway", () => {
    const { packageFiles } = loadedBy(
      src("cli/agent.ts"),
      src("engine/leftovers.ts"),
      src("agent/agent-metrics.ts"),
      src("file-mode/file-agent.ts"),
      src("agent/status-server.ts"),
    );
    expect(packageFiles).toContain("prom-client/lib/registry.js");
    expect(packageFiles).toContain("prom-client/lib/metrics/eventLoopLag.js");
    // Its process CPU counters' module loads OpenTelemetry's API for exemplars (never on), ~4 MB.
    expect(packageFiles).not.toContain("prom-client/lib/metrics/processCpuTotal.js");
    expect(packageFiles.filter((f) => f.startsWith("@opentelemetry/"))).toEqual([]);
    expect(packageFiles).not.toContain("prom-client/lib/pushgateway.js");
    expect(packageFiles).not.toContain("prom-client/index.js");
  });

  it("loads none of typebox but the guard its generated checks call (api/structural.ts)", () => {
    const { packageFiles } = loadedBy(src("cli/agent.ts"), src("file-mode/file-agent.ts"));
    const typebox = packageFiles.filter((f) => f.startsWith("typebox/"));
    expect(typebox).toContain("typebox/build/guard/guard.mjs"); // the check sees typebox at all
    expect(typebox.filter((f) => !f.startsWith("typebox/build/guard/"))).toEqual([]);
  });

  it("the check would see it: prom-client's index loads the Pushgateway, and it TLS", () => {
    const { packageFiles, builtins } = loadedBy(require.resolve("prom-client"));
    expect(packageFiles).toContain("prom-client/lib/pushgateway.js");
    expect(builtins).toContain("https");
  });
});
