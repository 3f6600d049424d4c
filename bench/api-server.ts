// The API server a bench runs against: the in-process one (test/kubeapi), or with --real a real
// kube-apiserver (scripts/kube-up.sh, a fresh one per call) with vipkeeper's CRDs Established and
// its namespace made; admin credentials throughout.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tiedToParent } from "../src/lab/lab.ts";
import { crds } from "../src/api/crds.ts";
import type { LabApi } from "../src/lab/cluster-lab.ts";
import { RealKube } from "../src/lab/real-kube.ts";
import { startApiServer } from "../test/kubeapi/server.ts";

/** The API server of a run, its admin kubeconfig (for a process on this machine) and its end. */
export async function apiServer(
  real: boolean,
): Promise<{ api: LabApi; kubeconfig: (hostPort?: string) => string }> {
  if (!real) {
    const api = await startApiServer({ crds: crds() });
    return { api, kubeconfig: (hostPort) => api.kubeConfigYaml(hostPort ? `http://${hostPort}` : undefined) };
  }
  const kube = await RealKube.start();
  // kube-up.sh starts the servers in sessions of their own: stopped however the bench ends.
  process.once("exit", () => kube.stopSync());
  await kube.installCrds();
  // Without a kube-controller-manager nothing makes the namespace's default ServiceAccount; the
  // controller's Events go to "default", which kube-apiserver makes itself.
  await kube.kubectlOk(["create", "namespace", "vipkeeper"]);
  return {
    api: kube,
    kubeconfig: (hostPort) => {
      const text = readFileSync(kube.kubeconfig, "utf8");
      return hostPort
        ? text.replace(/server: https:\/\/127\.0\.0\.1:\d+/, `server: https://${hostPort}`)
        : text;
    },
  };
}

/**
 * The controller as a process on `kubeconfig` (its text), without leader election or agents,
 * logging warnings only; tied to the bench (setpriv, which execs: the pid is the controller's), so
 * an interrupted bench leaves none behind.
 */
export function startController(kubeconfig: string, extra: string[] = []): ChildProcess {
  const dir = mkdtempSync(join(tmpdir(), "vk-bench-"));
  writeFileSync(join(dir, "kubeconfig"), kubeconfig);
  const [cmd, ...args] = tiedToParent([
    process.execPath,
    join(import.meta.dirname, "../bin/vipkeeper.js"),
    "controller",
    "--kubeconfig",
    join(dir, "kubeconfig"),
    "--no-agents",
    "--no-leader-elect",
    ...extra,
  ]);
  return spawn(cmd!, args, {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, VIPKEEPER_LOG_LEVEL: "warn" },
  });
}
