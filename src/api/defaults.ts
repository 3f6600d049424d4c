// Defaults live once, as `default:` keywords in the schemas (src/api/schema/): the API server applies
// them from the CRDs in cluster mode, and this applies the same keywords to objects read from a
// file, as typebox's Value.Default does (test/api/structural.test.ts holds the two side by side),
// without loading typebox into the agent (api/structural.ts says why).
import { isKind, schemaOf, type JsonSchema } from "./structural.ts";

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Fills `value`'s absent defaulted properties, at every depth the schema describes. */
function fill(schema: Readonly<JsonSchema>, value: unknown): void {
  if (Array.isArray(value) && isObject(schema.items)) for (const item of value) fill(schema.items, item);
  if (!isObject(value) || !isObject(schema.properties)) return;
  for (const [key, property] of Object.entries(schema.properties as Record<string, JsonSchema>)) {
    if (value[key] === undefined && property.default !== undefined)
      value[key] = structuredClone(property.default);
    if (value[key] !== undefined) fill(property, value[key]);
  }
}

/**
 * A copy of a valid object with every absent defaulted field filled, as the API server would fill
 * it (a nested object's defaults apply only where the object is present). Objects of other kinds
 * are returned as they are.
 */
export function withDefaults<T extends { kind: string }>(obj: T): T {
  if (!isKind(obj.kind)) return obj;
  const copy = structuredClone(obj);
  fill(schemaOf(obj.kind), copy);
  return copy;
}
