// Validation errors that name the field, as `kubectl` users read them: "spec.addresses[1].address: ...".
import type { TLocalizedValidationError } from "typebox/error";

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

/** typebox's errors for an invalid value, one per field, in kubectl's words. */
export function fieldErrors(errors: Iterable<TLocalizedValidationError>): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
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
    // additionalProperties: false reports each extra key as a false schema at the key's own path.
    const unknown = e.keyword === "boolean" && e.schemaPath.endsWith("/additionalProperties");
    out.push({ field, message: unknown ? "is not a known field" : message });
  }
  // A union reports each branch; keep one message per field.
  return out.filter((e, i) => out.findIndex((x) => x.field === e.field) === i);
}
