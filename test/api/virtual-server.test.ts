// VirtualServer validation: what the schema says and what it cannot, each naming the field.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/file-mode/config-file.ts";
import { servedEndpoints, validateVirtualServer } from "../../src/api/virtual-server.ts";
import { checkJobs, nftablesProblems, toVirtualService, toVirtualServices } from "../../src/lb/from-api.ts";

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

  it("group: addresses, ranges and fwmarks served alike; servedEndpoints lists them all; one dataplane service each", () => {
    const grouped = (spec: Record<string, unknown>) => {
      const o = vs(spec);
      delete (o.spec as Record<string, unknown>).address;
      delete (o.spec as Record<string, unknown>).port;
      return o;
    };
    const fields = (o: unknown) => validateVirtualServer(o).map((e) => e.field);
    const g = grouped({
      group: [
        { address: "198.18.0.50", port: 80 },
        { address: "198.18.0.60-198.18.0.62", port: 8080 },
        { fwmark: 7 },
      ],
      protocol: "UDP",
    });
    expect(validateVirtualServer(g)).toEqual([]);
    expect(servedEndpoints(g.spec as never)).toEqual([
      { address: "198.18.0.50", port: 80, protocol: "UDP" },
      { address: "198.18.0.60", port: 8080, protocol: "UDP" },
      { address: "198.18.0.61", port: 8080, protocol: "UDP" },
      { address: "198.18.0.62", port: 8080, protocol: "UDP" },
      { fwmark: 7, protocol: "UDP" },
    ]);
    // The single forms answer the same function.
    expect(servedEndpoints(vs({}).spec as never)).toEqual([
      { address: "198.18.0.50", port: 80, protocol: "TCP" },
    ]);
    expect(servedEndpoints(grouped({ fwmark: 9 }).spec as never)).toEqual([{ fwmark: 9, protocol: "TCP" }]);
    const svcs = toVirtualServices(g as never);
    expect(svcs.map((s) => [s.key, s.address, s.port, s.fwmark])).toEqual([
      ["shop/web", "198.18.0.50", 80, undefined],
      ["shop/web#1", "198.18.0.60", 8080, undefined],
      ["shop/web#2", "198.18.0.61", 8080, undefined],
      ["shop/web#3", "198.18.0.62", 8080, undefined],
      ["shop/web#4", "", 0, 7],
    ]);
    expect(svcs.every((s) => s.family === 4 && s.protocol === "udp" && s.realServers.length === 1)).toBe(
      true,
    );
    expect(nftablesProblems(g as never)).toEqual([expect.stringMatching(/spec\.group: .*IPVS backend/)]);
    // One of group, fwmark, or address and port.
    expect(fields(vs({ group: [{ fwmark: 7 }] }))).toEqual(["spec.group"]);
    expect(fields(grouped({ group: [{ fwmark: 7 }], fwmark: 8 }))).toEqual(["spec.group"]);
    expect(fields(grouped({ group: [{ address: "198.18.0.50" }] }))).toEqual(["spec.group[0]"]);
    expect(fields(grouped({ group: [{ address: "198.18.0.50", port: 80, fwmark: 7 }] }))).toEqual([
      "spec.group[0]",
    ]);
    expect(fields(grouped({ group: [{ address: "198.18.0.62-198.18.0.60", port: 80 }] }))).toEqual([
      "spec.group[0].address",
    ]);
    expect(
      fields(
        grouped({
          group: [
            { address: "198.18.0.50", port: 80 },
            { address: "2001:db8::50", port: 80 },
          ],
        }),
      ),
    ).toEqual(["spec.group[1].address"]);
    expect(
      fields(
        grouped({
          group: [
            { address: "198.18.0.50", port: 80 },
            { address: "198.18.0.49-198.18.0.51", port: 80 },
          ],
        }),
      ),
    ).toEqual(["spec.group"]);
    expect(fields(grouped({ group: [{ address: "198.18.0.0-198.18.8.0", port: 80 }] }))).toEqual([
      "spec.group",
    ]);
    expect(fields(grouped({ group: [{ address: "2001:db8::50", port: 80 }] }))).toEqual([
      "spec.realServers[0].address",
    ]);
  });

  it("real servers without a port only where marks alone select the traffic, and then with a port to check", () => {
    const fields = (o: unknown) => validateVirtualServer(o).map((e) => e.field);
    const marked = (spec: Record<string, unknown>) => {
      const o = vs(spec);
      delete (o.spec as Record<string, unknown>).address;
      delete (o.spec as Record<string, unknown>).port;
      return o;
    };
    const portless = [{ address: "198.18.0.13" }];
    expect(fields(marked({ fwmark: 7, realServers: portless, healthCheck: { tcp: { port: 80 } } }))).toEqual(
      [],
    );
    expect(fields(marked({ group: [{ fwmark: 7 }, { fwmark: 8 }], realServers: portless }))).toEqual([]);
    expect(fields(marked({ fwmark: 7, realServers: portless, healthCheck: { ping: {} } }))).toEqual([]);
    expect(fields(vs({ realServers: portless }))).toEqual(["spec.realServers[0].port"]);
    expect(
      fields(marked({ group: [{ fwmark: 7 }, { address: "198.18.0.50", port: 80 }], realServers: portless })),
    ).toEqual(["spec.realServers[0].port"]);
    expect(fields(marked({ fwmark: 7, realServers: portless, healthCheck: { tcp: {} } }))).toEqual([
      "spec.realServers[0].port",
    ]);
    // Port 0 in the dataplane: IPVS keeps the packet's own port.
    expect(toVirtualService(marked({ fwmark: 7, realServers: portless }) as never).realServers[0]).toEqual({
      address: "198.18.0.13",
      port: 0,
      weight: 1,
    });
    const [job] = checkJobs(
      marked({ fwmark: 7, realServers: portless, healthCheck: { tcp: { port: 80 } } }) as never,
    );
    expect(job).toMatchObject({ server: "198.18.0.13:0", target: { address: "198.18.0.13", port: 80 } });
  });

  it("check jobs for keepalived's checks: every url, SMTP with its helo, ping, and a real server's check targets", () => {
    const [http] = checkJobs(
      vs({
        healthCheck: {
          httpGet: {
            path: "/a",
            digest: "0123456789abcdef0123456789abcdef",
            urls: [{ path: "/b", statusCodes: [201] }],
          },
        },
      }) as never,
    );
    expect(http!.spec).toEqual({
      type: "http",
      path: "/a",
      statusCodes: [200],
      digest: "0123456789abcdef0123456789abcdef",
      more: [{ path: "/b", statusCodes: [201] }],
    });
    const [smtp] = checkJobs(
      vs({
        port: 25,
        realServers: [
          {
            address: "198.18.0.13",
            port: 25,
            checkTargets: [{ address: "198.18.0.13" }, { address: "198.18.1.13", port: 587 }],
          },
        ],
        healthCheck: { smtp: { helo: "foo.bar.com" } },
      }) as never,
    );
    expect(smtp).toMatchObject({
      spec: { type: "smtp", helo: "foo.bar.com" },
      target: { address: "198.18.0.13", port: 25 },
      targets: [
        { address: "198.18.0.13", port: 25 },
        { address: "198.18.1.13", port: 587 },
      ],
    });
    expect(checkJobs(vs({ healthCheck: { smtp: {} } }) as never)[0]!.spec).toEqual({
      type: "smtp",
      helo: "smtpchecker.keepalived.org",
    });
    expect(checkJobs(vs({ healthCheck: { ping: {} } }) as never)[0]!.spec).toEqual({ type: "ping" });
    expect(validateVirtualServer(vs({ healthCheck: { ping: {}, tcp: {} } })).map((e) => e.field)).toEqual([
      "spec.healthCheck",
    ]);
    expect(
      validateVirtualServer(
        vs({ realServers: [{ address: "198.18.0.13", port: 25, checkTargets: [{ address: "mx" }] }] }),
      ).map((e) => e.field),
    ).toEqual(["spec.realServers[0].checkTargets[0].address"]);
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
