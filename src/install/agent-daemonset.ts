// The agents' DaemonSet, as the controller keeps it: on exactly the nodes some VirtualRouter
// selects (a node affinity on their hostnames), host network, NET_ADMIN, NET_RAW and SYS_NICE (the
// VRRP engine's priority) and nothing else, a read-only root filesystem.
import type { V1DaemonSet } from "@kubernetes/client-node";
import type { AgentSettings } from "./agent-settings.ts";

export const AGENT_NAME = "vipkeeper-agent";
export const AGENT_SERVICE_ACCOUNT = "vipkeeper-agent";
export const DEFAULT_METRICS_PORT = 9650;

export interface AgentDaemonSetInput {
  settings: AgentSettings;
  namespace: string;
  image: string;
  /** The nodes that run agents: the union of the nodes routers select. */
  nodeNames: readonly string[];
}

export function agentDaemonSet({ settings, namespace, image, nodeNames }: AgentDaemonSetInput): V1DaemonSet {
  const labels = {
    "app.kubernetes.io/name": "vipkeeper",
    "app.kubernetes.io/component": "agent",
    "app.kubernetes.io/managed-by": "vipkeeper-controller",
  };
  const port = settings.metricsPort ?? DEFAULT_METRICS_PORT;
  const args = ["agent", "--cluster", "--node", "$(NODE_NAME)", "--metrics", `0.0.0.0:${port}`];
  if (settings.allowScripts) args.push("--allow-scripts");
  if (settings.permanentAddresses) args.push("--permanent-addresses");
  // Only an explicit choice goes on the command line: unset and "auto" are the agent's default.
  if (settings.lbBackend && settings.lbBackend !== "auto") args.push("--lb-backend", settings.lbBackend);
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: AGENT_NAME, namespace, labels },
    spec: {
      selector: {
        matchLabels: { "app.kubernetes.io/name": "vipkeeper", "app.kubernetes.io/component": "agent" },
      },
      updateStrategy: {
        type: "RollingUpdate",
        // One node at a time: its routers hand over before the next node restarts.
        rollingUpdate: { maxUnavailable: settings.maxUnavailable ?? 1 },
      },
      template: {
        metadata: { labels },
        spec: {
          serviceAccountName: AGENT_SERVICE_ACCOUNT,
          hostNetwork: true,
          dnsPolicy: "ClusterFirstWithHostNet",
          priorityClassName: settings.priorityClassName ?? "system-node-critical",
          // Node-level networking runs everywhere it is asked to, tainted or not.
          tolerations: settings.tolerations ?? [{ operator: "Exists" }],
          ...(settings.nodeSelector ? { nodeSelector: settings.nodeSelector } : {}),
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  {
                    matchExpressions: [
                      {
                        key: "kubernetes.io/hostname",
                        operator: "In",
                        // An empty In list is invalid: a name no node has keeps the DaemonSet at zero.
                        values: nodeNames.length > 0 ? [...nodeNames] : ["vipkeeper.io/no-node"],
                      },
                    ],
                  },
                ],
              },
            },
          },
          // A graceful stop resigns every router (priority 0) and releases the addresses.
          terminationGracePeriodSeconds: 10,
          containers: [
            {
              name: "agent",
              image,
              imagePullPolicy: settings.imagePullPolicy ?? "IfNotPresent",
              args,
              env: [
                { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
                { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                { name: "VIPKEEPER_LOG_LEVEL", value: settings.logLevel ?? "info" },
              ],
              ports: [{ name: "metrics", containerPort: port, protocol: "TCP" }],
              // The metrics endpoint answers from the engines' IPC snapshots: it fails when they hang.
              livenessProbe: {
                httpGet: { path: "/metrics", port: "metrics" },
                periodSeconds: 20,
                failureThreshold: 3,
              },
              readinessProbe: { httpGet: { path: "/metrics", port: "metrics" }, periodSeconds: 10 },
              securityContext: {
                privileged: false,
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                // SYS_NICE: the VRRP engine raises its own priority (agent --engine-nice).
                capabilities: { add: ["NET_ADMIN", "NET_RAW", "SYS_NICE"], drop: ["ALL"] },
              },
              // No /lib/modules: the dataplane is nftables (nf_tables is loaded by the node's own
              // firewall and kube-proxy), so nothing here needs to load kernel modules.
              volumeMounts: [
                { name: "run", mountPath: "/run/vipkeeper" },
                { name: "tmp", mountPath: "/tmp" },
                // The last cluster view, kept across reboots: the agent runs its last plan when it
                // starts while the API server is unreachable (its only host path).
                { name: "state", mountPath: "/var/lib/vipkeeper" },
              ],
              ...(settings.resources ? { resources: settings.resources } : {}),
            },
          ],
          volumes: [
            { name: "run", emptyDir: {} },
            { name: "tmp", emptyDir: {} },
            { name: "state", hostPath: { path: "/var/lib/vipkeeper", type: "DirectoryOrCreate" } },
          ],
        },
      },
    },
  };
}
