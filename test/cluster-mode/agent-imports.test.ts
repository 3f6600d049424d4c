// What the cluster agent's main process loads (`vipkeeper agent --cluster`: cli/agent.ts, then
// cluster-mode/cluster-main.ts and what it imports on demand). It talks to the API through
// kube/rest.ts: @kubernetes/client-node would cost it ~65 MB (BENCHMARKS.md, "Agent memory against
// keepalived"); its model types are imported as types only, erased at run time. It checks the
// objects it reads with the code generated from their schemas, not with typebox (~8 MB).
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadedBy, packagesLoadedBy } from "../support/packages-loaded.ts";

const src = (f: string) => join(import.meta.dirname, "../../src", f);

describe("the cluster agent's main process", () => {
  it("does not load @kubernetes/client-node", () => {
    const loaded = packagesLoadedBy(
      src("cli/agent.ts"),
      src("engine/leftovers.ts"),
      src("cluster-mode/cluster-main.ts"),
      // Imported by cluster-main.ts when a VirtualServer needs the load balancer.
      src("agent/load-balancer.ts"),
      src("observe/real-server-notifier.ts"),
    );
    expect(loaded).toContain("pino"); // the check sees packages at all
    expect(loaded).not.toContain("@kubernetes/client-node");
  });

  it("loads none of typebox but the guard its generated checks call (api/structural.ts)", () => {
    const { packageFiles } = loadedBy(
      src("cli/agent.ts"),
      src("cluster-mode/cluster-main.ts"),
      src("agent/load-balancer.ts"),
    );
    const typebox = packageFiles.filter((f) => f.startsWith("typebox/"));
    expect(typebox).toContain("typebox/build/guard/guard.mjs"); // the check sees typebox at all
    expect(typebox.filter((f) => !f.startsWith("typebox/build/guard/"))).toEqual([]);
  });

  it("the check would see it: the lab's real-kube.ts loads it", () => {
    expect(packagesLoadedBy(src("lab/real-kube.ts"))).toContain("@kubernetes/client-node");
  });
});
