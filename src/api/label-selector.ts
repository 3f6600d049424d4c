// metav1.LabelSelector's meaning (its schema piece: schema/label-selector.ts).
import type { LabelSelector } from "./schema/label-selector.ts";

export type { LabelSelector } from "./schema/label-selector.ts";

/** metav1.LabelSelector semantics: all of matchLabels and matchExpressions; empty (or none) selects all. */
export function selects(
  selector: LabelSelector | undefined,
  labels: Readonly<Record<string, string>> = {},
): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const v = labels[e.key];
    const values = e.values ?? [];
    const ok =
      e.operator === "In"
        ? v !== undefined && values.includes(v)
        : e.operator === "NotIn"
          ? v === undefined || !values.includes(v)
          : e.operator === "Exists"
            ? v !== undefined
            : v === undefined;
    if (!ok) return false;
  }
  return true;
}
