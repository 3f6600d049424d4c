// `vipkeeper agent --cluster`: caches of the routers, the Nodes and the Secrets of the agent's
// namespace feed the ClusterAgent; this node's Lease says the agent is alive; status entries go
// out by server-side apply under this node's own field manager.
// The API through kube/rest.ts: client-node would cost this process ~65 MB (BENCHMARKS.md).
import type { V1EndpointSlice, V1Namespace, V1Node, V1Pod, V1Secret } from "@kubernetes/client-node";
import { GROUP, VERSION } from "../api/virtual-router.ts";
import { toClusterNode, type RouterObject } from "../cluster/routers.ts";
import type { VirtualServer } from "../api/virtual-server.ts";
import { applyStatus, EventRecorder } from "../kube/client.ts";
import { onChangeOf, SupervisedInformer } from "../kube/informer.ts";
import { LeaseApi } from "../kube/leases.ts";
import { loadRestClient } from "../kube/rest.ts";
import { RtNetlink } from "../net/rtnetlink.ts";
import { createLogger } from "../observe/log.ts";
import { keepAgentLease } from "./agent-lease.ts";
import { ClusterAgent, type ClusterView } from "./cluster-agent.ts";
import { AgentMetrics } from "../agent/agent-metrics.ts";
import { serveStatus } from "../agent/status-server.ts";
import type { HostAddress } from "./cluster-plan.ts";
import type { EngineArgs } from "../engine/engine-process.ts";
import { startEngine } from "../agent/engines.ts";
import { RouterGone, StatusWriter } from "./status-writer.ts";
import { applyVirtualServerStatus, VirtualServerStatusWriter } from "./vs-status-writer.ts";
import { plannedRouter, plannedVirtualServer, snapshotOf, viewOf, ViewStore } from "./saved-view.ts";
import { join } from "node:path";

export interface ClusterAgentArgs {
  node: string;
  namespace: string;
  kubeconfig?: string;
  allowScripts: boolean;
  engineArgs: EngineArgs;
  /** HOST:PORT for /metrics. */
  metricsAddress?: string;
  /** A UNIX socket serving the routers' state and counters as JSON (as in file mode). */
  statusSocket?: string;
  lbBackend?: "auto" | "ipvs" | "nftables";
  /** Where the last cluster view is kept (saved-view.ts). */
  stateDir: string;
}

/** How long changes from the API gather before a pass over the routers. */
const SYNC_DELAY_MS = 100;

/** How long a starting agent waits for the API server before it runs its saved plan. */
const SAVED_PLAN_AFTER_MS = 5000;

