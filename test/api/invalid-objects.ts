// The invalid-object table: objects that vipkeeper's CRDs must reject, with the field the API
// server names and a piece of its message. The same table runs against the in-process server
// (test/api/crds.test.ts) and the real kube-apiserver (test/e2e/invalid-objects.test.ts); where
// the two disagree, the real one is right and test/kubeapi is fixed.
import type { CustomObjectsApi } from "@kubernetes/client-node";
import { SAMPLES, type Json } from "./cel-samples.ts";

export interface InvalidCase {
  name: string;
  kind: "VirtualRouter" | "VirtualServer" | "IPPool";
  spec: Json;
  /** Status details.causes[].field: exactly this one. */
  field: string;
  /** Matched against the Status message (which is "<Kind> \"<name>\" is invalid: <field>: ..."). */
  message: RegExp;
  /** The cause's reason (FieldValueInvalid, FieldValueRequired, ...). */
  reason: string;
  /**
   * A blocking schema error (Required, Unsupported value, Too long, Too many, wrong type): the real
   * server then runs no CEL rule and adds a cause without a field (`<nil>`) saying so.
   */
  rulesNotChecked?: boolean;
}

/** The fields the Status causes name for a case, in order. */
export const causeFields = (c: InvalidCase): string[] => (c.rulesNotChecked ? [c.field, "<nil>"] : [c.field]);

const vip = [{ address: "198.18.0.50" }];
const vs = (spec: Json): Json => ({
  address: "198.18.0.50",
  port: 80,
  realServers: [{ address: "198.18.0.13", port: 8080 }],
  ...spec,
});
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

const SCHEMA_CASES: InvalidCase[] = [
  {
    name: "a virtual MAC interface name Linux refuses",
    kind: "VirtualRouter",
    spec: { addresses: vip, virtualMAC: { interface: "eth0:vip" } },
    field: "spec.virtualMAC.interface",
    message: /spec\.virtualMAC\.interface: Invalid value: "eth0:vip": .*should match/,
    reason: "FieldValueInvalid",
  },
  {
    name: "vrid above 255",
    kind: "VirtualRouter",
    spec: { vrid: 300, addresses: vip },
    field: "spec.vrid",
    message: /spec\.vrid: Invalid value: 300: .*less than or equal to 255/,
    reason: "FieldValueInvalid",
  },
  {
    name: "an address that is no address",
    kind: "VirtualRouter",
    spec: { addresses: [{ address: "198.18.0.500" }] },
    field: "spec.addresses[0].address",
    message: /spec\.addresses\[0\]\.address: .*IPv4 or IPv6 address/,
    reason: "FieldValueInvalid",
  },
  {
    name: "VRRPv2 with an IPv6 address",
    kind: "VirtualRouter",
    spec: { version: 2, addresses: [{ address: "2001:db8::50" }] },
    field: "spec.version",
    message: /spec\.version: .*VRRPv2 is IPv4 only/,
    reason: "FieldValueInvalid",
  },
  {
    name: "PASS authentication on VRRPv3",
    kind: "VirtualRouter",
    spec: { addresses: vip, authentication: { type: "PASS", password: "x" } },
    field: "spec.authentication",
    message: /spec\.authentication: .*VRRPv2 only/,
    reason: "FieldValueInvalid",
  },
  {
    name: "the same address twice",
    kind: "VirtualRouter",
    spec: { addresses: [...vip, ...vip] },
    field: "spec.addresses",
    message: /spec\.addresses: .*unique/,
    reason: "FieldValueInvalid",
  },
  {
    name: "no addresses",
    kind: "VirtualRouter",
    spec: { addresses: [] },
    field: "spec.addresses",
    message: /spec\.addresses: .*at least 1 items/,
    reason: "FieldValueInvalid",
  },
  {
    name: "addresses missing",
    kind: "VirtualRouter",
    spec: { vrid: 5 },
    field: "spec.addresses",
    message: /spec\.addresses: Required value/,
    reason: "FieldValueRequired",
    rulesNotChecked: true,
  },
  {
    name: "one node given two priorities",
    kind: "VirtualRouter",
    spec: {
      addresses: vip,
      priorities: [
        { node: "a", priority: 100 },
        { node: "a", priority: 90 },
      ],
    },
    field: "spec.priorities[1]",
    message: /spec\.priorities\[1\]: Duplicate value/,
    reason: "FieldValueDuplicate",
  },
  {
    name: "a unicast peer by name",
    kind: "VirtualRouter",
    spec: { addresses: vip, unicast: { peers: ["nope"] } },
    field: "spec.unicast.peers[0]",
    message: /spec\.unicast\.peers\[0\]: .*must be an IP address/,
    reason: "FieldValueInvalid",
  },
  {
    name: "a port above 65535",
    kind: "VirtualServer",
    spec: vs({ port: 70000 }),
    field: "spec.port",
    message: /spec\.port: Invalid value: 70000: .*less than or equal to 65535/,
    reason: "FieldValueInvalid",
  },
  {
    name: "an unknown scheduler",
    kind: "VirtualServer",
    spec: vs({ scheduler: "fastest" }),
    field: "spec.scheduler",
    message: /spec\.scheduler: Unsupported value: "fastest": supported values: "rr", "wrr"/,
    reason: "FieldValueNotSupported",
    rulesNotChecked: true,
  },
  {
    name: "a real server without an address",
    kind: "VirtualServer",
    spec: vs({ realServers: [{ port: 8080 }] }),
    field: "spec.realServers[0].address",
    message: /spec\.realServers\[0\]\.address: Required value/,
    reason: "FieldValueRequired",
    rulesNotChecked: true,
  },
  {
    name: "no real servers",
    kind: "VirtualServer",
    spec: vs({ realServers: [] }),
    field: "spec.realServers",
    message: /spec\.realServers: .*at least 1 items/,
    reason: "FieldValueInvalid",
  },
];

/** The bad sample of every CEL rule (test/api/cel-samples.ts). */
const CEL_CASES: InvalidCase[] = Object.entries(SAMPLES).map(([key, s]) => {
  const kind = key.slice(0, key.indexOf(".")) as InvalidCase["kind"];
  return {
    name: `CEL ${key}`,
    kind,
    spec: s.bad,
    field: s.field,
    message: new RegExp(`${esc(s.field)}: Invalid value: .*`),
    reason: "FieldValueInvalid",
  };
});

export const INVALID_OBJECTS: InvalidCase[] = [...SCHEMA_CASES, ...CEL_CASES];

export const PLURAL: Record<InvalidCase["kind"], string> = {
  VirtualRouter: "virtualrouters",
  VirtualServer: "virtualservers",
  IPPool: "ippools",
};

/** The object of a case, named for it (names must be DNS labels). */
export function invalidObject(c: InvalidCase, i: number): Json {
  return {
    apiVersion: "vipkeeper.io/v1alpha1",
    kind: c.kind,
    metadata: { name: `invalid-${i}` },
    spec: c.spec,
  };
}

/** Creates the case's object (VirtualServers in namespace "default"); resolves if it was accepted. */
export function createObject(custom: CustomObjectsApi, c: InvalidCase, i: number): Promise<unknown> {
  const where = {
    group: "vipkeeper.io",
    version: "v1alpha1",
    plural: PLURAL[c.kind],
    body: invalidObject(c, i),
  };
  return c.kind === "VirtualServer"
    ? custom.createNamespacedCustomObject({ ...where, namespace: "default" })
    : custom.createClusterCustomObject(where);
}
