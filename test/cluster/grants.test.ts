// What a namespace may attach to a VirtualRouter: each rule tried, refused with the field named, and
// allowed where the router's grant says so.
import { describe, expect, it } from "vitest";
import {
  endpointConflicts,
  nodeAddressSet,
  nodeLocalKind,
  refusal,
  type GrantContext,
} from "../../src/cluster/grants.ts";
import type { VirtualRouterSpec } from "../../src/api/virtual-router.ts";
import type { VirtualServer, VirtualServerSpec } from "../../src/api/virtual-server.ts";

const vs = (spec: Partial<VirtualServerSpec>, namespace = "team-a"): VirtualServer => ({
  apiVersion: "vipkeeper.io/v1alpha1",
  kind: "VirtualServer",
  metadata: { name: "web", namespace },
  spec: {
    address: "198.18.0.50",
    port: 80,
    routerRef: "vip",
    realServers: [{ address: "198.18.0.13", port: 8080 }],
    ...spec,
  },
});

type Grants = NonNullable<VirtualRouterSpec["virtualServers"]>["from"];
const byName = (ns: string) => ({ matchLabels: { "kubernetes.io/metadata.name": ns } });

const ctx = (from: Grants | undefined, over: Partial<GrantContext> = {}): GrantContext => ({
  router: {
    metadata: { name: "vip" },
    spec: {
      addresses: [{ address: "198.18.0.50/24" }, { address: "2001:db8::50/64" }],
      ...(from ? { virtualServers: { from } } : {}),
    },
  },
  namespaceLabels: { "kubernetes.io/metadata.name": "team-a", team: "a" },
  allowScripts: true,
  nodeAddresses: nodeAddressSet([["198.18.0.11", "198.18.0.12/24"], ["2001:db8::11"]]),
  ...over,
});

