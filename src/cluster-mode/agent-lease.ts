// The agent's heartbeat: a coordination.k8s.io Lease per node, renewed every few seconds, as the
// kubelet's node lease is. The controller tells a live agent's stale status entry ("Master" from an
// agent that was killed) from a real claim by it. One small write per period, never per advert.
import type { V1Lease } from "@kubernetes/client-node";
import { microTime, type Leases } from "../kube/leases.ts";
import type { Logger } from "pino";
import { AGENT_LEASE_LABEL, AGENT_LEASE_SECONDS } from "../cluster/agent-lease.ts";

export function agentLeaseName(node: string): string {
  // Lease names are DNS subdomains; node names are too, so the prefix keeps them valid (253 max).
  return `vipkeeper-agent-${node}`.slice(0, 253);
}

export function agentLease(node: string, namespace: string, now: Date): V1Lease {
  return {
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: { name: agentLeaseName(node), namespace, labels: { [AGENT_LEASE_LABEL]: "true" } },
    spec: {
      holderIdentity: node,
      leaseDurationSeconds: AGENT_LEASE_SECONDS,
      renewTime: microTime(now),
    },
  };
}

export function keepAgentLease(
  api: Leases,
  namespace: string,
  node: string,
  log: Logger,
  periodMs = 5000,
  /** Called when a renewal succeeds after failing: the API server is back. */
  onRecovered: () => void = () => {},
): { stop(): void } {
  const name = agentLeaseName(node);
  let stopped = false;
  let failing = false;
  let timer: NodeJS.Timeout | undefined;
  // The lease as last written: a renewal is one conditional update, as a kubelet renews its node
  // lease; after a conflict or an error, the next write reads first.
  let last: V1Lease | undefined;
  const write = async () => {
    const body = agentLease(node, namespace, new Date());
    if (!last) {
      last = await api.readNamespacedLease({ name, namespace }).catch((err: { code?: number }) => {
        if (err.code === 404) return undefined;
        throw err;
      });
      if (!last) {
        last = await api.createNamespacedLease({ namespace, body });
        return;
      }
    }
    body.metadata!.resourceVersion = last.metadata?.resourceVersion;
    try {
      last = await api.replaceNamespacedLease({ name, namespace, body });
    } catch (err) {
      last = undefined;
      throw err;
    }
  };
  const renew = async () => {
    try {
      // A conflict (someone else wrote it: an admin, a restarted agent) or a deleted lease is
      // retried at once, read or created.
      await write().catch((err: { code?: number }) => {
        if (err.code === 409 || err.code === 404) return write();
        throw err;
      });
      if (failing) {
        failing = false;
        log.info({ lease: name }, "agent lease renewed again: the API server is back");
        onRecovered();
      }
    } catch (err) {
      failing = true;
      log.warn({ lease: name, err: (err as Error).message }, "agent lease not renewed; will retry");
    }
    if (!stopped) timer = setTimeout(() => void renew(), periodMs);
  };
  void renew();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
