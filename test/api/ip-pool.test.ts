// IPPool validation: the schema's part and the semantic part, each error naming the field.
import { describe, expect, it } from "vitest";
import { poolRanges, validateIPPool } from "../../src/api/ip-pool.ts";

const pool = (spec: Record<string, unknown>, metadata: Record<string, unknown> = { name: "public" }) => ({
  apiVersion: "vipkeeper.io/v1alpha1",
  kind: "IPPool",
  metadata,
  spec: { addresses: ["198.18.10.0/24"], ...spec },
});
const fields = (o: unknown) => validateIPPool(o).map((e) => e.field);
const messages = (o: unknown) => validateIPPool(o).map((e) => `${e.field}: ${e.message}`);

describe("IPPool", () => {
  it("accepts CIDRs, single addresses and a-b ranges of both families, with the full announcement", () => {
    const ok = pool({
      addresses: ["198.18.10.0/24", "198.18.11.5 - 198.18.11.9", "198.18.12.1", "2001:db8:10::/64"],
      autoAssign: false,
      avoidBuggyIPs: true,
      serviceSelector: { matchLabels: { tier: "web" } },
      namespaceSelector: { matchExpressions: [{ key: "team", operator: "In", values: ["a", "b"] }] },
      announce: {
        routers: 4,
        nodeSelector: { "node-role.kubernetes.io/edge": "" },
        interface: "eth1",
        version: 3,
        advertInterval: "500ms",
        preempt: false,
        preemptDelay: "10s",
        unicast: true,
        garpRefresh: "30s",
        track: { interfaces: [{ name: "eth1" }] },
      },
    });
    expect(validateIPPool(ok)).toEqual([]);
    expect(poolRanges(ok.spec as never).map((r) => [r.family, r.last - r.first + 1n])).toEqual([
      [4, 256n],
      [4, 5n],
      [4, 1n],
      [6, 1n << 64n],
    ]);
  });

  it("accepts API objects with the metadata a cluster adds", () => {
    const metadata = {
      name: "public",
      uid: "6f1c0a52-8d4e-4f57-9d1e-2b7c0e5d9a10",
      resourceVersion: "4711",
      generation: 3,
      labels: { a: "b" },
      annotations: { note: "x" },
      finalizers: ["vipkeeper.io/release"],
      creationTimestamp: "2026-11-25T08:00:00Z",
      deletionTimestamp: "2026-11-25T09:00:00Z",
      managedFields: [{ manager: "kubectl", operation: "Apply" }],
    };
    expect(validateIPPool(pool({}, metadata))).toEqual([]);
  });

  it("names the range that is wrong, and why", () => {
    expect(messages(pool({ addresses: ["198.18.10.9-198.18.10.1"] }))).toEqual([
      "spec.addresses[0]: '198.18.10.9-198.18.10.1' starts after it ends",
    ]);
    expect(messages(pool({ addresses: ["198.18.10.1-2001:db8::1"] }))).toEqual([
      "spec.addresses[0]: '198.18.10.1-2001:db8::1' mixes IPv4 and IPv6",
    ]);
    expect(fields(pool({ addresses: ["198.18.10.0/24", "198.18.10.300"] }))).toEqual(["spec.addresses[1]"]);
    expect(fields(pool({ addresses: ["198.18.10.0/33"] }))).toEqual(["spec.addresses[0]"]);
  });

  it("refuses overlapping ranges within a pool, naming both", () => {
    expect(
      messages(pool({ addresses: ["198.18.10.0/24", "2001:db8::/64", "198.18.10.200-198.18.11.3"] })),
    ).toEqual(["spec.addresses[2]: overlaps spec.addresses[0] (198.18.10.0/24)"]);
    // Adjacent is not overlapping; the same numbers in the other family are not either.
    expect(
      validateIPPool(pool({ addresses: ["198.18.10.0/25", "198.18.10.128/25", "::c612:a00/120"] })),
    ).toEqual([]);
  });

  it("schema mistakes name the field", () => {
    expect(fields(pool({ addresses: [] }))).toEqual(["spec.addresses"]);
    expect(fields(pool({ autoAssign: "yes" }))).toEqual(["spec.autoAssign"]);
    expect(fields(pool({ announce: { routers: 0 } }))).toEqual(["spec.announce.routers"]);
    expect(fields(pool({ announce: { advertInterval: "1 second" } }))).toEqual([
      "spec.announce.advertInterval",
    ]);
    expect(fields(pool({ announce: { version: 4 } }))[0]).toMatch(/^spec\.announce\.version/);
    expect(
      fields(pool({ serviceSelector: { matchExpressions: [{ key: "a", operator: "Near" }] } }))[0],
    ).toMatch(/^spec\.serviceSelector\.matchExpressions\[0\]\.operator/);
    expect(fields(pool({ announce: { colour: "red" } }))).toEqual(["spec.announce.colour"]);
  });

  it("VRRPv2 announcements only for IPv4 pools", () => {
    expect(validateIPPool(pool({ announce: { version: 2 } }))).toEqual([]);
    expect(
      messages(pool({ addresses: ["198.18.10.0/24", "2001:db8::/64"], announce: { version: 2 } })),
    ).toEqual(["spec.announce.version: VRRPv2 is IPv4 only, and spec.addresses[1] is IPv6 (use version 3)"]);
  });
});
