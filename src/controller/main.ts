// The controller process: leader election, caches of routers, Nodes and agent Leases, a work queue
// of router names, and the writes (status by server-side apply, finalizers by merge patch, Events,
// the agents' DaemonSet). Only the leader reconciles; every replica keeps its caches warm.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type V1Lease,
  type V1Node,
} from "@kubernetes/client-node";
import { GROUP, VERSION } from "../api/virtual-router.ts";
import { AGENT_LEASE_LABEL } from "../agent/agent-lease.ts";
import type { ControllerArgs } from "../cli/controller.ts";
import { createLogger } from "../observe/log.ts";
import { RouterController, type ControllerPorts } from "./controller.ts";
import type { RouterWithStatus } from "./reconcile.ts";
import { loadKubeConfig, applyStatus, mergePatch, EventRecorder } from "../kube/client.ts";
import { SupervisedInformer } from "../kube/informer.ts";
import { WorkQueue } from "../kube/work-queue.ts";
import { LeaderElector } from "../kube/leader-election.ts";
import { parseAgentSettings, type AgentSettings } from "../install/agent-settings.ts";
import { agentDaemonSet } from "../install/agent-daemonset.ts";

export const FIELD_MANAGER = "vipkeeper-controller";
const ROUTERS = { group: GROUP, version: VERSION, plural: "virtualrouters" };

export async function runControllerProcess(args: ControllerArgs): Promise<number> {
  const log = createLogger("controller", { identity: args.identity });
  const kc = loadKubeConfig(args.kubeconfig);
  const settings: AgentSettings = parseAgentSettings(
    args.agentConfig ? readFileSync(args.agentConfig, "utf8") : "{}",
  );
  const image = settings.image ?? process.env.VIPKEEPER_IMAGE;
  if (args.manageAgents && !image) {
    process.stderr.write(
      "vipkeeper controller: no agent image: set image in --agent-config or VIPKEEPER_IMAGE\n",
    );
    return 2;
  }

  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const routers = new SupervisedInformer<RouterWithStatus>(kc, {
    path: `/apis/${GROUP}/${VERSION}/virtualrouters`,
    list: () => custom.listClusterCustomObject({ ...ROUTERS }),
    log,
  });
  const nodes = new SupervisedInformer<V1Node>(kc, {
    path: "/api/v1/nodes",
    list: () => core.listNode(),
    log,
  });
  const leases = new SupervisedInformer<V1Lease>(kc, {
    path: `/apis/coordination.k8s.io/v1/namespaces/${args.namespace}/leases`,
    list: () =>
      coordination.listNamespacedLease({ namespace: args.namespace, labelSelector: AGENT_LEASE_LABEL }),
    labelSelector: AGENT_LEASE_LABEL,
    log,
  });
  const events = new EventRecorder(kc, { component: "vipkeeper-controller", log });
  const apps = kc.makeApiClient(AppsV1Api);

  const ports: ControllerPorts = {
    routers,
    nodes,
    leases,
    now: () => Date.now(),
    writeStatus: (name, status) =>
      applyStatus(
        kc,
        { ...ROUTERS, name },
        { apiVersion: `${GROUP}/${VERSION}`, kind: "VirtualRouter", metadata: { name }, status },
        FIELD_MANAGER,
        true,
      ),
    setFinalizers: (router, finalizers) =>
      mergePatch(
        kc,
        { ...ROUTERS, name: router.metadata.name },
        {
          metadata: {
            finalizers,
            resourceVersion: (router.metadata as { resourceVersion?: string }).resourceVersion,
          },
        },
      ),
    event: (router, type, reason, message) =>
      events.record(
        {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "VirtualRouter",
          name: router.metadata.name,
          uid: router.metadata.uid,
        },
        type,
        reason,
        message,
      ),
    applyAgents: async (nodeNames) => {
      if (!args.manageAgents) return;
      const ds = agentDaemonSet({ settings, namespace: args.namespace, image: image!, nodeNames });
      await apps.patchNamespacedDaemonSet(
        {
          name: ds.metadata!.name!,
          namespace: args.namespace,
          body: ds,
          fieldManager: FIELD_MANAGER,
          force: true,
        },
        // Server-side apply: the controller owns the DaemonSet's fields, nothing else's.
        setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply),
      );
    },
  };
  const controller = new RouterController(ports, log);
  const queue = new WorkQueue<string>({ log });
  routers.on("change", (r) => controller.invalidate(queue, r?.metadata.name));
  nodes.on("change", () => controller.invalidate(queue));
  leases.on("change", (l) => l && controller.leaseChanged(queue, l));

  let ready = false;
  const health = args.healthAddress ? serveHealth(args.healthAddress, () => ready) : undefined;
  await Promise.all([routers.start(), nodes.start(), leases.start()]);
  ready = true;

  const lead = () => {
    log.info("leading: reconciling");
    controller.invalidate(queue);
    void queue.run(4, (key) => controller.reconcile(key, queue));
  };
  let elector: LeaderElector | undefined;
  const stopped = new Promise<number>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, "stopping");
      resolve(0);
    };
    process.once("SIGTERM", () => stop("SIGTERM"));
    process.once("SIGINT", () => stop("SIGINT"));
    if (args.leaderElect) {
      elector = new LeaderElector(coordination, {
        namespace: args.namespace,
        name: "vipkeeper-controller",
        identity: args.identity,
        log,
        onStartedLeading: lead,
        // Lost the Lease: exit and let the Deployment restart us as a follower (client-go's rule).
        onStoppedLeading: () => {
          log.error("lost leadership; exiting");
          resolve(1);
        },
      });
      void elector.run();
    } else lead();
  });
  const code = await stopped;
  queue.shutDown();
  await elector?.stop();
  for (const i of [routers, nodes, leases]) i.stop();
  health?.close();
  return code;
}

function serveHealth(address: string, ready: () => boolean) {
  const i = address.lastIndexOf(":");
  const server = createServer((req, res) => {
    if (req.url === "/healthz") res.writeHead(200).end("ok\n");
    else if (req.url === "/readyz")
      res.writeHead(ready() ? 200 : 503).end(ready() ? "ok\n" : "caches not synced\n");
    else res.writeHead(404).end();
  });
  server.listen(Number(address.slice(i + 1)), address.slice(0, i).replace(/^\[|\]$/g, "") || "0.0.0.0");
  return server;
}
