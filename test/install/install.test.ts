// The install artefacts: generated files up to date, every deploy/ manifest valid against the
// Kubernetes API schemas (kubernetes-models), the chart's values against its schema and its
// templates against its values, the Dockerfile's references, the dashboard's metrics. No helm and
// no docker on this machine: what they would check beyond this is left to a real cluster.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Value from "typebox/value";
import { parseAllDocuments, parse as parseYaml, stringify } from "yaml";
import { describe, expect, it } from "vitest";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { installFiles } from "../../src/install/files.ts";
import { parseAgentSettings } from "../../src/install/agent-settings.ts";
import { DASHBOARD_METRICS } from "../../src/install/dashboard.ts";
import { VrrpMetrics } from "../../src/observe/metrics.ts";
import { LoadBalancerMetrics } from "../../src/observe/lb-metrics.ts";
import { Counters } from "../../src/base/counters.ts";
import type { InstanceStatus } from "../../src/observe/events.ts";

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
  "policy/v1/PodDisruptionBudget": "kubernetes-models/policy/v1/PodDisruptionBudget",
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy":
    "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy",
  "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding":
    "kubernetes-models/admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding",
  "apiextensions.k8s.io/v1/CustomResourceDefinition":
    "kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition",
};

const get = (o: unknown, path: string) =>
  path.split(".").reduce<unknown>((x, k) => (x as Json | undefined)?.[k], o);

/** What helm would make of the chart's templates, for the constructs the generator emits (and
 * nothing else: an unknown action throws, so a template this cannot read fails the test). */
function renderTemplate(
  text: string,
  values: Json,
  namespace: string,
  chartFile: (path: string) => string = () => {
    throw new Error("no chart files here");
  },
): string {
  const toYaml = (v: unknown) => stringify(v).trimEnd();
  let out = text.replace(/\{\{-? \/\*[\s\S]*?\*\/ ?-?\}\}\n?/g, "");
  // {{- if .Values.x }} ... {{- end }} (not nested in what the generator writes)
  out = out.replace(
    /\s*\{\{- if \.Values\.([\w.]+) \}\}([\s\S]*?)\s*\{\{- end \}\}/g,
    (_a, p: string, body: string) => (get(values, p) ? body : ""),
  );
  out = out.replace(/\s*\{\{- toYaml \.Values\.([\w.]+) \| nindent (\d+) \}\}/g, (_a, p: string, n: string) =>
    ("\n" + toYaml(get(values, p))).replace(/\n/g, "\n" + " ".repeat(Number(n))),
  );
  out = out.replace(/\{\{ \.Values\.([\w.]+) \}\}/g, (_a, p: string) => String(get(values, p)));
  out = out.replace(/\{\{ \.Release\.Namespace \}\}/g, namespace);
  const left = /\{\{(?! \.Files\.Get ).*?\}\}/.exec(out);
  if (left) throw new Error(`template action not understood: ${left[0]}`);
  // Last: a file's content is inserted as it is, not read as a template (Grafana's {{legend}}s stay).
  out = out.replace(/\{\{ \.Files\.Get "([^"]+)" \| indent (\d+) \}\}/g, (_a, path: string, n: string) =>
    chartFile(path).replace(/^(?=.)/gm, " ".repeat(Number(n))),
  );
  return out;
}

