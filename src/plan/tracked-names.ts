// The names of tracked objects, one place for all who speak of them: the engine's tracked list,
// the cluster agent telling the engine their health, the saved view, and the status (which shows
// "kind/name": status-entry.ts).
import type { InstancePlan } from "./plan.ts";

export function endpointsKey(t: { namespace: string; service: string }): string {
  return `endpoints ${t.namespace}/${t.service}`;
}

export function podsKey(t: { namespace: string; matchLabels: Record<string, string> }): string {
  const sel = Object.entries(t.matchLabels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  return `pods ${t.namespace}/${sel}`;
}

/** The tracked-object name of a router's script (names are per router, as in the API). */
export function scriptKey(router: string, name: string): string {
  return `script ${router}/${name}`;
}

export function interfaceKey(name: string): string {
  return `interface ${name}`;
}

export function fileKey(path: string): string {
  return `file ${path}`;
}

/** Tracked objects only the cluster agent can judge (it watches the API). */
export function clusterTracked(track: InstancePlan["track"]): { name: string; weight: number }[] {
  return [
    ...track.endpoints.map((t) => ({ name: endpointsKey(t), weight: t.weight })),
    ...track.pods.map((t) => ({ name: podsKey(t), weight: t.weight })),
  ];
}
