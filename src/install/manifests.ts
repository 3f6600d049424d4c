// The install manifests, from one source for both forms: deploy/ (plain YAML, the default values
// filled in) and charts/vipkeeper/templates (the same objects with Helm placeholders where a value
// goes). A value is read through `v(path)`: deploy/ gets the default, the chart gets a marker that
// becomes `{{ .Values.path }}` (or a toYaml block for objects).
import { stringify } from "yaml";
import { schemaErrors } from "../api/schema/errors.ts";
import { AGENT_NAME, AGENT_SERVICE_ACCOUNT } from "./agent-daemonset.ts";
import { AgentSettingsSchema } from "./agent-settings.ts";

type Json = Record<string, unknown>;

/** The chart's values.yaml, and deploy/'s values. */
export const DEFAULT_VALUES = {
  image: { repository: "ghcr.io/vipkeeper/vipkeeper", tag: "0.1.0", pullPolicy: "IfNotPresent" },
  controller: {
    replicas: 2,
    resources: { requests: { cpu: "50m", memory: "96Mi" }, limits: { memory: "256Mi" } },
    metricsPort: 9651,
    healthPort: 9652,
    podDisruptionBudget: { enabled: true, maxUnavailable: 1 },
  },
  agent: {
    allowScripts: false,
    metricsPort: 9650,
    logLevel: "info",
    priorityClassName: "system-node-critical",
    // Its two processes measured 97-99 MB with one router and 124-130 MB with 255, the Node
    // binary's pages included, which the container is charged for (bench/agent-memory.ts).
    resources: { requests: { cpu: "20m", memory: "128Mi" }, limits: { memory: "256Mi" } },
  },
  serviceMonitor: { enabled: false, interval: "30s" },
  grafanaDashboard: { enabled: false },
};

export type Values = typeof DEFAULT_VALUES;
export type ValueOf = (path: string) => unknown;

const MARK = "__vk__";

export const concrete =
  (values: Values = DEFAULT_VALUES): ValueOf =>
  (path) =>
    path.split(".").reduce<unknown>((o, k) => (o as Json | undefined)?.[k], values);

export const placeholder: ValueOf = (path) => `${MARK}${path}${MARK}`;

const labels = (component: string) => ({
  "app.kubernetes.io/name": "vipkeeper",
  "app.kubernetes.io/component": component,
});

/** The namespaced and cluster objects of an install, in apply order (CRDs apart). */
/** The ValidatingAdmissionPolicy (and its binding) that keeps each agent to its own status entry. */
export const AGENT_STATUS_POLICY = "vipkeeper-agent-own-status";

