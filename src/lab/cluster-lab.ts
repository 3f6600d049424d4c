// A cluster in the lab: an API server with vipkeeper's CRDs (a real kube-apiserver from
// scripts/kube-up.sh, or the tests' in-process one), Node objects for the lab's nodes, the controller as a
// process, and real agents in the node namespaces that reach the API server at 127.0.0.1:16443
// through a UNIX socket (no packet leaves the namespaces; TLS passes through unchanged).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import type { Server } from "node:net";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { extname, join } from "node:path";
import { CoreV1Api, type KubeConfig } from "@kubernetes/client-node";
import { Lab, tiedToParent } from "./lab.ts";
import type { RealKube } from "./real-kube.ts";
import { unixToTcp } from "./unix-forward.ts";
import { waitUntil } from "./wait.ts";

const BIN = join(import.meta.dirname, "../../bin/vipkeeper.js");
// The forwarder's program beside this module: .ts when running the sources, .js when running dist/
// (from dist/chunks/ when bundled, hence the path through lab/).
const FORWARD = fileURLToPath(
  new URL(`../lab/unix-forward-main${extname(import.meta.url)}`, import.meta.url),
);
export const AGENT_NAMESPACE = "vipkeeper";

/** What the lab needs of an API server. */
export interface LabApi {
  /** Its port on the test machine's 127.0.0.1. */
  readonly port: number;
  /** An admin's client configuration, for the test itself. */
  kubeConfig(): KubeConfig;
  close(): Promise<void>;
}

/**
 * The kubeconfig files the lab's processes use: each node's agent's (reaching the server at
 * HOST:PORT), asked for once the Node objects exist, and the controller's.
 */
export interface LabCredentials {
  agent(hostPort: string, node: string): string | Promise<string>;
  controller(): string | Promise<string>;
}

/**
 * Credentials on a real server, as in a cluster: the controller's service account's token, and
 * each agent's bound to a Pod object on its node, as the DaemonSet's pods' tokens are (no kubelet
 * runs the pod here: the object is what the token names, and what the admission policy that lets
 * an agent write only its own node's status entry reads). deploy/'s RBAC must be applied first.
 */
export function serviceAccountCredentials(kube: RealKube): LabCredentials {
  return {
    agent: async (hostPort, node) => {
      await kube.kubectlOk(["apply", "-f", "-"], JSON.stringify(agentPod(node)));
      return kube.serviceAccountKubeConfig(
        AGENT_NAMESPACE,
        "vipkeeper-agent",
        hostPort,
        agentPod(node).metadata.name,
      );
    },
    controller: () => kube.serviceAccountKubeConfig(AGENT_NAMESPACE, "vipkeeper-controller"),
  };
}

/** The Pod object an agent's token is bound to. */
export function agentPod(node: string) {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `vipkeeper-agent-${node}`, namespace: AGENT_NAMESPACE },
    spec: {
      nodeName: node,
      serviceAccountName: "vipkeeper-agent",
      containers: [{ name: "agent", image: "vipkeeper" }],
    },
  };
}

export class ClusterLab<A extends LabApi = LabApi> {
  readonly lab: Lab;
  readonly api: A;
  readonly logs: string[] = [];
  private readonly dir: string;
  private readonly bridge: Server;
  private controller: ChildProcess | undefined;
  private destroyed = false;
  private readonly agents = new Map<string, ChildProcess>();

  private constructor(lab: Lab, api: A, dir: string, bridge: Server) {
    this.lab = lab;
    this.api = api;
    this.dir = dir;
    this.bridge = bridge;
  }

  /** The lab with a given API server where vipkeeper's CRDs are installed. */
  static async createWith<A extends LabApi>(
    prefix: string,
    nodes: number,
    api: A,
    credentials: LabCredentials,
  ): Promise<ClusterLab<A>> {
    const lab = Lab.create({ prefix, nodes });
    const dir = mkdtempSync(join(tmpdir(), "vk-cluster-"));
    const sock = join(dir, "api.sock");
    const bridge = await unixToTcp(sock, api.port);
    const c = new ClusterLab(lab, api, dir, bridge);
    const core = api.kubeConfig().makeApiClient(CoreV1Api);
    for (const n of lab.nodes)
      await core.createNode({
        body: {
          metadata: { name: n.name, labels: { "kubernetes.io/hostname": n.name } },
          status: { addresses: [{ type: "InternalIP", address: n.ipv4 }] },
        },
      });
    writeFileSync(join(dir, "controller.kubeconfig"), await credentials.controller());
    for (const n of lab.nodes) {
      writeFileSync(
        join(dir, `agent-${n.name}.kubeconfig`),
        await credentials.agent("127.0.0.1:16443", n.name),
      );
      await c.startForwarder(n.name);
    }
    return c;
  }

