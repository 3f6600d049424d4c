// Backend choice: forced by --lb-backend, or auto (IPVS when the kernel has it). The host kernel
// here has no IPVS (the UML tests cover the IPVS side), so auto must come back nftables without
// throwing; where /proc/net/ip_vs exists, ipvs.
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { chooseBackend, ipvsAvailable, parseBackendChoice } from "../../src/lb/backend.ts";
import { parseAgentArgs } from "../../src/cli/agent.ts";

describe("backend choice", () => {
  it("forced choices are taken as given", async () => {
    expect(await chooseBackend({ backend: "ipvs" })).toBe("ipvs");
    expect(await chooseBackend({ backend: "nftables" })).toBe("nftables");
  });

  it("auto probes the kernel through generic netlink", async () => {
    const has = await ipvsAvailable();
    if (existsSync("/proc/net/ip_vs")) expect(has).toBe(true);
    expect(await chooseBackend({})).toBe(has ? "ipvs" : "nftables");
    expect(await chooseBackend({ backend: "auto" })).toBe(has ? "ipvs" : "nftables");
  });

  it("a bad value names the flag", () => {
    expect(() => parseBackendChoice("lvs")).toThrow(/--lb-backend: 'lvs'/);
    expect(parseBackendChoice(undefined)).toBe("auto");
  });

  it("the agent's --lb-backend flag", () => {
    const ok = parseAgentArgs(["--config", "f.yaml", "--node", "n1", "--lb-backend", "ipvs"]);
    expect(typeof ok === "object" && ok.lbBackend).toBe("ipvs");
    expect(parseAgentArgs(["--config", "f.yaml", "--node", "n1", "--lb-backend", "lvs"])).toMatch(
      /--lb-backend: 'lvs' is not one of auto, ipvs, nftables/,
    );
    const none = parseAgentArgs(["--config", "f.yaml", "--node", "n1"]);
    expect(typeof none === "object" && none.lbBackend).toBeUndefined();
  });
});
