// Errors of a value against a schema at hand (typebox's compiled check, then its error walk for an
// invalid value only): for the schemas of what the controller and the installer read. The three
// API objects are checked by the code generated from their schemas (../structural.ts).
import type { TSchema } from "typebox";
import { Compile, type Validator } from "typebox/compile";
import Value from "typebox/value";
import { fieldErrors, type FieldError } from "../field-errors.ts";

/** Compiled checks, one per schema: ~50x faster than walking the schema for errors. */
const compiled = new WeakMap<TSchema, Validator>();

export function schemaErrors(schema: TSchema, value: unknown): FieldError[] {
  let check = compiled.get(schema);
  if (!check) compiled.set(schema, (check = Compile(schema)));
  return check.Check(value) ? [] : fieldErrors(Value.Errors(schema, value));
}