export function installObjects(v: ValueOf, namespace: string): { file: string; objects: Json[] }[] {
  const image = `${String(v("image.repository"))}:${String(v("image.tag"))}`;
  const meta = (name: string, component: string, ns = true) => ({
    name,
    ...(ns ? { namespace } : {}),
    labels: labels(component),
  });
  const rule = (apiGroups: string[], resources: string[], verbs: string[]) => ({
    apiGroups,
    resources,
    verbs,
  });
  const READ = ["get", "list", "watch"];
  return [
    {
      file: "namespace.yaml",
      objects: [
        { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: labels("namespace") } },
      ],
    },
    {
      file: "rbac.yaml",
      objects: [
        { apiVersion: "v1", kind: "ServiceAccount", metadata: meta("vipkeeper-controller", "controller") },
        { apiVersion: "v1", kind: "ServiceAccount", metadata: meta(AGENT_SERVICE_ACCOUNT, "agent") },
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRole",
          metadata: meta("vipkeeper-controller", "controller", false),
          rules: [
            // It creates and deletes only the VirtualRouters it generates for LoadBalancer Services.
            rule(["vipkeeper.io"], ["virtualrouters"], [...READ, "create", "update", "patch", "delete"]),
            rule(["vipkeeper.io"], ["virtualservers", "ippools"], [...READ, "update", "patch"]),
            rule(
              ["vipkeeper.io"],
              ["virtualrouters/status", "virtualservers/status", "ippools/status"],
              ["get", "update", "patch"],
            ),
            rule(["vipkeeper.io"], ["virtualrouters/finalizers"], ["update"]),
            rule([""], ["nodes", "namespaces"], READ),
            rule([""], ["services"], READ),
            rule([""], ["services/status"], ["update", "patch"]),
            rule(["discovery.k8s.io"], ["endpointslices"], READ),
            rule([""], ["events"], ["create", "patch"]),
            rule(["events.k8s.io"], ["events"], ["create", "patch"]),
          ],
        },
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "Role",
          metadata: meta("vipkeeper-controller", "controller"),
          rules: [
            rule(["coordination.k8s.io"], ["leases"], [...READ, "create", "update"]),
            rule(["apps"], ["daemonsets"], [...READ, "create", "update", "patch", "delete"]),
            rule([""], ["configmaps"], ["get", "watch"]),
          ],
        },
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRole",
          metadata: meta("vipkeeper-agent", "agent", false),
          rules: [
            rule(["vipkeeper.io"], ["virtualrouters", "virtualservers"], READ),
            rule(["vipkeeper.io"], ["virtualrouters/status", "virtualservers/status"], ["patch"]),
            // Namespaces' labels: routers grant VirtualServers to namespaces by selector.
            rule([""], ["nodes", "pods", "namespaces"], READ),
            rule(["discovery.k8s.io"], ["endpointslices"], READ),
            rule([""], ["events"], ["create", "patch"]),
          ],
        },
        // Tenants: the built-in edit/admin roles (bound in a namespace) manage VirtualServers, view
        // reads them; routers and pools, the admin's, are readable only (a ClusterRoleBinding of
        // view or edit is needed for cluster-scoped reads).
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRole",
          metadata: {
            ...meta("vipkeeper-edit", "rbac", false),
            labels: {
              ...labels("rbac"),
              "rbac.authorization.k8s.io/aggregate-to-admin": "true",
              "rbac.authorization.k8s.io/aggregate-to-edit": "true",
            },
          },
          rules: [
            rule(
              ["vipkeeper.io"],
              ["virtualservers"],
              [...READ, "create", "update", "patch", "delete", "deletecollection"],
            ),
            rule(["vipkeeper.io"], ["virtualservers/status", "virtualrouters", "ippools"], READ),
          ],
        },
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "ClusterRole",
          metadata: {
            ...meta("vipkeeper-view", "rbac", false),
            labels: { ...labels("rbac"), "rbac.authorization.k8s.io/aggregate-to-view": "true" },
          },
          rules: [
            rule(
              ["vipkeeper.io"],
              ["virtualservers", "virtualservers/status", "virtualrouters", "ippools"],
              READ,
            ),
          ],
        },
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "Role",
          metadata: meta("vipkeeper-agent", "agent"),
          // VRRPv2 passwords live in vipkeeper's namespace: agents read no other Secrets.
          // Each agent's liveness Lease: read, created once, then renewed (no list or watch).
          rules: [
            rule([""], ["secrets"], READ),
            rule(["coordination.k8s.io"], ["leases"], ["get", "create", "update"]),
          ],
        },
        // RBAC cannot tell one node's agent from another's: this policy lets an agent change only
        // its own entry of a router's status.nodes. The node comes from the agent's token, which
        // Kubernetes binds to its pod and so to the pod's node (1.30 on by default, GA in 1.32).
        {
          apiVersion: "admissionregistration.k8s.io/v1",
          kind: "ValidatingAdmissionPolicy",
          metadata: meta(AGENT_STATUS_POLICY, "agent", false),
          spec: {
            failurePolicy: "Fail",
            matchConstraints: {
              resourceRules: [
                {
                  apiGroups: ["vipkeeper.io"],
                  apiVersions: ["*"],
                  operations: ["UPDATE"],
                  resources: ["virtualrouters/status"],
                },
              ],
            },
            matchConditions: [
              {
                name: "agent",
                expression: `request.userInfo.username == "system:serviceaccount:${namespace}:${AGENT_SERVICE_ACCOUNT}"`,
              },
            ],
            variables: [
              {
                name: "node",
                expression:
                  "'authentication.kubernetes.io/node-name' in request.userInfo.extra && size(request.userInfo.extra['authentication.kubernetes.io/node-name']) == 1 ? request.userInfo.extra['authentication.kubernetes.io/node-name'][0] : ''",
              },
              {
                name: "othersAfter",
                expression:
                  "has(object.status) && has(object.status.nodes) ? object.status.nodes.filter(n, n.name != variables.node) : []",
              },
              {
                name: "othersBefore",
                expression:
                  "has(oldObject.status) && has(oldObject.status.nodes) ? oldObject.status.nodes.filter(n, n.name != variables.node) : []",
              },
            ],
            validations: [
              {
                expression: "variables.node != ''",
                message: "an agent's token must be bound to its pod, which names its node",
                reason: "Forbidden",
              },
              {
                expression: "variables.othersAfter == variables.othersBefore",
                messageExpression:
                  "'the agent on ' + variables.node + ' may write only its own entry of status.nodes'",
                reason: "Forbidden",
              },
            ],
          },
        },
        {
          apiVersion: "admissionregistration.k8s.io/v1",
          kind: "ValidatingAdmissionPolicyBinding",
          metadata: meta(AGENT_STATUS_POLICY, "agent", false),
          spec: { policyName: AGENT_STATUS_POLICY, validationActions: ["Deny"] },
        },
        ...(["controller", "agent"] as const).flatMap((c) => [
          {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRoleBinding",
            metadata: meta(`vipkeeper-${c}`, c, false),
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: `vipkeeper-${c}` },
            subjects: [{ kind: "ServiceAccount", name: `vipkeeper-${c}`, namespace }],
          },
          {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "RoleBinding",
            metadata: meta(`vipkeeper-${c}`, c),
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: `vipkeeper-${c}` },
            subjects: [{ kind: "ServiceAccount", name: `vipkeeper-${c}`, namespace }],
          },
        ]),
      ],
    },
    {
      file: "controller.yaml",
      objects: [
        {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: meta("vipkeeper-agent", "agent"),
          data: { "agent.yaml": v("agent") },
        },
        {
          apiVersion: "apps/v1",
          kind: "Deployment",
          metadata: meta("vipkeeper-controller", "controller"),
          spec: {
            replicas: v("controller.replicas"),
            selector: { matchLabels: labels("controller") },
            template: {
              metadata: { labels: labels("controller") },
              spec: {
                serviceAccountName: "vipkeeper-controller",
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: 65532,
                  runAsGroup: 65532,
                  seccompProfile: { type: "RuntimeDefault" },
                },
                containers: [
                  {
                    name: "controller",
                    image,
                    imagePullPolicy: v("image.pullPolicy"),
                    args: [
                      "controller",
                      "--namespace",
                      "$(POD_NAMESPACE)",
                      "--agent-config",
                      "/etc/vipkeeper/agent.yaml",
                      "--metrics",
                      `0.0.0.0:${String(v("controller.metricsPort"))}`,
                      "--health",
                      `0.0.0.0:${String(v("controller.healthPort"))}`,
                    ],
                    env: [
                      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                      { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                      { name: "VIPKEEPER_IMAGE", value: image },
                    ],
                    ports: [
                      { name: "metrics", containerPort: v("controller.metricsPort") },
                      { name: "health", containerPort: v("controller.healthPort") },
                    ],
                    readinessProbe: { httpGet: { path: "/readyz", port: "health" } },
                    livenessProbe: { httpGet: { path: "/healthz", port: "health" } },
                    resources: v("controller.resources"),
                    securityContext: {
                      allowPrivilegeEscalation: false,
                      readOnlyRootFilesystem: true,
                      capabilities: { drop: ["ALL"] },
                    },
                    volumeMounts: [{ name: "agent-config", mountPath: "/etc/vipkeeper" }],
                  },
                ],
                volumes: [{ name: "agent-config", configMap: { name: "vipkeeper-agent" } }],
              },
            },
          },
        },
        {
          apiVersion: "v1",
          kind: "Service",
          metadata: meta("vipkeeper-metrics", "controller"),
          spec: {
            selector: labels("controller"),
            ports: [{ name: "metrics", port: v("controller.metricsPort"), targetPort: "metrics" }],
          },
        },
      ],
    },
  ];
}

