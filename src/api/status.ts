// The status of the three API objects: their types (their schemas, for the CRDs: schema/status.ts).
export type {
  Condition,
  InstanceEntry,
  IPPoolStatus,
  NodeEntry,
  VirtualRouterStatus,
} from "./schema/status.ts";
