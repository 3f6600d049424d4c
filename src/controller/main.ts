// The controller process: leader election, caches of routers, Nodes and agent Leases, a work queue
// of router names, and the writes (status by server-side apply, finalizers by merge patch, Events,
// the agents' DaemonSet). Only the leader reconciles; every replica keeps its caches warm.
import { readFileSync } from "node:fs";
import { listen } from "../observe/http-endpoint.ts";
import type { V1EndpointSlice, V1Lease, V1Namespace, V1Node, V1Service } from "@kubernetes/client-node";
import { GROUP, VERSION } from "../api/virtual-router.ts";
import { AGENT_LEASE_LABEL } from "../cluster/agent-lease.ts";
import { createLogger } from "../observe/log.ts";
import { RouterController, type ControllerPorts } from "./controller.ts";
import type { RouterWithStatus } from "./reconcile.ts";
import { applyObject, applyStatus, mergePatch, EventRecorder, objectPath } from "../kube/client.ts";
import { LeaseApi } from "../kube/leases.ts";
import { loadRestClient } from "../kube/rest.ts";
import type { PoolObject } from "../lbprovider/pools.ts";
import { endpointNodes } from "../lbprovider/services.ts";
import { LbProviderLoop } from "./lb-loop.ts";
import { ControllerMetrics } from "./metrics.ts";
import { SupervisedInformer } from "../kube/informer.ts";
import { WorkQueue } from "../kube/work-queue.ts";
import { LeaderElector } from "../kube/leader-election.ts";
import { parseAgentSettings, type AgentSettings } from "../install/agent-settings.ts";
import { agentDaemonSet } from "../install/agent-daemonset.ts";

/** What `vipkeeper controller` was given (cli/controller.ts parses the command line). */
export interface ControllerArgs {
  namespace: string;
  agentConfig?: string;
  kubeconfig?: string;
  metricsAddress?: string;
  healthAddress?: string;
  leaderElect: boolean;
  manageAgents: boolean;
  lbProvider: boolean;
  /** Serve LoadBalancer Services with no class too (vipkeeper as the cluster's default provider). */
  defaultLbClass: boolean;
  identity: string;
}

export const FIELD_MANAGER = "vipkeeper-controller";
const LB_FIELD_MANAGER = "vipkeeper-lb-provider";
/** The queue key of the LoadBalancer provider's pass (one pass covers every Service). */
const LB_KEY = "\0lb";
const ROUTERS = { group: GROUP, version: VERSION, plural: "virtualrouters" };