  /** A Namespace object (the API server labels it kubernetes.io/metadata.name: NAME). */
  async createNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
    await this.api
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespace({ body: { metadata: { name, labels } } });
  }

  /** The node's way to the API server (127.0.0.1:16443 in its namespace); again after a killAll. */
  async startForwarder(node: string): Promise<void> {
    const fwd = this.lab.spawn(node, [process.execPath, FORWARD, "16443", join(this.dir, "api.sock")]);
    this.collect(`${node}-fwd`, fwd);
    await new Promise<void>((resolve) => fwd.stdout?.once("data", () => resolve()));
  }

  collect(name: string, child: ChildProcess): void {
    const push = (d: Buffer) =>
      this.logs.push(
        ...d
          .toString()
          .split("\n")
          .filter(Boolean)
          .map((l) => `${name}: ${l}`),
      );
    child.stdout?.on("data", push);
    child.stderr?.on("data", push);
  }

  startController(extra: string[] = []): void {
    // Tied to this process: it runs outside the lab's namespaces, where no sweep would find it.
    const [cmd, ...args] = tiedToParent([
      process.execPath,
      BIN,
      "controller",
      "--kubeconfig",
      join(this.dir, "controller.kubeconfig"),
      "--namespace",
      AGENT_NAMESPACE,
      "--no-agents",
      ...extra,
    ]);
    const controller = spawn(cmd!, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, POD_NAME: "controller-0" },
    });
    this.controller = controller;
    this.collect("controller", controller);
    // As its Deployment would: a controller that exits (it does when it loses leadership, e.g. in
    // a long API server outage) is started again.
    controller.once("exit", () => {
      if (this.controller === controller && !this.destroyed)
        setTimeout(() => !this.destroyed && this.startController(extra), 1000).unref();
    });
  }

  /** `nodeBinary`: another Node binary than this process's. */
  startAgent(node: string, extra: string[] = [], nodeBinary = process.execPath): void {
    const child = this.lab.spawn(node, [
      nodeBinary,
      BIN,
      "agent",
      "--cluster",
      "--node",
      node,
      "--namespace",
      AGENT_NAMESPACE,
      "--kubeconfig",
      join(this.dir, `agent-${node}.kubeconfig`),
      "--state-dir",
      join(this.dir, `state-${node}`),
      ...extra,
    ]);
    this.collect(node, child);
    this.agents.set(node, child);
  }

  /** Whether the controller process still runs (it was started and has not exited). */
  controllerRunning(): boolean {
    return !!this.controller && this.controller.exitCode === null && this.controller.signalCode === null;
  }

  /**
   * SIGKILL of the node's agent processes (supervisor and engines) at one instant, as when its pod
   * is killed: otherwise, on a loaded machine, an engine whose agent is gone could resign and
   * release, or a supervisor whose engine died resign for it, between two kills.
   */
  killAgent(node: string): void {
    const agent = this.lab.pids(node).filter((pid) => {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        return cmd.includes("agent\0--cluster") || cmd.includes("engine-main");
      } catch {
        return false;
      }
    });
    this.lab.killAtOnce(agent);
  }

  /**
   * Waits until one node has held `vip` for 1.5 s on end and the router's status names it (the
   * agents may start a little apart, and the higher priority preempts); returns that node.
   */
  async settledMaster(
    vip: string,
    statusMaster: () => Promise<string | undefined>,
    timeoutMs: number,
  ): Promise<string> {
    let since = performance.now();
    let last = "";
    await waitUntil(
      async () => {
        // One read of the holders: two could disagree, and pass with no master named.
        const holders = this.lab.holders(vip);
        const now = holders.join();
        if (now !== last) [last, since] = [now, performance.now()];
        return holders.length === 1 && performance.now() - since > 1500 && (await statusMaster()) === now;
      },
      timeoutMs,
      `a settled master\n${this.dump()}`,
    );
    return last;
  }

  dump(lines = 60): string {
    return this.logs.slice(-lines).join("\n");
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    if (process.env.VK_CLUSTER_LOG) writeFileSync(process.env.VK_CLUSTER_LOG, this.logs.join("\n"));
    this.controller?.kill("SIGKILL");
    for (const a of this.agents.values()) a.kill("SIGKILL");
    this.lab.destroy();
    this.bridge.close();
    await this.api.close();
  }
}
