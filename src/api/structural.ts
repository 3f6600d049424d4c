// The structural check of the three API objects, as the CRDs' schemas say (src/api/schema/), by
// the code typebox compiles from those schemas, generated ahead of time (generated/structural.ts,
// `node scripts/gen-structural.ts`): the agent checks each object it reads without loading typebox,
// whose modules and compiled checks cost a process ~8 MB (BENCHMARKS.md, "Agent memory against
// keepalived"). Only an invalid object loads it, to word the errors.
import { createRequire } from "node:module";
import type ValueModule from "typebox/value";
import { fieldErrors, type FieldError } from "./field-errors.ts";
import { checkIPPool, checkVirtualRouter, checkVirtualServer, SCHEMAS } from "./generated/structural.ts";

export type Kind = "VirtualRouter" | "VirtualServer" | "IPPool";
export type JsonSchema = { [keyword: string]: unknown };

const CHECKS: Record<Kind, (value: unknown) => boolean> = {
  VirtualRouter: checkVirtualRouter,
  VirtualServer: checkVirtualServer,
  IPPool: checkIPPool,
};

export const isKind = (kind: string): kind is Kind => Object.hasOwn(CHECKS, kind);

/** The three schemas, parsed on first need (a file's defaults, an invalid object): ~50 KB then. */
let schemas: Record<Kind, Readonly<JsonSchema>> | undefined;

/** The kind's schema as JSON Schema, without descriptions; shared, so read only. */
export function schemaOf(kind: Kind): Readonly<JsonSchema> {
  schemas ??= JSON.parse(SCHEMAS) as Record<Kind, Readonly<JsonSchema>>;
  return schemas[kind];
}

/** [] when `value` has the kind's structure, else an error for each field that has not. */
export function structuralErrors(kind: Kind, value: unknown): FieldError[] {
  if (CHECKS[kind](value)) return [];
  const { default: Value } = createRequire(import.meta.url)("typebox/value") as {
    default: typeof ValueModule;
  };
  return fieldErrors(Value.Errors(schemaOf(kind), value));
}
