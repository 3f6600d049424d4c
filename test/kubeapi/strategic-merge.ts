// Strategic merge patch, for the built-in kinds the test server holds. Maps merge as in a JSON merge
// patch (null deletes); a list whose field the Kubernetes API types declare `patchStrategy:"merge"`
// merges its elements by their `patchMergeKey` (a list of scalars by value); every other list is
// replaced. `$patch: delete` on a keyed element removes it, `$patch: replace` on a map replaces it;
// other `$` directives (kubectl's `$setElementOrder/...`) are read as no change.
type Json = unknown;
type Obj = Record<string, Json>;

/** The merge keys of a pod spec's lists and its containers' lists (k8s.io/api/core/v1 types). */
function podSpec(prefix: string): Record<string, string> {
  const keys: Record<string, string> = {};
  for (const list of ["containers", "initContainers", "ephemeralContainers"]) {
    keys[`${prefix}.${list}`] = "name";
    keys[`${prefix}.${list}.env`] = "name";
    keys[`${prefix}.${list}.ports`] = "containerPort";
    keys[`${prefix}.${list}.volumeMounts`] = "mountPath";
    keys[`${prefix}.${list}.volumeDevices`] = "devicePath";
  }
  keys[`${prefix}.volumes`] = "name";
  keys[`${prefix}.imagePullSecrets`] = "name";
  return keys;
}

/** Fields merged by key, per kind; "" merges a list of scalars by value. */
const MERGE_KEYS: Record<string, Record<string, string>> = {
  "*": { "metadata.ownerReferences": "uid", "metadata.finalizers": "" },
  Node: { "status.conditions": "type", "status.addresses": "type" },
  Pod: { ...podSpec("spec"), "status.conditions": "type" },
  Service: { "spec.ports": "port" },
  Deployment: { ...podSpec("spec.template.spec"), "status.conditions": "type" },
  DaemonSet: { ...podSpec("spec.template.spec"), "status.conditions": "type" },
  Namespace: { "status.conditions": "type" },
};

function mergeKey(kind: string, path: string[]): string | undefined {
  const p = path.join(".");
  return MERGE_KEYS[kind]?.[p] ?? MERGE_KEYS["*"]![p];
}

const isObj = (v: Json): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** The patched object; undefined when the patch deletes it. */
export function strategicMergePatch(kind: string, target: Json, patch: Json, path: string[] = []): Json {
  if (!isObj(patch)) return structuredClone(patch);
  if (patch.$patch === "delete") return undefined;
  if (patch.$patch === "replace") {
    const { $patch: _, ...rest } = patch;
    return structuredClone(rest);
  }
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith("$")) continue;
    if (v === null) {
      delete out[k];
      continue;
    }
    const at = [...path, k];
    if (Array.isArray(v)) {
      const key = mergeKey(kind, at);
      const cur = Array.isArray(out[k]) ? (out[k] as Json[]) : [];
      if (key === undefined) out[k] = structuredClone(v);
      else if (key === "") out[k] = [...cur, ...v.filter((x) => !cur.includes(x))];
      else out[k] = mergeList(kind, cur, v, key, at);
      continue;
    }
    const next = strategicMergePatch(kind, out[k], v, at);
    if (next === undefined) delete out[k];
    else out[k] = next;
  }
  return out;
}

function mergeList(kind: string, cur: Json[], patch: Json[], key: string, path: string[]): Json[] {
  const out = [...cur];
  for (const element of patch) {
    if (!isObj(element)) continue;
    const at = out.findIndex((e) => isObj(e) && e[key] === element[key]);
    const next = strategicMergePatch(kind, at >= 0 ? out[at] : {}, element, path);
    if (next === undefined) {
      if (at >= 0) out.splice(at, 1);
    } else if (at >= 0) out[at] = next;
    else out.push(next);
  }
  return out;
}