const objectsOf = (text: string) =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Json | null)
    .filter((o): o is Json => o !== null);

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

  it("chart: rendered with its default values, the templates are deploy/ (one source)", () => {
    const files = installFiles();
    const values = parseYaml(files.get("charts/vipkeeper")!.get("values.yaml")!) as Json;
    const fromChart = [...files.get("charts/vipkeeper/templates")!]
      .filter(([name]) => name.endsWith(".yaml"))
      .flatMap(([, text]) => objectsOf(renderTemplate(text, values, "vipkeeper")));
    const fromDeploy = [...files.get("deploy")!]
      .filter(([name]) => !/crds|namespace/.test(name))
      .flatMap(([, text]) => objectsOf(text));
    const key = (o: Json) => `${o.kind as string}/${get(o, "metadata.name") as string}`;
    const sort = (l: Json[]) => [...l].sort((a, b) => key(a).localeCompare(key(b)));
    expect(fromDeploy.length).toBeGreaterThan(10);
    expect(sort(fromChart)).toEqual(sort(fromDeploy));
    // Switched on, the optional objects render too (ServiceMonitor, PodMonitor, dashboard aside).
    const on = { ...values, serviceMonitor: { enabled: true, interval: "15s" } };
    const monitors = objectsOf(
      renderTemplate(files.get("charts/vipkeeper/templates")!.get("servicemonitor.yaml")!, on, "vk"),
    );
    expect(monitors.map((o) => o.kind)).toEqual(["ServiceMonitor", "PodMonitor"]);
    expect(get(monitors[0], "spec.endpoints.0.interval")).toBe("15s");
    const [board] = objectsOf(
      renderTemplate(
        files.get("charts/vipkeeper/templates")!.get("dashboard.yaml")!,
        { ...values, grafanaDashboard: { enabled: true } },
        "vk",
        (path) =>
          files
            .get(`charts/vipkeeper/${path.slice(0, path.lastIndexOf("/"))}`)!
            .get(path.slice(path.lastIndexOf("/") + 1))!,
      ),
    );
    expect(get(board, "metadata.labels.grafana_dashboard")).toBe("1");
    expect(() => new ConfigMap(board as never).validate()).not.toThrow();
    const json = JSON.parse((board!.data as Record<string, string>)["vipkeeper.json"]!) as Json;
    expect(json.uid).toBe("vipkeeper");
    expect((json.panels as unknown[]).length).toBeGreaterThanOrEqual(12);
  });

  it("chart and deploy/ carry the repo's CRDs", () => {
    const files = installFiles();
    const repo = [...files.get("charts/vipkeeper/crds")!.keys()];
    expect(repo.length).toBeGreaterThanOrEqual(3);
    for (const name of repo)
      expect(files.get("charts/vipkeeper/crds")!.get(name)).toBe(
        readFileSync(join(ROOT, "crds", name), "utf8"),
      );
    const names = objectsOf(files.get("deploy")!.get("00-crds.yaml")!).map((o) => get(o, "metadata.name"));
    expect(names.map((n) => `${n as string}.yaml`).sort()).toEqual(repo.sort());
  });

  it("RBAC: least privilege (no wildcards, Secrets and Leases only in vipkeeper's namespace)", () => {
    const rbac = objectsOf(installFiles().get("deploy")!.get("02-rbac.yaml")!);
    const rules = (kind: string, name: string) =>
      (rbac.find((o) => o.kind === kind && get(o, "metadata.name") === name)!.rules as Json[]).map(
        (r) => r as { apiGroups: string[]; resources: string[]; verbs: string[] },
      );
    const clusterWide = [
      ...rules("ClusterRole", "vipkeeper-controller"),
      ...rules("ClusterRole", "vipkeeper-agent"),
    ];
    for (const r of clusterWide) {
      expect([...r.apiGroups, ...r.resources, ...r.verbs]).not.toContain("*");
      expect(r.resources).not.toContain("secrets");
      expect(r.resources).not.toContain("leases");
      expect(r.resources).not.toContain("daemonsets");
    }
    const agent = rules("ClusterRole", "vipkeeper-agent");
    // Agents write only status, never specs.
    for (const r of agent)
      if (r.apiGroups.includes("vipkeeper.io"))
        expect(
          r.resources.every((x) => x.endsWith("/status")) ||
            r.verbs.every((v) => ["get", "list", "watch"].includes(v)),
        ).toBe(true);
    expect(rules("Role", "vipkeeper-agent").find((r) => r.resources.includes("secrets"))!.verbs).toEqual([
      "get",
      "list",
      "watch",
    ]);
    // Only generated VirtualRouters are created or deleted by the controller.
    for (const r of rules("ClusterRole", "vipkeeper-controller"))
      if (r.verbs.includes("create") || r.verbs.includes("delete"))
        expect(r.resources, r.resources.join()).toEqual(
          r.apiGroups.includes("vipkeeper.io") ? ["virtualrouters"] : ["events"],
        );
    expect(rules("Role", "vipkeeper-controller").flatMap((r) => r.resources)).toEqual(
      expect.arrayContaining(["leases", "daemonsets", "configmaps"]),
    );
  });

  it("RBAC for tenants: VirtualServers through the built-in admin/edit and view roles; routers and pools read-only", () => {
    const rbac = objectsOf(installFiles().get("deploy")!.get("02-rbac.yaml")!);
    const role = (name: string) =>
      rbac.find((o) => o.kind === "ClusterRole" && get(o, "metadata.name") === name)!;
    const verbsOn = (name: string, resource: string) =>
      (role(name).rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[])
        .filter((r) => r.apiGroups.includes("vipkeeper.io") && r.resources.includes(resource))
        .flatMap((r) => r.verbs)
        .sort();
    const READ = ["get", "list", "watch"];
    const labelsOf = (name: string) => get(role(name), "metadata.labels") as Record<string, string>;
    expect(labelsOf("vipkeeper-edit")).toMatchObject({
      "rbac.authorization.k8s.io/aggregate-to-admin": "true",
      "rbac.authorization.k8s.io/aggregate-to-edit": "true",
    });
    expect(labelsOf("vipkeeper-edit")["rbac.authorization.k8s.io/aggregate-to-view"]).toBeUndefined();
    expect(labelsOf("vipkeeper-view")).toMatchObject({
      "rbac.authorization.k8s.io/aggregate-to-view": "true",
    });
    expect(verbsOn("vipkeeper-edit", "virtualservers")).toEqual(
      [...READ, "create", "update", "patch", "delete", "deletecollection"].sort(),
    );
    // Status is the agents': tenants read it, never write it.
    for (const name of ["vipkeeper-edit", "vipkeeper-view"]) {
      expect(verbsOn(name, "virtualservers/status")).toEqual(READ);
      expect(verbsOn(name, "virtualrouters")).toEqual(READ);
      expect(verbsOn(name, "ippools")).toEqual(READ);
    }
    expect(verbsOn("vipkeeper-view", "virtualservers")).toEqual(READ);
  });

  it("controller Deployment: the interface the controller expects, non-root and read-only", () => {
    const objs = objectsOf(installFiles().get("deploy")!.get("03-controller.yaml")!);
    const dep = objs.find((o) => o.kind === "Deployment")!;
    const pod = get(dep, "spec.template.spec") as Json;
    const c = (pod.containers as Json[])[0]!;
    expect(c.args).toEqual([
      "controller",
      "--namespace",
      "$(POD_NAMESPACE)",
      "--agent-config",
      "/etc/vipkeeper/agent.yaml",
      "--metrics",
      "0.0.0.0:9651",
      "--health",
      "0.0.0.0:9652",
    ]);
    expect((c.env as Json[]).map((e) => e.name)).toEqual(["POD_NAME", "POD_NAMESPACE", "VIPKEEPER_IMAGE"]);
    expect(get(pod, "securityContext.runAsNonRoot")).toBe(true);
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    });
  });

  it("Dockerfile: two stages on Node 24, copies files that exist, enters the CLI", () => {
    const text = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    const froms = [...text.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]!);
    expect(froms).toHaveLength(2);
    for (const f of froms) expect(f).toMatch(/^node:24-/);
    for (const m of text.matchAll(/^COPY (?!--from)(.+) \S+$/gm))
      for (const src of m[1]!.split(/\s+/)) expect(existsSync(join(ROOT, src)), `COPY ${src}`).toBe(true);
    expect(text).toMatch(/--omit=dev/);
    // The addon builds against the running Node's headers (its prefix), whatever ~/.npmrc says.
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.install).toBe(
      'npm_config_nodedir="$(dirname "$(dirname "$npm_node_execpath")")" node-gyp rebuild',
    );
    // The runtime stage: the agent's tools, no compiler, node_modules from the production install.
    const runtime = text.slice(text.lastIndexOf("\nFROM "));
    for (const pkg of ["nftables", "iproute2", "bash", "procps"])
      expect(runtime).toMatch(new RegExp(`\\b${pkg}\\b`));
    expect(runtime).not.toMatch(/\bg\+\+|\bmake\b|\bipvsadm\b/);
    expect(runtime).toMatch(/^COPY --from=build \/app\/node_modules node_modules\/$/m);
    // It runs the compiled JavaScript: dist/ from the builder, no sources.
    expect(runtime).toMatch(/^COPY --from=build \/app\/dist dist\/$/m);
    expect(runtime).not.toMatch(/^COPY src\//m);
    expect(text).toMatch(/npm run build/);
    const ignored = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n");
    for (const p of ["node_modules/", ".git/", "test/"]) expect(ignored).toContain(p);
    expect(text).toMatch(/^ENTRYPOINT \["node", "\/app\/bin\/vipkeeper.js"\]$/m);
  });

  it("the Grafana dashboard reads metrics the agents export, by labels they carry", async () => {
    // One instance with every VRRP counter, one real server with a check and a dataplane update:
    // every series the dashboard can read exists, with the labels an agent gives it.
    const instance: InstanceStatus = {
      key: "web/ipv4",
      state: "master",
      priority: 100,
      effectivePriority: 100,
      interfaceName: "eth0",
      addresses: ["198.18.0.50/24"],
      since: 0,
      holdsAddresses: true,
      splitBrain: false,
      tracked: [],
    };
    const counters = new Counters();
    for (const [name, extra] of [
      ["adverts_sent", {}],
      ["adverts_received", {}],
      ["drops", { reason: "bad-ttl" }],
      ["transitions", { to: "master" }],
      ["notifications", { channel: "mail", result: "sent" }],
    ] as const)
      counters.add(name, { instance: "web/ipv4", ...extra });
    const m = new VrrpMetrics({ counters, status: () => [instance] }, { node: "n1" });
    m.observeFailover("web/ipv4", 400);
    const lb = new LoadBalancerMetrics(m.registry); // as the agent does: one registry, one /metrics
    lb.servers([{ service: "default/web", server: "198.18.0.11:80" }]);
    lb.change("default/web", "198.18.0.11:80", false);
    lb.check("http", true, 0.001);
    lb.dataplaneUpdate("nftables", true, 0.002);
    const labels = new Map<string, Set<string>>();
    for (const metric of await m.registry.getMetricsAsJSON())
      for (const v of metric.values as { metricName?: string; labels: Record<string, unknown> }[]) {
        const name = v.metricName ?? metric.name;
        const set = labels.get(name) ?? new Set<string>();
        for (const l of Object.keys(v.labels)) set.add(l);
        labels.set(name, set);
      }
    for (const metric of DASHBOARD_METRICS) expect(labels.has(metric), metric).toBe(true);
    // Prometheus gives every series `instance` and `job` of the scrape target: a metric's own
    // label of that name would be renamed (exported_instance) and the dashboard would group wrong.
    for (const [name, set] of labels) {
      expect(set.has("instance"), name).toBe(false);
      expect(set.has("job"), name).toBe(false);
    }
    const json = installFiles().get("charts/vipkeeper/dashboards")!.get("vipkeeper.json")!;
    for (const metric of json.match(/vipkeeper_[a-z_]+/g) ?? []) expect(DASHBOARD_METRICS).toContain(metric);
    const board = JSON.parse(json) as { panels: { targets: { expr: string; legendFormat: string }[] }[] };
    for (const { expr, legendFormat } of board.panels.flatMap((p) => p.targets)) {
      const carried = new Set((expr.match(/vipkeeper_[a-z_]+/g) ?? []).flatMap((n) => [...labels.get(n)!]));
      const used = [
        ...[...expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((x) => x[1]!.split(",").map((l) => l.trim())),
        ...[...expr.matchAll(/\{([a-z_]+)=/g)].map((x) => x[1]!),
        ...[...legendFormat.matchAll(/\{\{([a-z_]+)\}\}/g)].map((x) => x[1]!),
      ];
      for (const label of used) expect(carried.has(label), `${label} in ${expr}`).toBe(true);
    }
  });
});
