// Every generated install file, by directory: deploy/ and the chart's generated parts. The CRDs
// are copied from the repo's crds/ (written by `vipkeeper crds`, which owns them), so the chart,
// deploy/ and crds/ carry the same bytes.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import { chartTemplates, DEFAULT_VALUES, deployFiles, valuesSchema } from "./manifests.ts";
import { dashboard } from "./dashboard.ts";

const VERSION = "0.1.0";

/** The repo's crds/*.yaml, by file name (sorted). */
export function repoCrdFiles(root = join(import.meta.dirname, "../..")): Map<string, string> {
  const dir = join(root, "crds");
  return new Map(
    readdirSync(dir)
      .filter((f) => f.endsWith(".yaml"))
      .sort()
      .map((f) => [f, readFileSync(join(dir, f), "utf8")]),
  );
}

export function installFiles(): Map<string, Map<string, string>> {
  const crdFiles = repoCrdFiles();
  const chart = new Map<string, string>([
    [
      "Chart.yaml",
      stringify({
        apiVersion: "v2",
        name: "vipkeeper",
        description:
          "Keep virtual IPs alive on bare-metal Kubernetes: VRRP (keepalived-compatible), load balancing, a LoadBalancer provider.",
        type: "application",
        version: VERSION,
        appVersion: VERSION,
        kubeVersion: ">=1.31.0-0",
        keywords: ["vrrp", "keepalived", "loadbalancer", "bare-metal", "vip"],
      }),
    ],
    [
      "values.yaml",
      "# vipkeeper chart values (see values.schema.json for every field).\n" + stringify(DEFAULT_VALUES),
    ],
    ["values.schema.json", JSON.stringify(valuesSchema(), null, 2) + "\n"],
  ]);
  const templates = chartTemplates();
  templates.set(
    "NOTES.txt",
    [
      "vipkeeper {{ .Chart.AppVersion }} is installed in {{ .Release.Namespace }}.",
      "",
      "The controller starts the agents (DaemonSet vipkeeper-agent) on the nodes your VirtualRouters select.",
      "Try:  kubectl apply -f - <<EOF",
      "apiVersion: vipkeeper.io/v1alpha1",
      "kind: VirtualRouter",
      "metadata: {name: example}",
      "spec: {addresses: [{address: <a free address on your nodes' subnet>}]}",
      "EOF",
      "then:  kubectl get vr example   (VRID, VIPS, MASTER, READY)",
      "",
    ].join("\n"),
  );
  templates.set(
    "dashboard.yaml",
    [
      "{{- if .Values.grafanaDashboard.enabled }}",
      "apiVersion: v1",
      "kind: ConfigMap",
      "metadata:",
      "  name: vipkeeper-dashboard",
      "  namespace: {{ .Release.Namespace }}",
      "  labels:",
      '    grafana_dashboard: "1"',
      "data:",
      "  vipkeeper.json: |-",
      '{{ .Files.Get "dashboards/vipkeeper.json" | indent 4 }}',
      "{{- end }}",
      "",
    ].join("\n"),
  );
  return new Map([
    ["deploy", deployFiles([...crdFiles.values()])],
    ["charts/vipkeeper", chart],
    ["charts/vipkeeper/templates", templates],
    ["charts/vipkeeper/crds", crdFiles],
    [
      "charts/vipkeeper/dashboards",
      new Map([["vipkeeper.json", JSON.stringify(dashboard(), null, 2) + "\n"]]),
    ],
  ]);
}
