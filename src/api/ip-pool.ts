// The IPPool object (vipkeeper.io/v1alpha1, cluster-scoped): addresses for LoadBalancer Services,
// who may use them, and how they are announced (the template of the VirtualRouters generated).
import { parseRange, overlaps, type AddressRange } from "./ranges.ts";
import type { FieldError } from "./field-errors.ts";
import type { IPPool, IPPoolSpec } from "./schema/ip-pool.ts";
import { structuralErrors } from "./structural.ts";

export type { IPPool, IPPoolSpec } from "./schema/ip-pool.ts";

/** The pool's ranges, parsed; validateIPPool has said what is wrong with the others. */
export function poolRanges(spec: IPPoolSpec): AddressRange[] {
  return spec.addresses.map(parseRange).filter((r): r is AddressRange => typeof r !== "string");
}

export function validateIPPool(obj: unknown): FieldError[] {
  const structural = structuralErrors("IPPool", obj);
  if (structural.length > 0) return structural;
  const { spec } = obj as IPPool;
  const errors: FieldError[] = [];
  const ranges: (AddressRange | undefined)[] = spec.addresses.map((text, i) => {
    const r = parseRange(text);
    if (typeof r === "string") {
      errors.push({ field: `spec.addresses[${i}]`, message: r });
      return undefined;
    }
    return r;
  });
  const version = spec.announce?.version;
  ranges.forEach((r, i) => {
    if (!r) return;
    if (version === 2 && r.family === 6)
      errors.push({
        field: "spec.announce.version",
        message: `VRRPv2 is IPv4 only, and spec.addresses[${i}] is IPv6 (use version 3)`,
      });
    const j = ranges.findIndex((o, k) => k < i && o && overlaps(o, r));
    if (j !== -1)
      errors.push({
        field: `spec.addresses[${i}]`,
        message: `overlaps spec.addresses[${j}] (${spec.addresses[j]})`,
      });
  });
  return errors;
}
