// `vipkeeper manifests`: the deploy/ objects re-rendered for another namespace, image and values,
// checked field by field and against the Kubernetes schemas; bad values name their field.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { manifests } from "../../src/cli/manifests.ts";
import { installFiles } from "../../src/install/files.ts";
import { parseAgentSettings } from "../../src/install/agent-settings.ts";

type Json = Record<string, unknown>;
const ROOT = join(import.meta.dirname, "../..");
const objects = (text: string) =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Json | null)
    .filter((o): o is Json => o !== null);
const find = (objs: Json[], kind: string, name: string) =>
  objs.find((o) => o.kind === kind && (o.metadata as Json).name === name)!;

describe("vipkeeper manifests", () => {
  it("with no options prints exactly deploy/", () => {
    const deploy = [...installFiles().get("deploy")!.values()].join("---\n");
    expect(manifests([])).toBe(deploy);
  });

  it("moves everything to --namespace, uses --image and merges --values over the defaults", () => {
    const values =
      "controller:\n  replicas: 1\n  podDisruptionBudget: {enabled: false}\nagent:\n  allowScripts: true\n";
    const objs = objects(
      manifests(
        [
          "--namespace",
          "net-vip",
          "--image",
          "registry.example:5000/vk:1.2",
          "--values",
          "v.yaml",
          "--no-crds",
        ],
        (f) => (f === "v.yaml" ? values : ""),
      ),
    );
    expect(objs.some((o) => o.kind === "CustomResourceDefinition")).toBe(false);
    expect(objs.some((o) => o.kind === "PodDisruptionBudget")).toBe(false);
    const clusterScoped = (k: string) =>
      k === "Namespace" || k.startsWith("Cluster") || k.startsWith("ValidatingAdmission");
    for (const o of objs)
      if (!clusterScoped(String(o.kind)))
        expect((o.metadata as Json).namespace, `${String(o.kind)}`).toBe("net-vip");
    // The admission policy names the agent's service account in the new namespace.
    expect(JSON.stringify(find(objs, "ValidatingAdmissionPolicy", "vipkeeper-agent-own-status"))).toContain(
      "system:serviceaccount:net-vip:vipkeeper-agent",
    );
    const dep = find(objs, "Deployment", "vipkeeper-controller");
    expect(() => new Deployment(dep as never).validate()).not.toThrow();
    const spec = dep.spec as { replicas: number; template: { spec: { containers: Json[] } } };
    expect(spec.replicas).toBe(1);
    expect(spec.template.spec.containers[0]!.image).toBe("registry.example:5000/vk:1.2");
    // Defaults not overridden stay (resources), the override is taken (allowScripts).
    expect(spec.template.spec.containers[0]!.resources).toEqual({
      requests: { cpu: "50m", memory: "96Mi" },
      limits: { memory: "256Mi" },
    });
    const agentYaml = (find(objs, "ConfigMap", "vipkeeper-agent").data as Json)["agent.yaml"] as string;
    expect(parseAgentSettings(agentYaml)).toMatchObject({ allowScripts: true, metricsPort: 9650 });
    const binding = find(objs, "RoleBinding", "vipkeeper-agent");
    expect(() => new RoleBinding(binding as never).validate()).not.toThrow();
    expect((binding.subjects as Json[])[0]!.namespace).toBe("net-vip");
  });

  it("names the field of a bad value, and refuses a bad namespace", () => {
    const run = (v: string) => () => manifests(["--values", "v.yaml"], () => v);
    expect(run("controller: {replicas: two}\n")).toThrow(/values: controller\.replicas/);
    expect(run("agent: {lbBackend: xdp}\n")).toThrow(/values: agent\.lbBackend/);
    expect(run("colour: red\n")).toThrow(/values: colour: is not a known field/);
    expect(() => manifests(["--namespace", "Bad_NS"])).toThrow(/--namespace/);
  });

  it("runs from the command line, exit 2 with the message on bad values", () => {
    const bin = join(ROOT, "bin/vipkeeper.js");
    const out = execFileSync(process.execPath, [bin, "manifests", "--no-crds", "--namespace", "vk2"], {
      encoding: "utf8",
    });
    expect(objects(out).find((o) => o.kind === "Namespace")!.metadata).toMatchObject({ name: "vk2" });
    let status = 0;
    let stderr = "";
    try {
      const file = join(mkdtempSync(join(tmpdir(), "vk-values-")), "values.yaml");
      writeFileSync(file, "image: {pullPolicy: Sometimes}\n");
      execFileSync(process.execPath, [bin, "manifests", "--values", file], {
        encoding: "utf8",
        stdio: "pipe",
      });
    } catch (err) {
      status = (err as { status: number }).status;
      stderr = (err as { stderr: string }).stderr;
    }
    expect(status).toBe(2);
    expect(stderr).toMatch(/image\.pullPolicy/);
  });
});
