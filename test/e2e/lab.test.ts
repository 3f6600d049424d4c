// `vipkeeper lab`, the README's first command, run as a newcomer runs it: from dist/ (`npm test`
// builds it first), three nodes and a client in network namespaces, the VIP's master failed and
// back, the client's outage printed, nothing left behind.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { namespaces } from "../../src/lab/lab.ts";

const IS_ROOT = process.getuid?.() === 0;
if (!IS_ROOT) console.warn("test/e2e/lab.test.ts skipped: needs root for network namespaces");
const BIN = join(import.meta.dirname, "../../bin/vipkeeper.js");

describe.skipIf(!IS_ROOT)("vipkeeper lab", () => {
  it("elects n1, moves the VIP to n2 when n1 fails, back when it returns, and cleans up", () => {
    const r = spawnSync(process.execPath, [BIN, "lab"], {
      encoding: "utf8",
      env: { ...process.env, VIPKEEPER_FROM_SOURCE: "" },
      timeout: 120_000,
    });
    const out = r.stdout + r.stderr;
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/n1 is master and holds 198\.18\.0\.50 and 2001:db8::50/);
    expect(out).toMatch(/client: \d+ replies from 198\.18\.0\.50, \d+ from 2001:db8::50/);
    expect(out).toMatch(/n2 holds the virtual addresses now/);
    // The outage is VRRP's (Master_Down_Interval 361 ms at 100 ms adverts), not seconds.
    const outage = /Outage seen by the client \(pings every 5 ms\): IPv4 (\d+) ms, IPv6 (\d+) ms/.exec(out);
    expect(outage, out).not.toBeNull();
    for (const ms of [outage![1], outage![2]]) {
      expect(Number(ms)).toBeGreaterThan(0);
      expect(Number(ms)).toBeLessThan(2000);
    }
    expect(out).toMatch(/n1 holds the virtual addresses again/);
    expect(namespaces("vklab-")).toEqual([]);
  }, 150_000);
});