export async function runControllerProcess(args: ControllerArgs): Promise<number> {
  const log = createLogger("controller", { identity: args.identity });
  // No bound on requests in flight: its reconcile workers' writes must not queue behind a cold
  // start's Events (with 32, 1,000 routers on a real kube-apiserver took 24 s against 14 s).
  const rest = await loadRestClient(args.kubeconfig, { maxInFlight: Infinity });
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

  const routers = new SupervisedInformer<RouterWithStatus>(rest, {
    path: `/apis/${GROUP}/${VERSION}/virtualrouters`,
    log,
  });
  const nodes = new SupervisedInformer<V1Node>(rest, { path: "/api/v1/nodes", log });
  const leases = new SupervisedInformer<V1Lease>(rest, {
    path: `/apis/coordination.k8s.io/v1/namespaces/${args.namespace}/leases`,
    labelSelector: AGENT_LEASE_LABEL,
    log,
  });
  const events = new EventRecorder(rest, { component: "vipkeeper-controller", log });

  const ports: ControllerPorts = {
    routers,
    nodes,
    leases,
    now: () => Date.now(),
    writeStatus: (name, status) =>
      applyStatus(
        rest,
        { ...ROUTERS, name },
        { apiVersion: `${GROUP}/${VERSION}`, kind: "VirtualRouter", metadata: { name }, status },
        FIELD_MANAGER,
        true,
      ),
    setFinalizers: (router, finalizers) =>
      mergePatch(
        rest,
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
      // Server-side apply: the controller owns the DaemonSet's fields, nothing else's.
      await applyObject(
        rest,
        {
          group: "apps",
          version: "v1",
          plural: "daemonsets",
          namespace: args.namespace,
          name: ds.metadata!.name!,
        },
        ds,
        FIELD_MANAGER,
      );
    },
  };
  const controller = new RouterController(ports, log);
  const queue = new WorkQueue<string>({ log });
  routers.on("change", (r) => {
    controller.routerChanged(queue, r);
    queue.add(LB_KEY);
  });
  nodes.on("change", () => controller.invalidate(queue));
  leases.on("change", (l) => l && controller.leaseChanged(queue, l));
  const informers: { start(): Promise<void>; stop(): void }[] = [routers, nodes, leases];

  // The LoadBalancer provider: Services, IPPools and Namespaces in, addresses and routers out.
  let lb: LbProviderLoop | undefined;
  if (args.lbProvider) {
    const services = new SupervisedInformer<V1Service>(rest, { path: "/api/v1/services", log });
    const pools = new SupervisedInformer<PoolObject>(rest, {
      path: `/apis/${GROUP}/${VERSION}/ippools`,
      log,
    });
    const namespaces = new SupervisedInformer<V1Namespace>(rest, { path: "/api/v1/namespaces", log });
    // EndpointSlices say on which nodes an externalTrafficPolicy: Local Service's endpoints lie
    // (its router is that node set's). They change with every pod's readiness; only a change of a
    // slice's node set is worth a pass.
    const slices = new SupervisedInformer<V1EndpointSlice>(rest, {
      path: "/apis/discovery.k8s.io/v1/endpointslices",
      log,
    });
    const sliceNodes = new Map<string, string>();
    const sliceChanged = (s: V1EndpointSlice, gone: boolean) => {
      const key = `${s.metadata?.namespace}/${s.metadata?.name}`;
      const nodes = gone ? undefined : [...endpointNodes([s]).values()].join();
      if (sliceNodes.get(key) === nodes) return;
      if (nodes === undefined) sliceNodes.delete(key);
      else sliceNodes.set(key, nodes);
      queue.add(LB_KEY);
    };
    slices.on("add", (s) => sliceChanged(s, false));
    slices.on("update", (s) => sliceChanged(s, false));
    slices.on("delete", (s) => sliceChanged(s, true));
    for (const i of [services, pools, namespaces]) i.on("change", () => queue.add(LB_KEY));
    informers.push(services, pools, namespaces, slices);
    lb = new LbProviderLoop(
      {
        services,
        pools,
        namespaces,
        routers,
        slices,
        writeServiceStatus: async (namespace, name, status) => {
          await mergePatch(
            rest,
            { group: "", version: "v1", plural: "services", namespace, name, subresource: "status" },
            { status },
          );
        },
        applyRouter: (router) =>
          applyObject(rest, { ...ROUTERS, name: router.metadata.name }, router, LB_FIELD_MANAGER),
        deleteRouter: async (name) => {
          // Gone already (a pass that ran on a cache still listing it while its finalizer went): done.
          await rest.delete(objectPath({ ...ROUTERS, name })).catch((err: { code?: number }) => {
            if (err.code !== 404) throw err;
          });
        },
        writePoolStatus: (name, status) =>
          applyStatus(
            rest,
            { group: GROUP, version: VERSION, plural: "ippools", name },
            { apiVersion: `${GROUP}/${VERSION}`, kind: "IPPool", metadata: { name }, status },
            LB_FIELD_MANAGER,
            true,
          ),
        event: (svc, type, reason, message) =>
          events.record(
            {
              apiVersion: "v1",
              kind: "Service",
              name: svc.metadata?.name ?? "",
              namespace: svc.metadata?.namespace ?? "default",
              uid: svc.metadata?.uid,
            },
            type,
            reason,
            message,
          ),
      },
      log,
      args.defaultLbClass,
    );
  }
  const metrics = new ControllerMetrics();
  const handle = (key: string) =>
    metrics.timed(key === LB_KEY ? "service" : "router", () =>
      key === LB_KEY ? (lb?.reconcile() ?? Promise.resolve()) : controller.reconcile(key, queue),
    );

  let ready = false;
  const health = args.healthAddress ? await serveHealth(args.healthAddress, () => ready) : undefined;
  const metricsServer = args.metricsAddress ? await metrics.serve(args.metricsAddress) : undefined;
  await Promise.all(informers.map((i) => i.start()));
  ready = true;

  const lead = () => {
    log.info("leading: reconciling");
    metrics.leading(true);
    controller.invalidate(queue);
    queue.add(LB_KEY);
    void queue.run(4, handle);
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
      elector = new LeaderElector(new LeaseApi(rest), {
        namespace: args.namespace,
        name: "vipkeeper-controller",
        identity: args.identity,
        log,
        onStartedLeading: lead,
        // Lost the Lease: exit and let the Deployment restart us as a follower (client-go's rule).
        onStoppedLeading: (why) => {
          metrics.leading(false);
          if (why !== "lost") return;
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
  for (const i of informers) i.stop();
  health?.close();
  metricsServer?.close();
  rest.close();
  return code;
}

function serveHealth(address: string, ready: () => boolean) {
  return listen(address, (req, res) => {
    if (req.url === "/healthz") res.writeHead(200).end("ok\n");
    else if (req.url === "/readyz")
      res.writeHead(ready() ? 200 : 503).end(ready() ? "ok\n" : "caches not synced\n");
    else res.writeHead(404).end();
  });
}
