// What the cluster agent last knew, kept on the node: an agent that starts while the API server is
// unreachable (a node rebooted during an outage) runs the routers of its last plan from it, as
// keepalived runs from its file, and goes back to the live caches once they have synced.
//
// The snapshot holds what the agent's ClusterView answers, reduced to what planning reads: routers
// and VirtualServers without the agents' status (only the controller's VRID and preferred master),
// the Secrets' keys that routers name, and the tracked objects' last health. It is written
// atomically, readable by root only (it may hold VRRPv2 passwords, as keepalived.conf does), and
// only when it changed.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "pino";
import type { VirtualServer } from "../api/virtual-server.ts";
import type { ClusterNode, RouterObject } from "../cluster/routers.ts";
import type { ClusterView } from "./cluster-agent.ts";
import { podsKey } from "../plan/tracked-names.ts";

export interface ViewSnapshot {
  version: 1;
  savedAt: string;
  routers: RouterObject[];
  nodes: ClusterNode[];
  /** Secret name -> key -> value, for the keys routers name. */
  secrets: Record<string, Record<string, string>>;
  virtualServers: VirtualServer[];
  /** Namespace -> labels, for the namespaces of the VirtualServers. */
  namespaces: Record<string, Record<string, string>>;
  /** "namespace/service" -> ready endpoint on this node, for tracked Services. */
  endpoints: Record<string, boolean>;
  /** podsKey -> ready pods on this node, for tracked pods. */
  pods: Record<string, number>;
}

/**
 * A router as planning reads it: of its status only the controller's share (vrid, preferredMaster),
 * none of the agents' entries; no resourceVersion (every status write moves it).
 */
export function plannedRouter(r: RouterObject): RouterObject {
  const { status, ...rest } = r;
  const { resourceVersion: _rv, ...metadata } = rest.metadata as RouterObject["metadata"] & {
    resourceVersion?: string;
  };
  const kept = {
    ...(status?.vrid !== undefined ? { vrid: status.vrid } : {}),
    ...(status?.preferredMaster !== undefined ? { preferredMaster: status.preferredMaster } : {}),
  };
  return { ...rest, metadata, ...(Object.keys(kept).length ? { status: kept } : {}) };
}

/** A VirtualServer as planning reads it: no status (the masters write it), no resourceVersion. */
export function plannedVirtualServer(vs: VirtualServer): VirtualServer {
  const { status: _status, ...rest } = vs as VirtualServer & { status?: unknown };
  const { resourceVersion: _rv, ...metadata } = rest.metadata as VirtualServer["metadata"] & {
    resourceVersion?: string;
  };
  return { ...rest, metadata };
}

/** The snapshot of a view: what planning reads, without the status the agents write. */
export function snapshotOf(view: ClusterView, now: Date): ViewSnapshot {
  const routers = view.routers().map(plannedRouter);
  const snap: ViewSnapshot = {
    version: 1,
    savedAt: now.toISOString(),
    routers,
    nodes: [...view.nodes()],
    secrets: {},
    virtualServers: view.virtualServers().map(plannedVirtualServer),
    namespaces: {},
    endpoints: {},
    pods: {},
  };
  for (const r of routers) {
    const ref = r.spec.authentication?.secretRef;
    if (ref) {
      const value = view.secret(ref.name, ref.key);
      if (value !== undefined) (snap.secrets[ref.name] ??= {})[ref.key] = value;
    }
    for (const t of r.spec.track?.endpoints ?? [])
      snap.endpoints[`${t.namespace}/${t.service}`] = view.endpointsReady(t.namespace, t.service);
    for (const t of r.spec.track?.pods ?? [])
      snap.pods[podsKey(t)] = view.readyPods(t.namespace, t.matchLabels);
  }
  for (const vs of snap.virtualServers) {
    const ns = vs.metadata.namespace ?? "default";
    const labels = view.namespaceLabels(ns);
    if (labels) snap.namespaces[ns] = { ...labels };
  }
  return snap;
}

/** A view that answers from a snapshot (what is not in it counts as absent, failed or unknown). */
export function viewOf(s: ViewSnapshot): ClusterView {
  return {
    routers: () => s.routers,
    nodes: () => s.nodes,
    secret: (name, key) => s.secrets[name]?.[key],
    virtualServers: () => s.virtualServers,
    namespaceLabels: (ns) => s.namespaces[ns],
    endpointsReady: (namespace, service) => s.endpoints[`${namespace}/${service}`] ?? false,
    readyPods: (namespace, matchLabels) => s.pods[podsKey({ namespace, matchLabels })] ?? 0,
  };
}

/** The snapshot's file: read once at start, written when what it holds changed. */
export class ViewStore {
  private readonly path: string;
  private readonly log: Logger;
  private last = "";

  constructor(path: string, log: Logger) {
    this.path = path;
    this.log = log;
  }

  /** The saved snapshot, or undefined (none, or unreadable: said in the log). */
  load(): ViewSnapshot | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch {
      return undefined;
    }
    try {
      const s = JSON.parse(text) as ViewSnapshot;
      if (s.version !== 1 || !Array.isArray(s.routers) || !Array.isArray(s.nodes))
        throw new Error("not a version 1 snapshot");
      return s;
    } catch (err) {
      this.log.warn(
        { path: this.path, err: (err as Error).message },
        "saved cluster view unreadable; ignored",
      );
      return undefined;
    }
  }

  save(s: ViewSnapshot): void {
    const body = JSON.stringify({ ...s, savedAt: "" });
    if (body === this.last) return;
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
      const tmp = `${this.path}.tmp`;
      writeFileSync(tmp, JSON.stringify(s), { mode: 0o600 });
      renameSync(tmp, this.path);
      this.last = body;
    } catch (err) {
      this.log.warn({ path: this.path, err: (err as Error).message }, "cluster view not saved");
    }
  }
}
