// The agents' settings, from the controller's --agent-config file (the chart's `agent:` values):
// what the controller puts in the agent DaemonSet it keeps.
import Type from "typebox";
import { parse as parseYaml } from "yaml";
import { schemaErrors } from "../api/schema/errors.ts";

export const AgentSettingsSchema = Type.Object(
  {
    image: Type.Optional(
      Type.String({ description: "Agent image; defaults to the controller's own (VIPKEEPER_IMAGE)." }),
    ),
    imagePullPolicy: Type.Optional(
      Type.Union([Type.Literal("Always"), Type.Literal("IfNotPresent"), Type.Literal("Never")]),
    ),
    tolerations: Type.Optional(Type.Array(Type.Record(Type.String(), Type.Unknown()))),
    resources: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    priorityClassName: Type.Optional(Type.String()),
    allowScripts: Type.Optional(Type.Boolean()),
    metricsPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    logLevel: Type.Optional(
      Type.Union(["trace", "debug", "info", "warn", "error"].map((l) => Type.Literal(l))),
    ),
    lbBackend: Type.Optional(
      Type.Union(
        ["auto", "nftables", "ipvs"].map((b) => Type.Literal(b)),
        {
          description: "Load balancer dataplane; unset or auto lets the agent choose.",
        },
      ),
    ),
    permanentAddresses: Type.Optional(
      Type.Boolean({
        description:
          "Bind virtual addresses without a lifetime (agent --permanent-addresses). By default a master binds them for 2 s and renews them, so that a node whose agent died lets go of them by itself.",
      }),
    ),
    nodeSelector: Type.Optional(
      Type.Record(Type.String(), Type.String(), {
        description: "Extra node labels agents require, on top of the nodes routers select.",
      }),
    ),
    maxUnavailable: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.String()])),
  },
  { additionalProperties: false },
);

export type AgentSettings = Type.Static<typeof AgentSettingsSchema>;

export class AgentSettingsError extends Error {}

/** Parses the file; errors name the field. */
export function parseAgentSettings(text: string): AgentSettings {
  const value = (parseYaml(text) ?? {}) as unknown;
  const errors = schemaErrors(AgentSettingsSchema, value);
  if (errors.length > 0)
    throw new AgentSettingsError(errors.map((e) => `agent settings: ${e.field}: ${e.message}`).join("\n"));
  return value as AgentSettings;
}
