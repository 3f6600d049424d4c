// keepalived's config id on the command line: `vipkeeper import` reads one shared keepalived.conf
// once per node with the node's name as the id, and the agent reads it for its --node, unless
// --config-id says otherwise (keepalived's -i).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { loadConfig } from "../../src/file-mode/config-file.ts";
import { parseAgentArgs } from "../../src/cli/agent.ts";
import { SHARED_PAIR, writeCase } from "../keepalived/shared-conf-cases.ts";

const BIN = join(import.meta.dirname, "../../bin/vipkeeper.js");
const runImport = (...args: string[]) =>
  spawnSync(process.execPath, [BIN, "import", ...args], { encoding: "utf8" });

interface Router {
  kind: string;
  spec: { priorities: { node: string; priority: number }[]; addresses: { address: string }[] };
}
const routers = (stdout: string) =>
  parseAllDocuments(stdout)
    .map((d) => d.toJS() as Router)
    .filter((o) => o.kind === "VirtualRouter");

describe("keepalived's config id", () => {
  it("`vipkeeper import n1=FILE n2=FILE` gives each node the priority of its own @ID lines", () => {
    const file = writeCase({ "main.conf": SHARED_PAIR });
    const r = runImport(`n1=${file}`, `n2=${file}`);
    expect(r.status, r.stderr).toBe(0);
    const [router, ...others] = routers(r.stdout);
    expect(others).toEqual([]);
    expect(router!.spec.priorities).toEqual([
      { node: "n1", priority: 101 },
      { node: "n2", priority: 100 },
    ]);
    expect(router!.spec.addresses).toEqual([{ address: "198.18.0.50/24" }]);
    expect(r.stderr).not.toContain("conflict");
  });

  it("`vipkeeper import --config-id ID` reads the @ID lines of ID for the node given", () => {
    const file = writeCase({ "main.conf": SHARED_PAIR });
    const r = runImport("--node", "lb-a", "--config-id", "n2", file);
    expect(r.status, r.stderr).toBe(0);
    expect(routers(r.stdout)[0]!.spec.priorities).toEqual([{ node: "lb-a", priority: 100 }]);
    expect(runImport("--config-id", "n 2", file)).toMatchObject({ status: 2, stderr: /must be one word/ });
  });

  it("the agent reads a keepalived.conf for its node name's first label, or for --config-id", () => {
    const file = writeCase({ "main.conf": SHARED_PAIR });
    const priority = (node: string, configId?: string) =>
      loadConfig(file, node, configId).routers[0]!.spec.priorities![0];
    expect(priority("n1")).toEqual({ node: "n1", priority: 101 });
    expect(priority("n2.lab.example")).toEqual({ node: "n2.lab.example", priority: 100 });
    expect(priority("lb-a", "n1")).toEqual({ node: "lb-a", priority: 101 });
  });

  it("`vipkeeper agent --config-id` is taken with --config only, as one word", () => {
    expect(parseAgentArgs(["--config", "k.conf", "--node", "lb-a", "--config-id", "n1"])).toMatchObject({
      config: "k.conf",
      node: "lb-a",
      configId: "n1",
    });
    expect(parseAgentArgs(["--config", "k.conf", "--node", "n1"])).not.toHaveProperty("configId");
    expect(parseAgentArgs(["--cluster", "--node", "n1", "--config-id", "n1"])).toMatch(/--config-id is for/);
    expect(parseAgentArgs(["--config", "k.conf", "--node", "n1", "--config-id", ""])).toMatch(/one word/);
  });
});
