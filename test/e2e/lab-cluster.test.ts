// `vipkeeper lab --cluster`, the newcomer's demo, run as a newcomer runs it: its own real
// kube-apiserver, examples/ applied with kubectl, `kubectl get vr` showing the master, the master's
// agent killed and its node failed, the status following and the client's outage printed. From
// dist/, as `npx vipkeeper lab --cluster` runs (`npm test` builds it first).
import { spawn } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { namespaces } from "../../src/lab/lab.ts";

const IS_ROOT = process.getuid?.() === 0;
if (!IS_ROOT) console.warn("test/e2e/lab-cluster.test.ts skipped: needs root for network namespaces");
const BIN = join(import.meta.dirname, "../../bin/vipkeeper.js");

function runDemo(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, "lab", "--cluster"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, VIPKEEPER_FROM_SOURCE: "" },
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", (code) => resolve({ code, out }));
  });
}

describe.skipIf(!IS_ROOT)("vipkeeper lab --cluster", () => {
  it("shows the master in kubectl get vr, follows a killed agent and a failed node, and cleans up", async () => {
    const { code, out } = await runDemo();
    expect(code, out).toBe(0);
    // The printer columns, with a node named as master of each router (the example's and the pool's).
    const table = /\$ kubectl get vr\n\s+NAME\s+VRID\s+VIP\s+MASTER\s+READY\s+AGE\n((?:\s+\S.*\n){2})/.exec(
      out,
    );
    expect(table, out).not.toBeNull();
    expect(table![1]).toMatch(/ingress-vip\s+\d+\s+198\.18\.0\.60\/24\s+n[123]\s+True/);
    expect(table![1]).toMatch(/lb-default-pool-0\s+\d+\s+198\.18\.0\.200\s+n[123]\s+True/);
    expect(out).toMatch(/default\s+web\s+198\.18\.0\.60\s+80\s+2\s+True/); // both real servers up
    expect(out).toMatch(/web-lb\s+LoadBalancer\s+\S+\s+198\.18\.0\.200\s/);
    expect(out).toMatch(/client: http:\/\/198\.18\.0\.200\/ answered by n[123]/);
    // The master's agent killed: another node takes the address and the status names it.
    const killed =
      /killing (n\d)'s agent[\s\S]*?(n\d) took 198\.18\.0\.60[\s\S]*?status\.master names \2/.exec(out);
    expect(killed, out).not.toBeNull();
    expect(killed![2]).not.toBe(killed![1]);
    expect(out).toMatch(new RegExp(`${killed![1]} let go of 198\\.18\\.0\\.60 by itself`));
    // The node failed: the outage is printed, and it is VRRP's, not seconds.
    const outage = /Client's outage, master's node failed: (\d+) ms/.exec(out);
    expect(outage, out).not.toBeNull();
    expect(Number(outage![1])).toBeGreaterThan(0);
    expect(Number(outage![1])).toBeLessThan(2000);
    // Nothing left behind: no namespace, no API server.
    expect(namespaces("vkdemo-")).toEqual([]);
    expect(out).toMatch(/removing the lab and stopping the API server/);
  }, 240_000);
});
