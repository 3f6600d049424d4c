// The chart and deploy/ on the real kube-apiserver this file starts (scripts/kube-up.sh), with the
// built helm and kubectl: helm lint, helm template | kubectl apply --dry-run=server, install,
// upgrade with changed values, uninstall; values.schema.json refusing bad values by name; deploy/
// applying cleanly with server-side dry run. No kubelet runs here: objects are checked as stored,
// not as running pods (the lab runs controller and agents as processes).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RealKube, ROOT } from "../../src/lab/real-kube.ts";

const CHART = `${ROOT}/charts/vipkeeper`;
let kube: RealKube;

beforeAll(async () => {
  kube = await RealKube.start();
}, 180_000);
afterAll(async () => kube?.stop());

describe("deploy/ and the chart on the real kube-apiserver", () => {
  it("deploy/ applies cleanly with server-side apply, dry run", async () => {
    // kubectl applies files in name order: 00-crds, 01-namespace, ...; a dry run creates nothing,
    // so the namespace its namespaced objects go to must exist (as it does after 01 for real).
    await kube.kubectlOk(["create", "namespace", "vipkeeper"]);
    const r = await kube.kubectl(["apply", "--server-side", "--dry-run=server", "-f", `${ROOT}/deploy`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(
      /customresourcedefinition.apiextensions.k8s.io\/virtualrouters.vipkeeper.io serverside-applied \(server dry run\)/,
    );
    expect(r.stdout).toMatch(/deployment.apps\/vipkeeper-controller serverside-applied \(server dry run\)/);
    expect(await kube.kubectlOk(["get", "crd", "-o", "name"])).toBe("");
  });

  it("helm lint passes", async () => {
    const r = await kube.helm(["lint", "--strict", CHART]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it("helm template | kubectl apply --dry-run=server accepts every object", async () => {
    const r = await kube.sh(
      `helm template vipkeeper ${CHART} --namespace vipkeeper --include-crds | kubectl apply --dry-run=server -f -`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/clusterrole.rbac.authorization.k8s.io\/.* created \(server dry run\)/);
  });

  it("values.schema.json refuses a bad value, naming it", async () => {
    const r = await kube.helm(["template", "vipkeeper", CHART, "--set", "controller.replicas=0"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/controller\/replicas|controller\.replicas/);
    expect(r.stderr).toMatch(/minimum/);
    const unknown = await kube.helm(["template", "vipkeeper", CHART, "--set", "agent.bogus=1"]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/bogus/);
  });

  it("helm install, upgrade with a changed value, and uninstall", async () => {
    const install = await kube.helm(["install", "vipkeeper", CHART, "--namespace", "vipkeeper"]);
    expect(install.code, install.stderr).toBe(0);
    expect(install.stdout).toMatch(/STATUS: deployed/);
    for (const crd of ["virtualrouters", "virtualservers", "ippools"])
      await kube.kubectlOk(["get", "crd", `${crd}.vipkeeper.io`]);
    const replicas = () =>
      kube.kubectlOk([
        "get",
        "deploy",
        "vipkeeper-controller",
        "-n",
        "vipkeeper",
        "-o",
        "jsonpath={.spec.replicas}",
      ]);
    expect(await replicas()).toBe("2");

    const upgrade = await kube.helm([
      "upgrade",
      "vipkeeper",
      CHART,
      "--namespace",
      "vipkeeper",
      "--reuse-values",
      "--set",
      "controller.replicas=3",
    ]);
    expect(upgrade.code, upgrade.stderr).toBe(0);
    expect(await replicas()).toBe("3");
    const history = JSON.parse(
      (await kube.helm(["history", "vipkeeper", "-n", "vipkeeper", "-o", "json"])).stdout,
    ) as {
      revision: number;
      status: string;
    }[];
    expect(history.map((h) => [h.revision, h.status])).toEqual([
      [1, "superseded"],
      [2, "deployed"],
    ]);

    const uninstall = await kube.helm(["uninstall", "vipkeeper", "--namespace", "vipkeeper"]);
    expect(uninstall.code, uninstall.stderr).toBe(0);
    const left = await kube.kubectlOk([
      "get",
      "deploy,sa,role,rolebinding,configmap",
      "-n",
      "vipkeeper",
      "-l",
      "app.kubernetes.io/name=vipkeeper",
      "-o",
      "name",
    ]);
    expect(left).toBe("");
    expect(
      await kube.kubectlOk(["get", "clusterrole", "-l", "app.kubernetes.io/name=vipkeeper", "-o", "name"]),
    ).toBe("");
    // Helm's rule: CRDs from crds/ stay (deleting them would delete every router).
    await kube.kubectlOk(["get", "crd", "virtualrouters.vipkeeper.io"]);
  });
});
