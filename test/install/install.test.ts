// The install artefacts: generated files up to date, every deploy/ manifest valid against the
// Kubernetes API schemas (kubernetes-models), the chart's values against its schema and its
// templates against its values, the Dockerfile's references, the dashboard's metrics. No helm and
// no docker on this machine: what they would check beyond this is left to a real cluster.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Value from "typebox/value";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { describe, expect, it } from "vitest";
import { installFiles } from "../../src/install/files.ts";
import { parseAgentSettings } from "../../src/install/agent-settings.ts";
import { DASHBOARD_METRICS } from "../../src/install/dashboard.ts";
import { VrrpMetrics } from "../../src/observe/metrics.ts";

const ROOT = join(import.meta.dirname, "../..");
type Json = Record<string, unknown>;

const MODELS: Record<string, string> = {
  "v1/Namespace": "kubernetes-models/v1/Namespace",
  "v1/ServiceAccount": "kubernetes-models/v1/ServiceAccount",
  "v1/ConfigMap": "kubernetes-models/v1/ConfigMap",
  "v1/Service": "kubernetes-models/v1/Service",
  "apps/v1/Deployment": "kubernetes-models/apps/v1/Deployment",
  "rbac.authorization.k8s.io/v1/ClusterRole": "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole",
  "rbac.authorization.k8s.io/v1/Role": "kubernetes-models/rbac.authorization.k8s.io/v1/Role",
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
    "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding",
  "rbac.authorization.k8s.io/v1/RoleBinding": "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding",
  "apiextensions.k8s.io/v1/CustomResourceDefinition":
    "kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition",
};

describe("install files", () => {
  it("are what `node scripts/gen-install.ts` generates", () => {
    for (const [dir, files] of installFiles())
      for (const [name, text] of files)
        expect(readFileSync(join(ROOT, dir, name), "utf8"), `${dir}/${name}`).toBe(text);
  });

  it("deploy/: every manifest is valid against the Kubernetes API schemas", async () => {
    let count = 0;
    for (const [name, text] of installFiles().get("deploy")!) {
      for (const doc of parseAllDocuments(text)) {
        const obj = doc.toJS() as Json;
        const key = `${obj.apiVersion as string}/${obj.kind as string}`;
        const path = MODELS[key];
        expect(path, `${name}: no model for ${key}`).toBeDefined();
        const mod = (await import(path!)) as Record<string, new (o: unknown) => { validate(): void }>;
        const Model = mod[obj.kind as string]!;
        expect(() => new Model(obj).validate(), `${name}: ${key}`).not.toThrow();
        count++;
      }
    }
    expect(count).toBeGreaterThan(10);
  });

  it("deploy/: the agent settings in the ConfigMap are what the controller accepts", () => {
    const text = installFiles().get("deploy")!.get("03-controller.yaml")!;
    const cm = parseAllDocuments(text)
      .map((d) => d.toJS() as Json)
      .find((o) => o.kind === "ConfigMap")!;
    expect(() => parseAgentSettings((cm.data as Record<string, string>)["agent.yaml"]!)).not.toThrow();
  });

  it("chart: values.yaml satisfies values.schema.json, and a wrong value does not", () => {
    const chart = installFiles().get("charts/vipkeeper")!;
    const schema = JSON.parse(chart.get("values.schema.json")!) as Json;
    const values = parseYaml(chart.get("values.yaml")!) as Json;
    expect([...Value.Errors(schema as never, values)].map((e) => e.message)).toEqual([]);
    expect(Value.Check(schema as never, { ...values, controller: { replicas: "two" } })).toBe(false);
    expect(Value.Check(schema as never, { ...values, agent: { allowScripts: "yes" } })).toBe(false);
  });

  it("chart: templates are balanced and read only values that exist", () => {
    const chart = installFiles();
    const values = parseYaml(chart.get("charts/vipkeeper")!.get("values.yaml")!) as Json;
    for (const [name, text] of chart.get("charts/vipkeeper/templates")!) {
      expect(text.split("{{").length, `${name}: unbalanced {{ }}`).toBe(text.split("}}").length);
      for (const m of text.matchAll(/\.Values\.([\w.]+)/g)) {
        const found = m[1]!.split(".").reduce<unknown>((o, k) => (o as Json | undefined)?.[k], values);
        expect(found, `${name}: .Values.${m[1]} is not in values.yaml`).toBeDefined();
      }
    }
  });

  it("Dockerfile: two stages on Node 24, copies files that exist, enters the CLI", () => {
    const text = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    const froms = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!);
    expect(froms).toHaveLength(2);
    for (const f of froms) expect(f).toMatch(/^node:24-/);
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm))
      for (const src of m[1]!.split(/\s+/)) expect(existsSync(join(ROOT, src)), `COPY ${src}`).toBe(true);
    expect(text).toMatch(/--omit=dev/);
    expect(text).toMatch(/^ENTRYPOINT \["node", "\/app\/bin\/vipkeeper.js"\]$/m);
  });

  it("the Grafana dashboard reads metrics the agents export", async () => {
    const m = new VrrpMetrics({ counters: { entries: () => [] }, status: () => [] });
    const names = new Set((await m.registry.getMetricsAsJSON()).map((x) => x.name));
    for (const metric of DASHBOARD_METRICS)
      expect(names.has(metric.replace(/_bucket$/, "")), metric).toBe(true);
    const json = installFiles().get("charts/vipkeeper/dashboards")!.get("vipkeeper.json")!;
    for (const metric of json.match(/vipkeeper_[a-z_]+/g) ?? []) expect(DASHBOARD_METRICS).toContain(metric);
  });
});