/** Optional objects (chart only, behind a values switch). */
export function optionalObjects(
  v: ValueOf,
  namespace: string,
): { file: string; when: string; objects: Json[] }[] {
  return [
    {
      // Drains take one controller at a time; the other keeps (or takes) the Lease.
      file: "poddisruptionbudget.yaml",
      when: "controller.podDisruptionBudget.enabled",
      objects: [
        {
          apiVersion: "policy/v1",
          kind: "PodDisruptionBudget",
          metadata: { name: "vipkeeper-controller", namespace, labels: labels("controller") },
          spec: {
            maxUnavailable: v("controller.podDisruptionBudget.maxUnavailable"),
            selector: { matchLabels: labels("controller") },
          },
        },
      ],
    },
    {
      file: "servicemonitor.yaml",
      when: "serviceMonitor.enabled",
      objects: [
        {
          apiVersion: "monitoring.coreos.com/v1",
          kind: "ServiceMonitor",
          metadata: { name: "vipkeeper", namespace, labels: labels("controller") },
          spec: {
            selector: { matchLabels: labels("controller") },
            endpoints: [{ port: "metrics", interval: v("serviceMonitor.interval") }],
          },
        },
        {
          apiVersion: "monitoring.coreos.com/v1",
          kind: "PodMonitor",
          metadata: { name: AGENT_NAME, namespace, labels: labels("agent") },
          spec: {
            selector: { matchLabels: labels("agent") },
            podMetricsEndpoints: [{ port: "metrics", interval: v("serviceMonitor.interval") }],
          },
        },
      ],
    },
  ];
}