describe("VirtualServer grants", () => {
  it("grants nothing by default: a router without spec.virtualServers takes no namespace's VirtualServer", () => {
    expect(refusal(vs({}), ctx(undefined))).toEqual({
      rule: "NamespaceNotAllowed",
      message:
        "spec.routerRef: VirtualRouter vip grants no VirtualServers to namespace team-a (spec.virtualServers.from)",
    });
  });

  it("grants by namespace selector, on the router's own addresses by default", () => {
    expect(refusal(vs({}), ctx([{ namespaceSelector: byName("team-a") }]))).toBeUndefined();
    expect(refusal(vs({}), ctx([{ namespaceSelector: { matchLabels: { team: "a" } } }]))).toBeUndefined();
    const teamB = { namespaceLabels: { "kubernetes.io/metadata.name": "team-b" } };
    expect(refusal(vs({}, "team-b"), ctx([{ namespaceSelector: byName("team-a") }], teamB))).toMatchObject({
      rule: "NamespaceNotAllowed",
    });
    // An unknown namespace (not in the cache) is granted nothing, even by an empty selector.
    expect(refusal(vs({}), ctx([{ namespaceSelector: {} }], { namespaceLabels: undefined }))).toMatchObject({
      rule: "NamespaceNotAllowed",
    });
  });

  it("refuses a router the VirtualServer does not name or that does not exist", () => {
    expect(refusal(vs({ routerRef: "other" }), ctx([{ namespaceSelector: {} }]))).toMatchObject({
      rule: "RouterNotFound",
      message: "spec.routerRef: no VirtualRouter other",
    });
  });

  it("refuses an address that is not the router's own (or not in the grant's list)", () => {
    const own = ctx([{ namespaceSelector: {} }]);
    // Another address in the router's subnet is not the router's address.
    expect(refusal(vs({ address: "198.18.0.51" }), own)).toEqual({
      rule: "AddressNotAllowed",
      message:
        "spec.address 198.18.0.51: VirtualRouter vip does not grant it to namespace team-a (spec.virtualServers.from[0].addresses: the router's own addresses)",
    });
    expect(refusal(vs({ address: "2001:db8:0::50" }), own)).toBeUndefined();
    const listed = ctx([{ namespaceSelector: {}, addresses: ["198.18.0.64/28"] }]);
    expect(refusal(vs({ address: "198.18.0.70" }), listed)).toBeUndefined();
    expect(refusal(vs({ address: "198.18.0.50" }), listed)).toMatchObject({ rule: "AddressNotAllowed" });
    expect(refusal(vs({ address: "2001:db8::50" }), listed)).toMatchObject({ rule: "AddressNotAllowed" });
  });

  it("refuses a port or protocol outside the grant's ports", () => {
    const g = ctx([
      {
        namespaceSelector: {},
        ports: [
          { port: 80, protocol: "TCP" },
          { port: 8000, endPort: 8100 },
        ],
      },
    ]);
    expect(refusal(vs({ port: 80 }), g)).toBeUndefined();
    expect(refusal(vs({ port: 8050, protocol: "UDP" }), g)).toBeUndefined();
    expect(refusal(vs({ port: 80, protocol: "UDP" }), g)).toEqual({
      rule: "PortNotAllowed",
      message:
        "spec.port 80/UDP: VirtualRouter vip does not grant it to namespace team-a (spec.virtualServers.from[0].ports)",
    });
    expect(refusal(vs({ port: 22 }), g)).toMatchObject({ rule: "PortNotAllowed" });
  });

  it("refuses a firewall mark unless the grant lists it", () => {
    const marked = vs({ fwmark: 7 });
    delete (marked.spec as Partial<VirtualServerSpec>).address;
    delete (marked.spec as Partial<VirtualServerSpec>).port;
    expect(refusal(marked, ctx([{ namespaceSelector: {} }]))).toMatchObject({ rule: "FwmarkNotAllowed" });
    expect(refusal(marked, ctx([{ namespaceSelector: {}, fwmarks: [7] }]))).toBeUndefined();
  });

  it("runs no exec check unless the router allows it to the namespace and the agent allows scripts", () => {
    const exec = vs({ healthCheck: { exec: { command: "touch /tmp/pwned" } } });
    expect(refusal(exec, ctx([{ namespaceSelector: {} }]))).toEqual({
      rule: "ExecNotAllowed",
      message:
        "spec.healthCheck.exec: VirtualRouter vip does not allow exec checks to namespace team-a (spec.virtualServers.from[0].allowExec); the command was not run",
    });
    const allowed = [{ namespaceSelector: {}, allowExec: true }];
    expect(refusal(exec, ctx(allowed, { allowScripts: false }))).toEqual({
      rule: "ExecNotAllowed",
      message: "spec.healthCheck.exec: the agent runs without --allow-scripts; the command was not run",
    });
    expect(refusal(exec, ctx(allowed))).toBeUndefined();
  });

  it("refuses real servers and sorry servers on node-local addresses unless allowed", () => {
    const g = ctx([{ namespaceSelector: {} }]);
    const server = (address: string) =>
      vs({
        realServers: [
          { address: "198.18.0.13", port: 80 },
          { address, port: 80 },
        ],
      });
    for (const [address, kind] of [
      ["127.0.0.1", "loopback"],
      ["::1", "loopback"],
      ["::ffff:127.0.0.1", "loopback"],
      ["169.254.169.254", "link-local"],
      ["fe80::1", "link-local"],
      ["0.0.0.0", "unspecified"],
      ["198.18.0.12", "an address of a node"],
      ["2001:db8:0:0::11", "an address of a node"],
    ])
      expect(refusal(server(address!), g), address).toEqual({
        rule: "RealServerNotAllowed",
        message: `spec.realServers[1].address ${address} is ${kind}: VirtualRouter vip does not allow node-local real servers to namespace team-a (spec.virtualServers.from[0].allowNodeLocal)`,
      });
    expect(refusal(vs({ sorryServer: { address: "127.0.0.1", port: 80 } }), g)).toMatchObject({
      rule: "RealServerNotAllowed",
    });
    expect(refusal(vs({ sorryServer: { address: "127.0.0.1", port: 80 } }), g)?.message).toMatch(
      /^spec.sorryServer.address 127.0.0.1 is loopback/,
    );
    expect(
      refusal(server("127.0.0.1"), ctx([{ namespaceSelector: {}, allowNodeLocal: true }])),
    ).toBeUndefined();
    expect(nodeLocalKind("198.18.0.13", new Set())).toBeUndefined();
  });

  it("a group is granted only when every address, port and mark in it is (not by leaving out address and port)", () => {
    const grouped = (group: VirtualServerSpec["group"]) => {
      const o = vs({ group });
      delete (o.spec as Partial<VirtualServerSpec>).address;
      delete (o.spec as Partial<VirtualServerSpec>).port;
      return o;
    };
    const g = ctx([{ namespaceSelector: {}, ports: [{ port: 80 }, { port: 443 }] }]);
    expect(
      refusal(
        grouped([
          { address: "198.18.0.50", port: 80 },
          { address: "2001:db8::50", port: 443 },
        ]),
        g,
      ),
    ).toBeUndefined();
    // An address of the range that is not the router's.
    expect(refusal(grouped([{ address: "198.18.0.50-198.18.0.51", port: 80 }]), g)).toEqual({
      rule: "AddressNotAllowed",
      message:
        "spec.group address 198.18.0.51: VirtualRouter vip does not grant it to namespace team-a (spec.virtualServers.from[0].addresses: the router's own addresses)",
    });
    expect(
      refusal(
        grouped([
          { address: "198.18.0.50", port: 80 },
          { address: "198.18.0.50", port: 22 },
        ]),
        g,
      ),
    ).toMatchObject({
      rule: "PortNotAllowed",
      message: expect.stringMatching(/^spec.group port 22\/TCP: /) as string,
    });
    expect(refusal(grouped([{ address: "198.18.0.50", port: 80 }, { fwmark: 9 }]), g)).toMatchObject({
      rule: "FwmarkNotAllowed",
    });
    // Two objects serving one address and port through a group conflict like any others.
    const a = {
      ...grouped([{ address: "198.18.0.50", port: 80 }]),
      metadata: { name: "a", namespace: "team-a", creationTimestamp: "2026-01-01T00:00:00Z" },
    } as VirtualServer;
    const b = {
      ...vs({}),
      metadata: { name: "b", namespace: "team-b", creationTimestamp: "2026-01-02T00:00:00Z" },
    } as VirtualServer;
    expect(endpointConflicts([b, a]).get(b)?.message).toMatch(
      /TCP 198.18.0.50:80 is already served by VirtualServer team-a\/a/,
    );
  });

  it("probes a check target only where a real server could be: node-local targets need allowNodeLocal", () => {
    const probe = vs({
      realServers: [
        {
          address: "198.18.0.13",
          port: 25,
          checkTargets: [{ address: "198.18.0.14" }, { address: "127.0.0.1" }],
        },
      ],
    });
    expect(refusal(probe, ctx([{ namespaceSelector: {} }]))).toEqual({
      rule: "RealServerNotAllowed",
      message:
        "spec.realServers[0].checkTargets[1].address 127.0.0.1 is loopback: VirtualRouter vip does not allow node-local real servers to namespace team-a (spec.virtualServers.from[0].allowNodeLocal)",
    });
    expect(refusal(probe, ctx([{ namespaceSelector: {}, allowNodeLocal: true }]))).toBeUndefined();
  });

  it("allows when any one grant for the namespace allows all of it, else tells the first grant's refusal", () => {
    const exec = vs({ port: 443, healthCheck: { exec: { command: "true" } } });
    const two: Grants = [
      { namespaceSelector: byName("team-a"), ports: [{ port: 80 }], allowExec: true },
      { namespaceSelector: { matchLabels: { team: "a" } }, ports: [{ port: 443 }] },
    ];
    expect(refusal(exec, ctx(two))).toMatchObject({ rule: "PortNotAllowed" });
    two.push({ namespaceSelector: {}, ports: [{ port: 443 }], allowExec: true });
    expect(refusal(exec, ctx(two))).toBeUndefined();
  });

  it("of VirtualServers that select the same traffic, the oldest keeps it and the others are refused", () => {
    const at = (v: VirtualServer, name: string, namespace: string, t: string): VirtualServer => ({
      ...v,
      metadata: { name, namespace, creationTimestamp: t } as VirtualServer["metadata"],
    });
    const first = at(vs({}), "web", "team-a", "2026-01-01T00:00:00Z");
    const copy = at(
      vs({ realServers: [{ address: "198.18.0.99", port: 80 }] }),
      "steal",
      "team-b",
      "2026-01-02T00:00:00Z",
    );
    const udp = at(vs({ protocol: "UDP" }), "dns", "team-b", "2026-01-02T00:00:00Z");
    const marked = (name: string, t: string) =>
      at(vs({ address: undefined, port: undefined, fwmark: 5 }), name, "team-a", t);
    const conflicts = endpointConflicts([
      copy,
      udp,
      first,
      marked("m2", "2026-01-04T00:00:00Z"),
      marked("m1", "2026-01-03T00:00:00Z"),
    ]);
    expect([...conflicts.keys()].map((v) => v.metadata.name).sort()).toEqual(["m2", "steal"]);
    expect(conflicts.get(copy)).toEqual({
      rule: "EndpointInUse",
      message: "spec.address: TCP 198.18.0.50:80 is already served by VirtualServer team-a/web",
    });
    // Created in the same second: the name decides, unless one is already programmed.
    const twin = at(vs({}), "a-twin", "team-a", "2026-01-01T00:00:00Z");
    expect(endpointConflicts([first, twin]).get(first)?.message).toContain("team-a/a-twin");
    expect(endpointConflicts([first, twin], (v) => v === first).get(twin)?.message).toContain("team-a/web");
  });
});
