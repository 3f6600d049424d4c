// One source of defaults: what file mode fills (withDefaults, from the typebox schemas) is what the
// API server fills from the generated CRDs.
import { describe, expect, it } from "vitest";
import { crds } from "../../src/api/crds.ts";
import { withDefaults } from "../../src/api/defaults.ts";
import { applyDefaults, type Schema } from "../kubeapi/schema.ts";

type Json = Record<string, unknown>;

const crdSchema = (kind: string): Schema => {
  const c = crds().find((x) => ((x.spec as Json).names as Json).kind === kind)!;
  return (((c.spec as Json).versions as Json[])[0]!.schema as Json).openAPIV3Schema as Schema;
};
const obj = (kind: string, spec: Json) => ({
  apiVersion: "vipkeeper.io/v1alpha1",
  kind,
  metadata: { name: "sample", namespace: "default", uid: "u-1", labels: { a: "b" } },
  spec,
});

const SAMPLES = [
  obj("VirtualRouter", { addresses: [{ address: "198.18.0.50/24" }] }),
  obj("VirtualRouter", {
    addresses: [{ address: "2001:db8::50/64" }],
    track: { interfaces: [{ name: "eth1" }], files: [{ path: "/run/up" }] },
    notify: { mail: { to: ["ops@example.org"] } },
    garp: {},
    unicast: {},
  }),
  obj("VirtualServer", {
    address: "198.18.0.50",
    port: 80,
    realServers: [{ address: "198.18.0.13", port: 8080 }],
    healthCheck: { httpGet: {} },
    persistence: { timeout: "300s" },
  }),
  obj("VirtualServer", { fwmark: 7, realServers: [{ address: "2001:db8::13", port: 80, weight: 5 }] }),
  obj("IPPool", { addresses: ["198.18.10.0/24"], announce: { track: { interfaces: [{ name: "eth0" }] } } }),
  obj("IPPool", { addresses: ["198.18.10.0/24"] }),
];

describe("defaults", () => {
  for (const sample of SAMPLES)
    it(`${sample.kind} ${JSON.stringify(sample.spec).slice(0, 60)}: file mode fills what the API server fills`, () => {
      const mine = withDefaults(sample);
      const server = applyDefaults(structuredClone(sample), crdSchema(sample.kind));
      expect(mine).toEqual(server);
      expect(mine).not.toEqual(sample); // something was filled
      expect(sample.metadata).toEqual(mine.metadata);
    });

  it("fills the documented values and leaves given ones", () => {
    const vs = withDefaults(SAMPLES[2]!).spec;
    expect(vs).toMatchObject({ protocol: "TCP", scheduler: "wrr", forwarding: "NAT", quorum: 1 });
    expect(vs.persistence).toEqual({ timeout: "300s", ipv4PrefixLength: 32, ipv6PrefixLength: 128 });
    expect((vs.healthCheck as Json).httpGet).toEqual({ path: "/", statusCodes: [200] });
    const weighted = withDefaults(SAMPLES[3]!).spec as { realServers: Json[] };
    expect(weighted.realServers[0]!.weight).toBe(5);
    const vr = withDefaults(SAMPLES[0]!).spec;
    expect([vr.version, vr.advertInterval, vr.preempt]).toEqual([3, "1s", true]);
  });

  it("leaves other kinds alone", () => {
    const cm = { kind: "ConfigMap", data: {} };
    expect(withDefaults(cm)).toBe(cm);
  });
});
