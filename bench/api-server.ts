// The API server a bench runs against: the in-process one (test/kubeapi), or with --real a real
// kube-apiserver (scripts/kube-up.sh, a fresh one per call) with vipkeeper's CRDs Established and
// its namespace made; admin credentials throughout.
import { readFileSync } from "node:fs";
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
