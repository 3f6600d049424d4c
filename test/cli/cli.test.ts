import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";

const MAIN = join(import.meta.dirname, "../../bin/vipkeeper.js");
const run = (...args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8" });

describe("vipkeeper CLI", () => {
  it("--version prints the package version", () => {
    const r = run("--version");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^vipkeeper \d+\.\d+\.\d+\n$/);
  });

  it("--help lists the commands", () => {
    const r = run("--help");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("Usage: vipkeeper <command>");
    expect(r.stdout).toContain("sim");
  });

  it("the agent's main process runs with 1 MB semi-spaces in memory saver mode and glibc's malloc held small (bin/vipkeeper.js replaces itself, same pid); other commands do not", () => {
    // A preload that prints each process image's pid, V8 flags and malloc settings: the agent's
    // twice, one pid.
    const preload = join(mkdtempSync(join(tmpdir(), "vk-cli-")), "flags.mjs");
    writeFileSync(
      preload,
      'const malloc = Object.entries(process.env).filter(([k]) => k.startsWith("MALLOC_")).sort().map(([k, v]) => `${k}=${v}`);\n' +
        'process.stderr.write("flags " + process.pid + " " + JSON.stringify(process.execArgv) + " " + JSON.stringify(malloc) + "\\n");\n',
    );
    const flags = (...args: string[]) =>
      spawnSync(process.execPath, [MAIN, ...args], {
        encoding: "utf8",
        env: { ...process.env, NODE_OPTIONS: `--import=${pathToFileURL(preload).href}` },
      })
        .stderr.split("\n")
        .filter((l) => l.startsWith("flags "))
        .map((l) => l.split(" "));
    const agent = flags("agent", "--help");
    expect(agent).toHaveLength(2);
    expect(agent[0]![1]).toBe(agent[1]![1]);
    expect(JSON.parse(agent[1]![2]!)).toContain("--max-semi-space-size=1");
    expect(JSON.parse(agent[1]![2]!)).toContain("--memory-saver-mode");
    expect(JSON.parse(agent[1]![3]!)).toEqual([
      "MALLOC_ARENA_MAX=2",
      "MALLOC_MMAP_THRESHOLD_=131072",
      "MALLOC_TRIM_THRESHOLD_=131072",
    ]);
    const other = flags("--version");
    expect(other).toHaveLength(1);
    expect(JSON.parse(other[0]![2]!)).not.toContain("--max-semi-space-size=1");
  });

  it("a kubeconfig the client cannot use is one line naming what is not supported, exit 2", () => {
    const file = join(mkdtempSync(join(tmpdir(), "vk-cli-")), "kubeconfig");
    writeFileSync(
      file,
      'clusters: [{name: c, cluster: {server: "https://198.18.0.1:6443"}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
    );
    const r = run("controller", "--kubeconfig", file, "--no-leader-elect", "--no-agents");
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`vipkeeper controller: kubeconfig ${file}: user "u": exec is not supported\n`);
  });

  it("an unknown command fails with usage", () => {
    const r = run("frobnicate");
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });

  it("sim prints a failover timeline that ends with the highest priority as master", () => {
    const r = run("sim");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/n1 {2}backup -> master \(master-down\)/);
    expect(r.stdout).toMatch(/n2 {2}backup -> master \(master-down\)/);
    expect(r.stdout).toMatch(/n3 {2}backup -> master \(master-resigned\)/);
    expect(r.stdout).toContain("masters at the end:   n1");
  });

  it("sim runs VRRPv2 and IPv6 too", () => {
    expect(run("sim", "--vrrp-version", "2").stdout).toContain("VRRPv2 over IPv4");
    expect(run("sim", "--family", "6", "--interval-ms", "100").stdout).toContain("VIP 2001:db8::50");
  });

  it("sim rejects bad options, naming them", () => {
    const r = run("sim", "--interval-ms", "abc");
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("--interval-ms");
    const v2v6 = run("sim", "--vrrp-version", "2", "--family", "6");
    expect(v2v6.status).toBe(2);
    expect(v2v6.stderr).toContain("IPv4 only");
  });
});
