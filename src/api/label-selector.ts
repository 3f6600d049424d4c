// metav1.LabelSelector: its schema piece (for the CRDs) and its meaning, in one place.
import Type from "typebox";

export const LabelSelectorSchema = (description: string) =>
  Type.Object(
    {
      matchLabels: Type.Optional(
        Type.Record(Type.String(), Type.String(), { description: "Labels that must all match." }),
      ),
      matchExpressions: Type.Optional(
        Type.Array(
          Type.Object(
            {
              key: Type.String({ description: "Label key." }),
              operator: Type.Union(
                [
                  Type.Literal("In"),
                  Type.Literal("NotIn"),
                  Type.Literal("Exists"),
                  Type.Literal("DoesNotExist"),
                ],
                { description: "In, NotIn, Exists or DoesNotExist." },
              ),
              values: Type.Optional(Type.Array(Type.String(), { description: "Values for In and NotIn." })),
            },
            { additionalProperties: false },
          ),
          { description: "Requirements that must all hold." },
        ),
      ),
    },
    { additionalProperties: false, description },
  );

export type LabelSelector = Type.Static<ReturnType<typeof LabelSelectorSchema>>;

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
