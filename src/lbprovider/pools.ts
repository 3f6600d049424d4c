// IPPool objects to the provider's pools: ranges, who may draw from them (label selectors on the
// Service and its namespace), and the template of the VirtualRouters that announce them.
import { poolRanges, type IPPoolSpec } from "../api/ip-pool.ts";
import type { ProviderPool } from "./provider.ts";

type Selector = IPPoolSpec["serviceSelector"];

/** metav1.LabelSelector semantics: all of matchLabels and matchExpressions; empty selects all. */
export function selects(selector: Selector, labels: Readonly<Record<string, string>> = {}): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const v = labels[e.key];
    const values = e.values ?? [];
    const ok =
      e.operator === "In"
        ? v !== undefined && values.includes(v)
        : e.operator === "NotIn"
          ? v === undefined || !values.includes(v)
          : e.operator === "Exists"
            ? v !== undefined
            : v === undefined;
    if (!ok) return false;
  }
  return true;
}

export interface PoolObject {
  metadata: { name: string; deletionTimestamp?: string };
  spec: IPPoolSpec;
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
