// scripts/kube-up.sh and kube-down.sh themselves: a bad start-up ends with a message saying what
// and where (port taken, build missing, etcd not starting, already running), and kube-down leaves
// no process behind.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { RealKube, ROOT, type Run } from "../../src/lab/real-kube.ts";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "vk-kube-up-"));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) {
    await script("kube-down.sh", d);
    rmSync(d, { recursive: true, force: true });
  }
});

function script(name: string, dir: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      "bash",
      [join(ROOT, "scripts", name), dir],
      { env: { ...process.env, ...env }, timeout: 150_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

async function listen(): Promise<[Server, number]> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return [s, (s.address() as { port: number }).port];
}

/** Processes whose command line names the folder (what kube-up started from it). */
function processesOf(dir: string): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, "utf8").includes(`${dir}/`);
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe("kube-up.sh / kube-down.sh", () => {
  it("says which port is taken, and by what", async () => {
    const [server, port] = await listen();
    try {
      const r = await script("kube-up.sh", tempDir(), { KUBE_API_PORT: String(port) });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        new RegExp(
          `kube-up: port ${port} for kube-apiserver is taken on this machine: LISTEN .*127\\.0\\.0\\.1:${port} .*users:\\(\\("`,
        ),
      );
      expect(r.stderr).toMatch(/set KUBE_API_PORT=<free port>/);
    } finally {
      server.close();
    }
  });

  it("says the build is missing and how to make it", async () => {
    const r = await script("kube-up.sh", tempDir(), { VIPKEEPER_KUBE_CACHE: "/nonexistent/vk-cache" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /kube-up: \/nonexistent\/vk-cache\/kube-v[\d.]+\/bin\/etcd is missing: build it with 'bash scripts\/build-kube.sh'/,
    );
  });

  it("says etcd did not start, with its log, and leaves nothing running", async () => {
    const dir = tempDir();
    // A damaged etcd data folder: etcd starts and dies at once.
    mkdirSync(join(dir, "etcd/member/snap"), { recursive: true });
    mkdirSync(join(dir, "etcd/member/wal"));
    writeFileSync(join(dir, "etcd/member/snap/db"), randomBytes(65536));
    writeFileSync(join(dir, "etcd/member/wal/0000000000000000-0000000000000000.wal"), randomBytes(1024));
    const [a, b, c] = [await listen(), await listen(), await listen()];
    for (const [s] of [a, b, c]) s.close();
    const r = await script("kube-up.sh", dir, {
      KUBE_API_PORT: String(a[1]),
      ETCD_CLIENT_PORT: String(b[1]),
      ETCD_PEER_PORT: String(c[1]),
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/failed to open database/);
    expect(r.stderr).toContain(`kube-up: etcd exited during start-up (log: ${dir}/etcd.log)`);
    expect(processesOf(dir)).toEqual([]);
  });

  it("runs one control plane per folder, and kube-down leaves no process", async () => {
    const kube = await RealKube.start();
    try {
      expect(processesOf(kube.dir).length).toBe(2); // etcd and kube-apiserver
      const again = await script("kube-up.sh", kube.dir);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/a control plane already runs from .*kube-down\.sh/);
      expect(await kube.kubectlOk(["get", "--raw", "/readyz"])).toBe("ok");
      const down = await script("kube-down.sh", kube.dir);
      expect(down.code, down.stderr).toBe(0);
      expect(processesOf(kube.dir)).toEqual([]);
    } finally {
      await kube.stop();
    }
  }, 120_000);
});
