// Validation errors that name the field, as `kubectl` users read them: "spec.addresses[1].address: ...".
import type { TSchema } from "typebox";
import { Compile, type Validator } from "typebox/compile";
import Value from "typebox/value";

export interface FieldError {
  field: string;
  message: string;
}

/** JSON pointer (/spec/addresses/1/address) to field path (spec.addresses[1].address). */
export function fieldPath(pointer: string): string {
  return pointer
    .split("/")
    .slice(1)
    .map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~"))
    .reduce((path, part) => (/^\d+$/.test(part) ? `${path}[${part}]` : path ? `${path}.${part}` : part), "");
}

/** Compiled checks, one per schema: ~50x faster than walking the schema for errors. */
const compiled = new WeakMap<TSchema, Validator>();

export function schemaErrors(schema: TSchema, value: unknown): FieldError[] {
  // Valid objects are the rule (a cluster agent checks every router on each pass): check them with
  // the compiled validator, and walk the schema for the errors only when there are some.
  let check = compiled.get(schema);
  if (!check) compiled.set(schema, (check = Compile(schema)));
  if (check.Check(value)) return [];
  const out: FieldError[] = [];
  for (const e of Value.Errors(schema, value)) {
    let field = fieldPath(e.instancePath);
    const message = e.message;
    const params = e.params as {
      requiredProperties?: string[];
      additionalProperties?: string[];
      allowedValues?: unknown[];
    };
    if (e.keyword === "required" && params.requiredProperties) {
      for (const p of params.requiredProperties)
        out.push({ field: field ? `${field}.${p}` : p, message: "is required" });
      continue;
    }
    if (e.keyword === "additionalProperties" && params.additionalProperties) {
      for (const p of params.additionalProperties)
        out.push({ field: field ? `${field}.${p}` : p, message: "is not a known field" });
      continue;
    }
    if (!field) field = "(object)";
    out.push({ field, message });
  }
  // A union reports each branch; keep one message per field.
  return out.filter((e, i) => out.findIndex((x) => x.field === e.field) === i);
}
