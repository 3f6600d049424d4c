// IPPool objects to the provider's pools: ranges, who may draw from them (label selectors on the
// Service and its namespace), and the template of the VirtualRouters that announce them.
import { poolRanges, type IPPoolSpec } from "../api/ip-pool.ts";
import type { IPPoolStatus } from "../api/status.ts";
import { selects } from "../api/label-selector.ts";
import type { ProviderPool } from "./provider.ts";

export interface PoolObject {
  metadata: { name: string; deletionTimestamp?: string; generation?: number };
  spec: IPPoolSpec;
  status?: Pick<IPPoolStatus, "conditions">;
}

export function providerPool(
  obj: PoolObject,
  namespaceLabels: (namespace: string) => Readonly<Record<string, string>> | undefined,
): ProviderPool {
  const { spec } = obj;
  const a = spec.announce ?? {};
  return {
    pool: {
      name: obj.metadata.name,
      ranges: poolRanges(spec),
      autoAssign: spec.autoAssign ?? true,
      avoidBuggyIPs: spec.avoidBuggyIPs ?? false,
      crossNamespaceSharing: spec.crossNamespaceSharing ?? true,
      allows: (svc) =>
        selects(spec.serviceSelector, svc.labels) &&
        selects(spec.namespaceSelector, namespaceLabels(svc.key.split("/")[0]!)),
    },
    announce: {
      pool: obj.metadata.name,
      routers: a.routers ?? 2,
      template: {
        ...(a.nodeSelector ? { nodeSelector: a.nodeSelector } : {}),
        ...(a.interface ? { interface: a.interface } : {}),
        ...(a.version ? { version: a.version } : {}),
        ...(a.advertInterval ? { advertInterval: a.advertInterval } : {}),
        ...(a.preempt !== undefined ? { preempt: a.preempt } : {}),
        ...(a.preemptDelay ? { preemptDelay: a.preemptDelay } : {}),
        ...(a.track ? { track: a.track } : {}),
        ...(a.unicast ? { unicast: {} } : {}),
        garp: { refresh: a.garpRefresh ?? "10s" },
      },
    },
  };
}
