import { spawnSync } from "node:child_process";
import { join } from "node:path";
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