/** deploy/: one file per group, defaults filled in (the agent config as its YAML text). */
export function deployFiles(
  crdTexts: readonly string[],
  namespace = "vipkeeper",
  values: Values = DEFAULT_VALUES,
): Map<string, string> {
  const header =
    "# Generated by `node scripts/gen-install.ts` from src/install/manifests.ts (do not edit).\n";
  const v = concrete(values);
  const out = new Map<string, string>();
  // The CRD files verbatim, their own "generated by" comment lines dropped for this file's header.
  const body = (t: string) => t.replace(/^(#[^\n]*\n)+/, "");
  out.set("00-crds.yaml", header + crdTexts.map(body).join("---\n"));
  installObjects((p) => (p === "agent" ? stringify(v(p)) : v(p)), namespace).forEach(({ file, objects }, i) =>
    out.set(
      `${String(i + 1).padStart(2, "0")}-${file}`,
      header + objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n"),
    ),
  );
  // Optional objects that are on by default belong to the default install too.
  for (const { file, when, objects } of optionalObjects(v, namespace))
    if (v(when) === true)
      out.set(
        `${String(out.size).padStart(2, "0")}-${file}`,
        header + objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n"),
      );
  return out;
}

/** charts/vipkeeper/templates: the same objects with placeholders turned into Helm expressions. */
export function chartTemplates(): Map<string, string> {
  const header = "{{- /* Generated from src/install/manifests.ts (do not edit). */}}\n";
  const ns = "{{ .Release.Namespace }}";
  const out = new Map<string, string>();
  for (const { file, objects } of installObjects(placeholder, ns)) {
    if (file === "namespace.yaml") continue; // helm install --create-namespace makes it
    out.set(file, header + objects.map((o) => helmify(stringify(o, { lineWidth: 0 }))).join("---\n"));
  }
  for (const { file, when, objects } of optionalObjects(placeholder, ns))
    out.set(
      file,
      `${header}{{- if .Values.${when} }}\n${objects.map((o) => helmify(stringify(o, { lineWidth: 0 }))).join("---\n")}{{- end }}\n`,
    );
  return out;
}

/** Placeholder markers to Helm: objects become toYaml blocks, scalars {{ .Values.x }}. */
export function helmify(yaml: string): string {
  const OBJECTS = new Set(["controller.resources", "agent"]);
  return yaml
    .split("\n")
    .map((line) => {
      const m = new RegExp(`^(\\s*)([\\w.-]+): ${MARK}([\\w.]+)${MARK}$`).exec(line);
      if (m && OBJECTS.has(m[3]!)) {
        const indent = m[1]!.length + 2;
        if (m[3] === "agent")
          return `${m[1]}${m[2]}: |\n${" ".repeat(indent)}{{- toYaml .Values.agent | nindent ${indent} }}`;
        return `${m[1]}${m[2]}:\n${" ".repeat(indent)}{{- toYaml .Values.${m[3]} | nindent ${indent} }}`;
      }
      return line.replace(
        new RegExp(`${MARK}([\\w.]+)${MARK}`, "g"),
        (_all, path: string) => `{{ .Values.${path} }}`,
      );
    })
    .join("\n");
}

/** values.schema.json (Helm checks values against it at install). */
export function valuesSchema(): Json {
  const str = (description: string) => ({ type: "string", description });
  const int = (description: string) => ({ type: "integer", minimum: 1, description });
  const resources = { type: "object", description: "Container resources (requests, limits)." };
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    title: "vipkeeper chart values",
    type: "object",
    additionalProperties: false,
    properties: {
      image: {
        type: "object",
        additionalProperties: false,
        properties: {
          repository: str("Image repository (one image for controller and agents)."),
          tag: str("Image tag."),
          pullPolicy: {
            type: "string",
            enum: ["Always", "IfNotPresent", "Never"],
            description: "Pull policy.",
          },
        },
        required: ["repository", "tag"],
      },
      controller: {
        type: "object",
        additionalProperties: false,
        properties: {
          replicas: int("Controller replicas (one leads, by a Lease)."),
          resources,
          metricsPort: int("Controller metrics port."),
          healthPort: int("Controller /healthz and /readyz port."),
          podDisruptionBudget: {
            type: "object",
            additionalProperties: false,
            properties: {
              enabled: { type: "boolean", description: "Create a PodDisruptionBudget for the controller." },
              maxUnavailable: int("Controller pods a drain may take down at once."),
            },
          },
        },
      },
      agent: {
        ...(AgentSettingsSchema as unknown as Json),
        description: "The agents' settings (the DaemonSet the controller keeps).",
      },
      serviceMonitor: {
        type: "object",
        additionalProperties: false,
        properties: {
          enabled: {
            type: "boolean",
            description: "Create a ServiceMonitor and a PodMonitor (Prometheus Operator).",
          },
          interval: str("Scrape interval."),
        },
      },
      grafanaDashboard: {
        type: "object",
        additionalProperties: false,
        properties: {
          enabled: {
            type: "boolean",
            description: "Ship the Grafana dashboard as a ConfigMap (label grafana_dashboard=1).",
          },
        },
      },
    },
  };
}

export class ValuesError extends Error {}

const isObject = (x: unknown): x is Json => typeof x === "object" && x !== null && !Array.isArray(x);

/** Defaults overlaid with the user's values as Helm does (objects merge, the rest replaces), then
 * checked against values.schema.json; errors name the field. */
export function resolveValues(overrides: unknown): Values {
  if (overrides !== undefined && overrides !== null && !isObject(overrides))
    throw new ValuesError("values: must be a mapping");
  const merge = (base: unknown, over: unknown): unknown => {
    if (!isObject(base) || !isObject(over)) return over === undefined ? base : over;
    const out: Json = { ...base };
    for (const [k, x] of Object.entries(over)) out[k] = merge(base[k], x);
    return out;
  };
  const values = merge(DEFAULT_VALUES, overrides ?? {});
  const errors = schemaErrors(valuesSchema(), values);
  if (errors.length > 0)
    throw new ValuesError(errors.map((e) => `values: ${e.field}: ${e.message}`).join("\n"));
  return values as Values;
}