export async function runClusterAgent(args: ClusterAgentArgs): Promise<number> {
  const log = createLogger("agent", { node: args.node });
  const rest = await loadRestClient(args.kubeconfig);
  const routers = new SupervisedInformer<RouterObject>(rest, {
    path: `/apis/${GROUP}/${VERSION}/virtualrouters`,
    log,
  });
  const nodes = new SupervisedInformer<V1Node>(rest, { path: "/api/v1/nodes", log });
  // VRRP passwords live in the agent's own namespace: the agent reads no other Secrets.
  const secrets = new SupervisedInformer<V1Secret>(rest, {
    path: `/api/v1/namespaces/${args.namespace}/secrets`,
    log,
  });
  // Services' endpoints, for routers that track them (externalTrafficPolicy: Local).
  const slices = new SupervisedInformer<V1EndpointSlice>(rest, {
    path: "/apis/discovery.k8s.io/v1/endpointslices",
    log,
  });
  const virtualServers = new SupervisedInformer<VirtualServer>(rest, {
    path: `/apis/${GROUP}/${VERSION}/virtualservers`,
    log,
  });
  // Pods on this node only, for routers that track them.
  const pods = new SupervisedInformer<V1Pod>(rest, {
    path: "/api/v1/pods",
    fieldSelector: `spec.nodeName=${args.node}`,
    log,
  });
  // Namespaces' labels: a router grants VirtualServers to namespaces by label selector.
  const namespaces = new SupervisedInformer<V1Namespace>(rest, { path: "/api/v1/namespaces", log });
  const manager = `vipkeeper-agent/${args.node}`;
  const events = new EventRecorder(rest, { component: "vipkeeper-agent", host: args.node, log });
  const status = new StatusWriter(async (router, entry) => {
    try {
      await applyStatus(
        rest,
        { group: GROUP, version: VERSION, plural: "virtualrouters", name: router },
        {
          apiVersion: `${GROUP}/${VERSION}`,
          kind: "VirtualRouter",
          metadata: { name: router },
          status: { nodes: [entry] },
        },
        manager,
        true,
      );
    } catch (err) {
      if ((err as { code?: number }).code === 404) throw new RouterGone(router);
      throw err;
    }
  }, log);
  // VirtualServers' status: written by the master of their router, under one field manager for all
  // agents (forced), so a new master takes the fields over.
  const vsStatus = new VirtualServerStatusWriter({
    log,
    virtualServers: () => virtualServers.list(),
    apply: applyVirtualServerStatus(rest, "vipkeeper-agent"),
  });
  const liveView: ClusterView = {
    routers: () => routers.list(),
    nodes: () => nodes.list().map(toClusterNode),
    secret: (name, key) => {
      const s = secrets.list().find((x) => x.metadata?.name === name);
      const data = s?.data?.[key];
      return data === undefined ? undefined : Buffer.from(data, "base64").toString("utf8");
    },
    virtualServers: () => virtualServers.list(),
    namespaceLabels: (name) => {
      const ns = namespaces.list().find((n) => n.metadata?.name === name);
      return ns ? (ns.metadata?.labels ?? {}) : undefined;
    },
    readyPods: (namespace, matchLabels) =>
      pods
        .list()
        .filter(
          (p) =>
            p.metadata?.namespace === namespace &&
            !p.metadata.deletionTimestamp &&
            Object.entries(matchLabels).every(([k, v]) => p.metadata?.labels?.[k] === v) &&
            p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
        ).length,
    endpointsReady: (namespace, service) =>
      slices
        .list()
        .some(
          (s) =>
            s.metadata?.namespace === namespace &&
            s.metadata.labels?.["kubernetes.io/service-name"] === service &&
            (s.endpoints ?? []).some((e) => e.nodeName === args.node && e.conditions?.ready !== false),
        ),
  };
  // Until the live caches have synced, an agent that could not reach the API server at start runs
  // from the view it saved last (its last plan), so VRRP needs no API server even after a reboot.
  const store = new ViewStore(join(args.stateDir, `cluster-view-${args.node}.json`), log);
  let current = liveView;
  const view: ClusterView = {
    routers: () => current.routers(),
    nodes: () => current.nodes(),
    secret: (name, key) => current.secret(name, key),
    virtualServers: () => current.virtualServers(),
    namespaceLabels: (ns) => current.namespaceLabels(ns),
    endpointsReady: (ns, service) => current.endpointsReady(ns, service),
    readyPods: (ns, labels) => current.readyPods(ns, labels),
  };
  const nl = new RtNetlink();
  const links = new Map<number, string>();
  // Engines report to the metrics as soon as they run; the metrics read the agent's engines.
  const engines = { of: () => new Map() as ReturnType<ClusterAgent["engines"]> };
  const metrics = new AgentMetrics(() => engines.of(), { node: args.node });
  const agent = new ClusterAgent({
    node: args.node,
    log,
    status,
    allowScripts: args.allowScripts,
    engineArgs: args.engineArgs,
    startEngine,
    onEngineMessage: (engine, msg) => metrics.onMessage(engine, msg),
    virtualServerStatus: vsStatus,
    startLoadBalancer: async (objects, deviceOf, onHealth) => {
      const { startNodeLoadBalancer } = await import("../agent/load-balancer.ts");
      const { realServerEvent } = await import("../observe/real-server-notifier.ts");
      const { lb } = await startNodeLoadBalancer({
        node: args.node,
        log,
        routers: [],
        virtualServers: objects,
        registry: metrics.metrics.registry,
        ...(args.lbBackend ? { backend: args.lbBackend } : {}),
        deviceOf,
        // The checks' health changes also feed the VirtualServers' status, and an Event on the
        // VirtualServer from the master of its router only (every node checks; one Event per
        // change, the view of the director that carries the traffic).
        onChange: (job, healthy, last) => {
          onHealth(job.service, job.server, healthy);
          const vs = vsStatus.masterObject(job.service);
          if (!vs) return;
          const uid = (vs.metadata as { uid?: string }).uid;
          const e = realServerEvent(args.node, {
            service: job.service,
            server: job.server,
            healthy,
            detail: last.detail,
          });
          events.record(
            {
              apiVersion: `${GROUP}/${VERSION}`,
              kind: "VirtualServer",
              name: vs.metadata.name,
              namespace: vs.metadata.namespace ?? "default",
              ...(uid ? { uid } : {}),
            },
            e.type,
            e.reason,
            e.message,
          );
        },
      });
      return lb;
    },
    // An Event per change of this node's state, on the router (kubectl describe vr shows them).
    onTransition: (router, from, to) =>
      events.record(
        { apiVersion: `${GROUP}/${VERSION}`, kind: "VirtualRouter", name: router },
        to.state === "Fault" ? "Warning" : "Normal",
        to.state,
        `${args.node}: ${from ?? "Init"} -> ${to.state}${to.message ? ` (${to.message})` : ""}`,
      ),
    view,
    hostAddresses: async () => {
      for (const l of await nl.links()) links.set(l.ifindex, l.name);
      return (await nl.addresses()).map((a): HostAddress => ({
        interfaceName: links.get(a.ifindex) ?? "",
        family: a.family,
        address: a.address,
        prefixLength: a.prefixLength,
      }));
    },
  });

  engines.of = () => agent.engines();
  // One metrics endpoint for all the engines, answered from their snapshots.
  const metricsServer = args.metricsAddress ? await metrics.serve(args.metricsAddress) : undefined;
  const statusServer = args.statusSocket
    ? await serveStatus(args.statusSocket, async () => ({ node: args.node, ...(await metrics.status()) }))
    : undefined;
  const sync = () =>
    agent.sync().then(() => {
      if (current === liveView) store.save(snapshotOf(liveView, new Date()));
    });
  // Changes from the API start a pass a moment later, so a burst is one pass: routers starting get
  // their VRIDs from the controller one write at a time (255 writes in a few seconds, each a pass
  // over every router otherwise: ~230 passes and 1.4 GB allocated at start, BENCHMARKS.md).
  let later: NodeJS.Timeout | undefined;
  const syncSoon = () =>
    (later ??= setTimeout(() => {
      later = undefined;
      void sync();
    }, SYNC_DELAY_MS));
  const informers = [routers, nodes, secrets, slices, pods, virtualServers, namespaces];
  // The Lease is renewed every 5 s whatever happens: once it goes through again after an outage,
  // pending status goes out at once rather than at the writers' next retry.
  const lease = keepAgentLease(new LeaseApi(rest), args.namespace, args.node, log, 5000, () => {
    status.retryNow();
    vsStatus.retryNow();
  });
  const synced = Promise.all(informers.map((i) => i.start()));
  const saved = store.load();
  if (saved) {
    const first = await Promise.race([
      synced.then(() => "synced" as const),
      new Promise<"late">((r) => setTimeout(() => r("late"), SAVED_PLAN_AFTER_MS).unref()),
    ]);
    if (first === "late") {
      log.warn(
        { savedAt: saved.savedAt, routers: saved.routers.map((r) => r.metadata.name) },
        "API server not reachable: running the routers of the saved plan until it is",
      );
      current = viewOf(saved);
      await sync();
    }
  }
  await synced;
  if (current !== liveView) log.info("API server reachable: back to the live cluster view");
  current = liveView;
  // Routers, VirtualServers and Nodes start a pass only when what planning reads of them changed:
  // every status write (this agent's, the other agents', the controller's; 255 routers starting
  // make a burst of them) and every kubelet heartbeat is a MODIFIED event, and a pass over 255
  // routers allocates megabytes, which the heap kept after the start-up burst.
  onChangeOf(routers, plannedRouter, syncSoon);
  onChangeOf(virtualServers, plannedVirtualServer, syncSoon);
  onChangeOf(nodes, toClusterNode, syncSoon);
  for (const i of [secrets, slices, pods, namespaces]) i.on("change", syncSoon);
  await sync();
  log.info("agent started (cluster mode)");
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
  });
  log.info("stopping: resigning every router");
  clearTimeout(later);
  lease.stop();
  for (const i of informers) i.stop();
  await agent.stop();
  status.stop();
  vsStatus.stop();
  metricsServer?.close();
  statusServer?.close();
  nl.close();
  rest.close();
  log.info("agent stopped");
  return 0;
}
