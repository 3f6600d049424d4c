import { describe, expect, it } from "vitest";
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { agentDaemonSet } from "../../src/install/agent-daemonset.ts";
import { parseAgentSettings } from "../../src/install/agent-settings.ts";

describe("the agents' DaemonSet", () => {
  it("is a valid DaemonSet on exactly the selected nodes, with NET_ADMIN, NET_RAW and SYS_NICE only", () => {
    const ds = agentDaemonSet({
      settings: parseAgentSettings("allowScripts: true\nmetricsPort: 9700\n"),
      namespace: "vipkeeper",
      image: "ghcr.io/example/vipkeeper:0.1.0",
      nodeNames: ["n1", "n2"],
    });
    expect(() => new DaemonSet(ds as never).validate()).not.toThrow();
    const pod = ds.spec!.template.spec!;
    expect(pod.hostNetwork).toBe(true);
    const c = pod.containers[0]!;
    expect(c.securityContext).toMatchObject({
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { add: ["NET_ADMIN", "NET_RAW", "SYS_NICE"], drop: ["ALL"] },
    });
    expect(c.args).toEqual([
      "agent",
      "--cluster",
      "--node",
      "$(NODE_NAME)",
      "--metrics",
      "0.0.0.0:9700",
      "--allow-scripts",
    ]);
    expect(
      pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms[0]
        ?.matchExpressions?.[0]?.values,
    ).toEqual(["n1", "n2"]);
    expect(pod.tolerations).toEqual([{ operator: "Exists" }]);
  });

  it("defaults: node-critical, tolerates all, host DNS, one host path (the saved view), probes on the metrics port", () => {
    const ds = agentDaemonSet({ settings: {}, namespace: "vk", image: "img", nodeNames: ["n1"] });
    const pod = ds.spec!.template.spec!;
    const c = pod.containers[0]!;
    expect(pod.priorityClassName).toBe("system-node-critical");
    expect(pod.dnsPolicy).toBe("ClusterFirstWithHostNet");
    expect(pod.serviceAccountName).toBe("vipkeeper-agent");
    // The only host path: the agent's own state directory, mounted where --state-dir defaults to.
    expect(pod.volumes!.filter((v) => v.hostPath).map((v) => [v.name, v.hostPath!.path])).toEqual([
      ["state", "/var/lib/vipkeeper"],
    ]);
    expect(c.volumeMounts!.find((m) => m.name === "state")!.mountPath).toBe("/var/lib/vipkeeper");
    expect(c.args).toEqual(["agent", "--cluster", "--node", "$(NODE_NAME)", "--metrics", "0.0.0.0:9650"]);
    expect(c.env!.find((e) => e.name === "NODE_NAME")!.valueFrom!.fieldRef!.fieldPath).toBe("spec.nodeName");
    expect(c.livenessProbe!.httpGet!.port).toBe("metrics");
    expect(c.readinessProbe!.httpGet!.port).toBe("metrics");
    expect(ds.metadata!.labels!["app.kubernetes.io/managed-by"]).toBe("vipkeeper-controller");
    expect(ds.spec!.updateStrategy!.rollingUpdate!.maxUnavailable).toBe(1);
  });

  it("passes an explicit load balancer backend, leaves auto to the agent", () => {
    const args = (lbBackend: string) =>
      agentDaemonSet({
        settings: parseAgentSettings(`lbBackend: ${lbBackend}\n`),
        namespace: "vk",
        image: "img",
        nodeNames: ["n1"],
      }).spec!.template.spec!.containers[0]!.args!;
    expect(args("nftables").slice(-2)).toEqual(["--lb-backend", "nftables"]);
    expect(args("auto")).not.toContain("--lb-backend");
    expect(() => parseAgentSettings("lbBackend: xdp\n")).toThrow(/lbBackend/);
  });

  it("virtual addresses have a lifetime unless the settings ask for permanent ones (--permanent-addresses)", () => {
    const args = (yaml: string) =>
      agentDaemonSet({ settings: parseAgentSettings(yaml), namespace: "vk", image: "img", nodeNames: ["n1"] })
        .spec!.template.spec!.containers[0]!.args!;
    expect(args("{}\n")).not.toContain("--permanent-addresses");
    expect(args("permanentAddresses: false\n")).not.toContain("--permanent-addresses");
    expect(args("permanentAddresses: true\n")).toContain("--permanent-addresses");
    expect(() => parseAgentSettings("permanentAddresses: 3\n")).toThrow(/permanentAddresses/);
  });

  it("stays valid with no node selected (scheduled nowhere)", () => {
    const ds = agentDaemonSet({ settings: {}, namespace: "vk", image: "img", nodeNames: [] });
    expect(() => new DaemonSet(ds as never).validate()).not.toThrow();
  });

  it("names the field of a bad setting", () => {
    expect(() => parseAgentSettings("metricsPort: 70000\n")).toThrow(/metricsPort/);
    expect(() => parseAgentSettings("colour: red\n")).toThrow(/colour/);
  });
});
