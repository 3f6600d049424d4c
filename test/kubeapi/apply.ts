// Server-side apply, as the API server does it for the fields our objects have: each manager owns
// the field paths it applied (recorded in managedFields as FieldsV1); applying a value another
// manager owns with a different value is a conflict unless forced; a manager's fields it no longer
// applies are removed unless someone else owns them; lists marked x-kubernetes-list-type: map
// merge entry by entry on their keys (so two managers can each own one entry), other lists are
// atomic.
import type { Schema } from "./schema.ts";
import { ApiError } from "./errors.ts";

type Obj = Record<string, any>;
export type ManagedFields = Obj[];

const SEP = "\u0000";
const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function child(s: Schema | undefined, k: string): Schema | undefined {
  return s?.properties?.[k] ?? (isObject(s?.additionalProperties) ? s.additionalProperties : undefined);
}

function mapKeys(s: Schema | undefined): string[] | undefined {
  return s?.["x-kubernetes-list-type"] === "map" ? s["x-kubernetes-list-map-keys"] : undefined;
}

const entryToken = (item: Obj, keys: string[]) =>
  `k:${JSON.stringify(Object.fromEntries(keys.map((k) => [k, item[k]])))}`;

/** Every leaf path of `v` (tokens f:name and k:{keys}, an entry's own "." marker). */
function paths(v: unknown, s: Schema | undefined, prefix: string[], out: Set<string>): Set<string> {
  if (isObject(v) && Object.keys(v).length > 0) {
    for (const [k, x] of Object.entries(v))
      if (x !== undefined) paths(x, child(s, k), [...prefix, `f:${k}`], out);
    return out;
  }
  const keys = mapKeys(s);
  if (Array.isArray(v) && keys) {
    for (const item of v as Obj[]) {
      const p = [...prefix, entryToken(item, keys)];
      out.add([...p, "."].join(SEP));
      paths(item, s?.items, p, out);
    }
    return out;
  }
  out.add(prefix.join(SEP));
  return out;
}

function valueAt(v: unknown, tokens: string[], s: Schema | undefined): unknown {
  let cur: unknown = v;
  let sch = s;
  for (const t of tokens) {
    if (t === ".") return cur;
    if (t.startsWith("f:")) {
      cur = isObject(cur) ? cur[t.slice(2)] : undefined;
      sch = child(sch, t.slice(2));
    } else {
      const want = JSON.parse(t.slice(2)) as Obj;
      cur = Array.isArray(cur)
        ? cur.find((i: Obj) => Object.entries(want).every(([k, x]) => i?.[k] === x))
        : undefined;
      sch = sch?.items;
    }
  }
  return cur;
}

function removeAt(v: unknown, tokens: string[]): void {
  const [t, ...rest] = tokens;
  if (t === undefined) return;
  const last = rest.length === 0 || (rest.length === 1 && rest[0] === ".");
  if (t.startsWith("f:") && isObject(v)) {
    if (last) delete v[t.slice(2)];
    else {
      removeAt(v[t.slice(2)], rest);
      const c = v[t.slice(2)];
      if (isObject(c) && Object.keys(c).length === 0) delete v[t.slice(2)];
    }
  } else if (t.startsWith("k:") && Array.isArray(v)) {
    const want = JSON.parse(t.slice(2)) as Obj;
    const i = v.findIndex((x: Obj) => Object.entries(want).every(([k, y]) => x?.[k] === y));
    if (i === -1) return;
    if (last) v.splice(i, 1);
    else removeAt(v[i], rest);
  }
}

function merge(cur: unknown, applied: unknown, s: Schema | undefined): unknown {
  if (isObject(cur) && isObject(applied)) {
    const out: Obj = { ...cur };
    for (const [k, v] of Object.entries(applied)) out[k] = merge(cur[k], v, child(s, k));
    return out;
  }
  const keys = mapKeys(s);
  if (keys && Array.isArray(cur) && Array.isArray(applied)) {
    const out = [...cur] as Obj[];
    for (const item of applied as Obj[]) {
      const i = out.findIndex((x) => keys.every((k) => x?.[k] === item[k]));
      if (i === -1) out.push(item);
      else out[i] = merge(out[i], item, s?.items) as Obj;
    }
    return out;
  }
  return structuredClone(applied);
}

