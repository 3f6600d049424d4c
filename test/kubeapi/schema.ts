// What the API server does with a custom object and its CRD's structural schema: defaults,
// pruning of unknown fields (or rejection, with fieldValidation=Strict), validation with the
// server's messages and field paths, and the x-kubernetes-validations CEL rules (@bufbuild/cel,
// with Kubernetes' IP and CIDR libraries from cel-kubernetes.ts).
import { isCelError, run } from "@bufbuild/cel";
import { KUBERNETES_CEL_ENV, KUBERNETES_CEL_FUNCTIONS } from "./cel-kubernetes.ts";

export interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  items?: Schema;
  required?: string[];
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  nullable?: boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  "x-kubernetes-list-type"?: string;
  "x-kubernetes-list-map-keys"?: string[];
  "x-kubernetes-validations"?: { rule: string; message?: string; fieldPath?: string; reason?: string }[];
}

export interface Cause {
  field: string;
  message: string;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Functions the rules may use beyond standard CEL: Kubernetes' IP and CIDR libraries. */
export const CEL_FUNCTIONS = KUBERNETES_CEL_FUNCTIONS;

/** JSON to CEL input: objects become maps, integers (by the schema) become ints. */
function toCel(v: unknown, s: Schema | undefined): unknown {
  if (Array.isArray(v)) return v.map((x) => toCel(x, s?.items));
  if (isObject(v)) {
    const m = new Map<string, unknown>();
    for (const [k, x] of Object.entries(v))
      m.set(
        k,
        toCel(
          x,
          s?.properties?.[k] ?? (isObject(s?.additionalProperties) ? s.additionalProperties : undefined),
        ),
      );
    return m;
  }
  if (typeof v === "number" && (s?.type === "integer" || Number.isInteger(v)) && s?.type !== "number")
    return BigInt(v);
  return v;
}

/** Fills defaults where a field is absent (recursively, as structural defaulting does). */
export function applyDefaults(v: unknown, s: Schema | undefined): unknown {
  if (!s) return v;
  if (isObject(v) && s.properties) {
    for (const [k, ps] of Object.entries(s.properties)) {
      if (v[k] === undefined && ps.default !== undefined) v[k] = structuredClone(ps.default);
      if (v[k] !== undefined) v[k] = applyDefaults(v[k], ps);
    }
    if (isObject(s.additionalProperties))
      for (const k of Object.keys(v))
        if (!s.properties[k]) v[k] = applyDefaults(v[k], s.additionalProperties);
  } else if (isObject(v) && isObject(s.additionalProperties)) {
    for (const k of Object.keys(v)) v[k] = applyDefaults(v[k], s.additionalProperties);
  } else if (Array.isArray(v) && s.items) return v.map((x) => applyDefaults(x, s.items));
  return v;
}

/** Removes fields the schema does not know; returns their paths (reported, or refused if strict). */
export function prune(v: unknown, s: Schema | undefined, path: string, unknown: string[] = []): string[] {
  if (!s || s["x-kubernetes-preserve-unknown-fields"]) return unknown;
  if (isObject(v)) {
    for (const k of Object.keys(v)) {
      const ps = s.properties?.[k] ?? (isObject(s.additionalProperties) ? s.additionalProperties : undefined);
      const p = path ? `${path}.${k}` : k;
      if (!ps && s.additionalProperties !== true) {
        unknown.push(p);
        delete v[k];
      } else prune(v[k], ps, p, unknown);
    }
  } else if (Array.isArray(v)) v.forEach((x, i) => prune(x, s.items, `${path}[${i}]`, unknown));
  return unknown;
}

const show = (v: unknown) => (typeof v === "string" ? `"${v}"` : JSON.stringify(v));

/** Schema errors after which the real server runs no CEL rule (apiextensions-apiserver's
 * hasBlockingErr: Required, Unsupported value, Too long, Too many, wrong type). */
const BLOCKING =
  /^(Required value|Unsupported value|Too long|Too many|Invalid value: .* in body must be of type )/;
export const RULES_NOT_CHECKED =
  "Invalid value: null: some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

/**
 * The schema's errors, then its CEL rules' errors, as kube-apiserver validates a custom resource:
 * when a schema error is blocking, no rule runs and one cause without a field (`<nil>`) says so.
 */
export function validate(v: unknown, s: Schema, path: string, old: unknown, out: Cause[] = []): Cause[] {
  walk(v, s, path, old, out, "schema");
  if (out.some((c) => BLOCKING.test(c.message))) out.push({ field: "<nil>", message: RULES_NOT_CHECKED });
  else walk(v, s, path, old, out, "rules");
  return out;
}

function walk(
  v: unknown,
  s: Schema,
  path: string,
  old: unknown,
  out: Cause[],
  phase: "schema" | "rules",
): void {
  const err = (message: string, field = path) => {
    if (phase === "schema") out.push({ field, message });
  };
  if (v === null) {
    if (!s.nullable) err(`Invalid value: "null": ${path} in body must be of type ${s.type}`);
    return;
  }
  const t = s.type;
  const typeOk = s["x-kubernetes-int-or-string"]
    ? typeof v === "string" || Number.isInteger(v)
    : t === undefined ||
      (t === "object" && isObject(v)) ||
      (t === "array" && Array.isArray(v)) ||
      (t === "string" && typeof v === "string") ||
      (t === "integer" && Number.isInteger(v)) ||
      (t === "number" && typeof v === "number") ||
      (t === "boolean" && typeof v === "boolean");
  if (!typeOk) {
    // The value shown is its JSON type, as the real server's (integer for a whole number).
    const got = Array.isArray(v)
      ? "array"
      : Number.isInteger(v)
        ? "integer"
        : typeof v === "number"
          ? "number"
          : typeof v;
    const want = s["x-kubernetes-int-or-string"] ? "integer,string" : t;
    err(`Invalid value: "${got}": ${path} in body must be of type ${want}: "${got}"`);
    return;
  }
  if (s.enum && !s.enum.some((e) => e === v))
    err(`Unsupported value: ${show(v)}: supported values: ${s.enum.map(show).join(", ")}`);
  if (typeof v === "number") {
    if (s.minimum !== undefined && v < s.minimum)
      err(`Invalid value: ${v}: ${path} in body should be greater than or equal to ${s.minimum}`);
    if (s.maximum !== undefined && v > s.maximum)
      err(`Invalid value: ${v}: ${path} in body should be less than or equal to ${s.maximum}`);
  }
  if (typeof v === "string") {
    if (s.minLength !== undefined && [...v].length < s.minLength)
      err(`Invalid value: ${show(v)}: ${path} in body should be at least ${s.minLength} chars long`);
    if (s.maxLength !== undefined && [...v].length > s.maxLength)
      err(`Too long: may not be longer than ${s.maxLength}`);
    if (s.pattern && !new RegExp(s.pattern, "u").test(v))
      err(`Invalid value: ${show(v)}: ${path} in body should match '${s.pattern}'`);
  }
  if (Array.isArray(v)) {
    if (s.minItems !== undefined && v.length < s.minItems)
      err(`Invalid value: ${v.length}: ${path} in body should have at least ${s.minItems} items`);
    if (s.maxItems !== undefined && v.length > s.maxItems)
      err(`Too many: ${v.length}: must have at most ${s.maxItems} items`);
    const keys = s["x-kubernetes-list-map-keys"];
    if (s["x-kubernetes-list-type"] === "map" && keys) {
      const seen = new Set<string>();
      v.forEach((x, i) => {
        const k = JSON.stringify(keys.map((key) => (isObject(x) ? x[key] : undefined)));
        if (seen.has(k)) err(`Duplicate value: ${k}`, `${path}[${i}]`);
        seen.add(k);
      });
    }
    const oldList = Array.isArray(old) ? old : [];
    if (s.items) v.forEach((x, i) => walk(x, s.items!, `${path}[${i}]`, oldList[i], out, phase));
  }
  if (isObject(v)) {
    // The properties' errors first, then the missing ones (the real server's order).
    const oldObj = isObject(old) ? old : {};
    for (const [k, x] of Object.entries(v)) {
      const ps = s.properties?.[k] ?? (isObject(s.additionalProperties) ? s.additionalProperties : undefined);
      if (ps && x !== undefined) walk(x, ps, path ? `${path}.${k}` : k, oldObj[k], out, phase);
    }
    for (const r of s.required ?? [])
      if (v[r] === undefined) err("Required value", path ? `${path}.${r}` : r);
  }
  if (phase === "schema") return;
  for (const rule of s["x-kubernetes-validations"] ?? []) {
    const transition = /\boldSelf\b/.test(rule.rule);
    if (transition && old === undefined) continue;
    const bindings: Record<string, unknown> = { self: toCel(v, s) };
    if (transition) bindings.oldSelf = toCel(old, s);
    const result = run(rule.rule, bindings as never, KUBERNETES_CEL_ENV);
    const field = rule.fieldPath ? `${path}${rule.fieldPath}` : path;
    // As apiextensions-apiserver words them: an object's or a list's value is left out, a
    // scalar's is shown; an evaluation error shows the schema type.
    const message = rule.message?.trim() || `failed rule: ${rule.rule.trim()}`;
    if (isCelError(result))
      out.push({
        field,
        message: `Invalid value: "${s.type ?? ""}": ${result.message} evaluating rule: ${rule.message?.trim() || rule.rule.trim()}`,
      });
    else if (result !== true) {
      const value = s.type === "object" || s.type === "array" ? "" : ` ${show(v)}:`;
      out.push({
        field,
        message:
          rule.reason === "FieldValueForbidden"
            ? `Forbidden: ${message}`
            : rule.reason === "FieldValueRequired"
              ? `Required value: ${message}`
              : rule.reason === "FieldValueDuplicate"
                ? `Duplicate value${value.slice(0, -1)}`
                : `Invalid value:${value} ${message}`,
      });
    }
  }
}
