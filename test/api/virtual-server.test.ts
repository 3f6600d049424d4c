// VirtualServer validation: what the schema says and what it cannot, each naming the field.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/agent/config-file.ts";
import { validateVirtualServer } from "../../src/api/virtual-server.ts";
import { checkJobs, nftablesProblems, toVirtualService } from "../../src/lb/from-api.ts";

const vs = (spec: Record<string, unknown>) => ({
  apiVersion: "vipkeeper.io/v1alpha1",
  kind: "VirtualServer",
  metadata: { name: "web", namespace: "shop" },
  spec: { address: "198.18.0.50", port: 80, realServers: [{ address: "198.18.0.13", port: 8080 }], ...spec },
});

describe("VirtualServer", () => {
  it("a minimal object is valid and gets keepalived-like defaults", () => {
    expect(validateVirtualServer(vs({}))).toEqual([]);
    const svc = toVirtualService(vs({}) as never);
    expect(svc).toMatchObject({
      key: "shop/web",
      protocol: "tcp",
      scheduler: "wrr",
      forwarding: "nat",
      quorum: 1,
    });
    expect(svc.realServers[0]!.weight).toBe(1);
  });

  it("API objects with the metadata a cluster adds are valid (the schema does not constrain metadata)", () => {
    const o = vs({});
    o.metadata = {
      name: "web",
      namespace: "shop",
      uid: "0b1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
      resourceVersion: "912",
      generation: 4,
      labels: { app: "web" },
      annotations: { "kubectl.kubernetes.io/last-applied-configuration": "{}" },
      finalizers: ["vipkeeper.io/release"],
      creationTimestamp: "2026-11-25T08:00:00Z",
      deletionTimestamp: "2026-11-25T09:00:00Z",
      ownerReferences: [{ apiVersion: "v1", kind: "Service", name: "web", uid: "x" }],
    } as never;
    expect(validateVirtualServer(o)).toEqual([]);
  });

  it("names the field of each mistake", () => {
    const fields = (o: unknown) => validateVirtualServer(o).map((e) => e.field);
    expect(fields(vs({ port: 0 }))).toEqual(["spec.port"]);
    expect(fields(vs({ realServers: [{ address: "2001:db8::1", port: 80 }] }))).toEqual([
      "spec.realServers[0].address",
    ]);
    expect(fields(vs({ healthCheck: { tcp: {}, httpGet: {} } }))).toEqual(["spec.healthCheck"]);
    expect(fields(vs({ scheduler: "fastest" }))[0]).toMatch(/^spec\.scheduler/);
    expect(
      fields(
        vs({
          realServers: [
            { address: "198.18.0.13", port: 8080 },
            { address: "198.18.0.13", port: 8080 },
          ],
        }),
      ),
    ).toEqual(["spec.realServers[1]"]);
  });

  it("persistence: a timeout of at least 1s and prefix lengths within the family's", () => {
    expect(validateVirtualServer(vs({ persistence: { timeout: "300s", ipv4PrefixLength: 24 } }))).toEqual([]);
    const fields = (o: unknown) => validateVirtualServer(o).map((e) => e.field);
    expect(fields(vs({ persistence: {} }))).toEqual(["spec.persistence.timeout"]);
    expect(fields(vs({ persistence: { timeout: "5 minutes" } }))).toEqual(["spec.persistence.timeout"]);
    expect(fields(vs({ persistence: { timeout: "500ms" } }))).toEqual(["spec.persistence.timeout"]);
    expect(fields(vs({ persistence: { timeout: "60s", ipv4PrefixLength: 33 } }))).toEqual([
      "spec.persistence.ipv4PrefixLength",
    ]);
    expect(fields(vs({ persistence: { timeout: "60s", ipv6PrefixLength: 129 } }))).toEqual([
      "spec.persistence.ipv6PrefixLength",
    ]);
  });

  it("fwmark instead of address and port: one or the other, the family taken from the real servers", () => {
    const marked = (spec: Record<string, unknown>) => {
      const o = vs(spec);
      delete (o.spec as Record<string, unknown>).address;
      delete (o.spec as Record<string, unknown>).port;
      return o;
    };
    const fields = (o: unknown) => validateVirtualServer(o).map((e) => e.field);
    expect(validateVirtualServer(marked({ fwmark: 7 }))).toEqual([]);
    expect(validateVirtualServer(marked({ fwmark: 4294967295 }))).toEqual([]);
    expect(fields(marked({ fwmark: 0 }))).toEqual(["spec.fwmark"]);
    expect(fields(marked({ fwmark: 4294967296 }))).toEqual(["spec.fwmark"]);
    expect(fields(vs({ fwmark: 7 }))).toEqual(["spec.fwmark"]);
    expect(fields(marked({}))).toEqual(["spec.address", "spec.port"]);
    const portOnly = vs({});
    delete (portOnly.spec as Record<string, unknown>).address;
    expect(fields(portOnly)).toEqual(["spec.address"]);
    expect(
      fields(
        marked({
          fwmark: 7,
          realServers: [
            { address: "198.18.0.13", port: 80 },
            { address: "2001:db8::13", port: 80 },
          ],
        }),
      ),
    ).toEqual(["spec.realServers[1].address"]);
    expect(fields(marked({ fwmark: 7, sorryServer: { address: "2001:db8::99", port: 80 } }))).toEqual([
      "spec.sorryServer.address",
    ]);
    // The nftables dataplane selects by address and port: it refuses fwmark services by name.
    expect(nftablesProblems(marked({ fwmark: 7 }) as never)).toEqual([
      expect.stringMatching(/spec\.fwmark: .*IPVS backend/),
    ]);
    expect(nftablesProblems(vs({}) as never)).toEqual([]);
  });

  it("health-check jobs per real server, with the check's own port where given", () => {
    const jobs = checkJobs(
      vs({ healthCheck: { httpGet: { path: "/health", port: 9000 }, interval: "2s", fall: 3 } }) as never,
    );
    expect(jobs).toEqual([
      expect.objectContaining({
        server: "198.18.0.13:8080",
        target: { address: "198.18.0.13", port: 9000 },
        spec: { type: "http", path: "/health", statusCodes: [200] },
        intervalMs: 2000,
        fall: 3,
        retries: 1,
      }),
    ]);
  });

  it("in the agent's file, a routerRef must name a VirtualRouter of the file", () => {
    expect(() =>
      parseConfig(`apiVersion: vipkeeper.io/v1alpha1
kind: VirtualServer
metadata: {name: web}
spec: {address: 198.18.0.50, port: 80, routerRef: nope, realServers: [{address: 198.18.0.13, port: 80}]}
`),
    ).toThrow("spec.routerRef: no VirtualRouter named nope");
  });
});
