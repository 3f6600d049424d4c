// Defaults live once, as `default:` keywords in the typebox schemas: the API server applies them from
// the CRDs in cluster mode, and this applies the same keywords to objects read from a file.
import type { TSchema } from "typebox";
import Value from "typebox/value";
import { IPPool } from "./ip-pool.ts";
import { VirtualRouter } from "./virtual-router.ts";
import { VirtualServer } from "./virtual-server.ts";

const SCHEMAS: Record<string, TSchema> = { VirtualRouter, VirtualServer, IPPool };

/**
 * A copy of a valid object with every absent defaulted field filled, as the API server would fill
 * it (a nested object's defaults apply only where the object is present). Objects of other kinds
 * are returned as they are.
 */
export function withDefaults<T extends { kind: string }>(obj: T): T {
  const schema = SCHEMAS[obj.kind];
  return schema ? (Value.Default(schema, structuredClone(obj)) as T) : obj;
}