/** FieldsV1 JSON from a set of paths. */
function toFieldsV1(set: Set<string>): Obj {
  const root: Obj = {};
  for (const p of set) {
    let cur = root;
    for (const t of p.split(SEP).filter(Boolean)) cur = cur[t] ??= {};
  }
  return root;
}

function fromFieldsV1(f: Obj | undefined, prefix: string[] = [], out = new Set<string>()): Set<string> {
  for (const [t, sub] of Object.entries(f ?? {})) {
    const p = [...prefix, t];
    if (t === "." || Object.keys(sub as Obj).length === 0) out.add(p.join(SEP));
    if (t !== ".") fromFieldsV1(sub as Obj, p, out);
  }
  return out;
}

/**
 * Applies `applied` for `manager` over `current` (both reduced to the fields in scope: the object
 * without status, or status alone), returns the merged object and the new managedFields.
 */
export function applyFields(
  current: Obj,
  applied: Obj,
  managed: ManagedFields,
  manager: string,
  subresource: string,
  force: boolean,
  schema: Schema | undefined,
): { object: Obj; fields: ManagedFields } {
  const owners = new Map<string, Set<string>>();
  for (const m of managed)
    if ((m.subresource ?? "") === subresource)
      owners.set(m.manager as string, fromFieldsV1(m.fieldsV1 as Obj));
  const { apiVersion: _a, kind: _k, ...body } = applied;
  if (isObject(body.metadata))
    body.metadata = Object.fromEntries(Object.entries(body.metadata).filter(([, v]) => v !== undefined));
  const mine = paths(body, schema, [], new Set());
  for (const p of [...mine])
    if (
      p === "f:metadata" ||
      p.startsWith(`f:metadata${SEP}f:name`) ||
      p.startsWith(`f:metadata${SEP}f:namespace`)
    )
      mine.delete(p);
  const conflicts: string[] = [];
  for (const [other, owned] of owners) {
    if (other === manager) continue;
    for (const p of mine) {
      if (!owned.has(p)) continue;
      const tokens = p.split(SEP);
      if (JSON.stringify(valueAt(current, tokens, schema)) === JSON.stringify(valueAt(body, tokens, schema)))
        continue;
      if (force) owned.delete(p);
      else
        conflicts.push(
          `conflict with "${other}": .${tokens
            .map((t) => (t.startsWith("f:") ? t.slice(2) : t === "." ? "" : `[${t.slice(2)}]`))
            .filter(Boolean)
            .join(".")}`,
        );
    }
  }
  if (conflicts.length)
    throw new ApiError(
      409,
      "Conflict",
      `Apply failed with ${conflicts.length} conflict${conflicts.length > 1 ? "s" : ""}: ${conflicts.join("\n")}`,
    );
  let object = merge(current, body, schema) as Obj;
  const before = owners.get(manager) ?? new Set<string>();
  const othersOwn = (p: string) => [...owners].some(([m, s]) => m !== manager && s.has(p));
  for (const p of before) if (!mine.has(p) && !othersOwn(p)) removeAt(object, p.split(SEP));
  object = structuredClone(object);
  owners.set(manager, mine);
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
  const fields: ManagedFields = managed.filter((m) => (m.subresource ?? "") !== subresource);
  for (const [m, set] of owners)
    if (set.size > 0)
      fields.push({
        manager: m,
        operation: "Apply",
        apiVersion: applied.apiVersion,
        time: now,
        fieldsType: "FieldsV1",
        fieldsV1: toFieldsV1(set),
        ...(subresource ? { subresource } : {}),
      });
  return { object, fields };
}
