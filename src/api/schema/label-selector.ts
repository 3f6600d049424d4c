// metav1.LabelSelector's schema piece, for the CRDs (its meaning: ../label-selector.ts).
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
