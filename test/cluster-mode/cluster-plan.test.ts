import { describe, expect, it } from "vitest";
import {
  decideRouters,
  interfaceFor,
  PlanCache,
  type ClusterInputs,
  type HostAddress,
} from "../../src/cluster-mode/cluster-plan.ts";
import type { ClusterNode, RouterObject } from "../../src/cluster/routers.ts";

const host: HostAddress[] = [
  { interfaceName: "lo", family: 4, address: "127.0.0.1", prefixLength: 8 },
  { interfaceName: "eth0", family: 4, address: "198.18.0.1", prefixLength: 24 },
  { interfaceName: "eth0", family: 6, address: "fe80::1", prefixLength: 64 },
  { interfaceName: "eth1", family: 6, address: "2001:db8:1::1", prefixLength: 64 },
];
const nodes: ClusterNode[] = [
  { name: "n1", labels: { role: "lb" }, addresses: ["198.18.0.1"] },
  { name: "n2", labels: { role: "lb" }, addresses: ["198.18.0.2"] },
];

function router(
  spec: Partial<RouterObject["spec"]> = {},
  status: RouterObject["status"] = { vrid: 7 },
): RouterObject {
  return {
    apiVersion: "vipkeeper.io/v1alpha1",
    kind: "VirtualRouter",
    metadata: { name: "web" },
    spec: { addresses: [{ address: "198.18.0.100/24" }], ...spec },
    status,
  };
}

function inputs(over: Partial<ClusterInputs> = {}): ClusterInputs {
  return {
    node: "n1",
    routers: [router()],
    nodes,
    host,
    allowScripts: false,
    secret: () => undefined,
    ...over,
  };
}

describe("cluster mode: what this node runs", () => {
  it("a PlanCache gives the same decisions as none, with instances of their own; it keeps only the last pass's plans", () => {
    const cache = new PlanCache();
    const many = inputs({
      routers: [
        router(),
        { ...router({ addresses: [{ address: "198.18.0.101/24" }] }), metadata: { name: "db" } },
      ],
    });
    const fresh = decideRouters(many);
    const first = decideRouters(many, cache);
    const second = decideRouters(many, cache);
    expect(first).toEqual(fresh);
    expect(second).toEqual(fresh);
    expect(cache.size).toBe(2);
    const [a, b] = [first[0], second[0]];
    if (!a?.run || !b?.run) throw new Error("both run");
    expect(b.plan.instances[0]).not.toBe(a.plan.instances[0]);
    // Sources are each pass's own: a Node more is in the next pass's plan, from the same cache.
    const more = decideRouters(
      { ...many, nodes: [...nodes, { name: "n3", labels: {}, addresses: ["198.18.0.3"] }] },
      cache,
    )[0];
    if (!more?.run) throw new Error("runs");
    expect(more.plan.instances[0]?.sources).toEqual({
      kind: "nodes",
      addresses: ["198.18.0.1", "198.18.0.2", "198.18.0.3"],
    });
    expect(b.plan.instances[0]?.sources).toEqual({ kind: "nodes", addresses: ["198.18.0.1", "198.18.0.2"] });
    // A changed router is planned again; the old plan is gone after the pass.
    const changed = decideRouters(
      inputs({ routers: [router({ priority: 120 } as Partial<RouterObject["spec"]>)] }),
      cache,
    );
    expect(changed[0]).toEqual(
      decideRouters(inputs({ routers: [router({ priority: 120 } as Partial<RouterObject["spec"]>)] }))[0],
    );
    expect(cache.size).toBe(1);
  });

  it("runs a router once the controller gave it a VRID, on the interface of the VIP's subnet", () => {
    const [d] = decideRouters(inputs());
    expect(d?.run).toBe(true);
    if (!d?.run) return;
    expect(d.plan.instances.map((i) => [i.key, i.vrid, i.interfaceName])).toEqual([["web/ipv4", 7, "eth0"]]);
  });

  it("carries the virtual MAC (named from the controller's VRID), routes and rules into the plan", () => {
    const [d] = decideRouters(
      inputs({
        routers: [
          router({
            virtualMAC: {},
            routes: [{ to: "198.19.5.0/24", via: "198.18.0.254" }],
            rules: [{ from: "198.18.0.100", table: 100 }],
          }),
        ],
      }),
    );
    expect(d?.run).toBe(true);
    if (!d?.run) return;
    const [i] = d.plan.instances;
    expect(i?.vmac).toEqual({ name: "vrrp.7", mac: "00:00:5e:00:01:07", advertsOnParent: false });
    expect(i?.addresses.map((a) => a.dev)).toEqual(["vrrp.7"]);
    expect(i?.interfaceName).toBe("eth0");
    expect(i?.routes).toEqual([
      {
        family: 4,
        to: { address: "198.19.5.0", prefixLength: 24 },
        via: "198.18.0.254",
        table: 254,
        type: "Unicast",
        scope: "Global",
      },
    ]);
    expect(i?.rules).toEqual([
      { family: 4, from: { address: "198.18.0.100", prefixLength: 32 }, table: 100 },
    ]);
  });

  it("waits for the controller's VRID", () => {
    expect(decideRouters(inputs({ routers: [router({}, {})] }))[0]).toMatchObject({
      run: false,
      reason: expect.stringMatching(/status.vrid/) as string,
    });
    expect(decideRouters(inputs({ routers: [router({ vrid: 9 })] }))[0]).toMatchObject({
      run: false,
      reason: expect.stringMatching(/spec.vrid 9, status.vrid 7/) as string,
    });
  });

  it("leaves out routers that do not select this node", () => {
    expect(decideRouters(inputs({ routers: [router({ nodeSelector: { role: "db" } })] }))).toEqual([]);
  });

  it("stops for maintenance and deletion", () => {
    const maint = nodes.map((n) =>
      n.name === "n1" ? { ...n, labels: { ...n.labels, "vipkeeper.io/maintenance": "true" } } : n,
    );
    expect(decideRouters(inputs({ nodes: maint }))[0]).toMatchObject({
      run: false,
      reason: expect.stringMatching(/maintenance/) as string,
    });
    const going = { ...router(), metadata: { name: "web", deletionTimestamp: "2026-11-25T00:00:00Z" } };
    expect(decideRouters(inputs({ routers: [going] }))[0]).toMatchObject({
      run: false,
      reason: expect.stringMatching(/deleted/) as string,
    });
  });

  it("runs track scripts only where the agent allows scripts; drops notify scripts with a note", () => {
    const tracked = router({ track: { scripts: [{ name: "haproxy", command: "killall -0 haproxy" }] } });
    expect(decideRouters(inputs({ routers: [tracked] }))[0]).toMatchObject({
      run: false,
      reason: expect.stringMatching(/spec.track.scripts.*--allow-scripts/) as string,
    });
    expect(decideRouters(inputs({ routers: [tracked], allowScripts: true }))[0]?.run).toBe(true);
    const notifying = router({ notify: { scripts: { master: "touch /tmp/x" } } });
    const [d] = decideRouters(inputs({ routers: [notifying] }));
    expect(d?.run && d.notes).toEqual(["spec.notify.scripts are not run: this agent does not run scripts"]);
    expect(d?.run && d.plan.instances[0]?.notify.master).toBeUndefined();
    // A sync group's scripts likewise: an object in the cluster never runs a command on a node.
    const group = router({ syncGroup: "pair", notify: { syncGroupScripts: { master: "touch /tmp/x" } } });
    const [g] = decideRouters(inputs({ routers: [group] }));
    expect(g?.run && g.notes).toEqual([
      "spec.notify.syncGroupScripts are not run: this agent does not run scripts",
    ]);
    expect(g?.run && g.plan.instances[0]?.syncGroupNotify).toBeUndefined();
    const [allowed] = decideRouters(inputs({ routers: [group], allowScripts: true }));
    expect(allowed?.run && allowed.plan.instances[0]?.syncGroupNotify).toEqual({
      group: "pair",
      master: "touch /tmp/x",
    });
  });

  it("reads a VRRPv2 password from a Secret, and says which key is missing", () => {
    const v2 = router({
      version: 2,
      authentication: { type: "PASS", secretRef: { name: "vrrp", key: "password" } },
    });
    const found = decideRouters(
      inputs({ routers: [v2], secret: (n, k) => (n === "vrrp" && k === "password" ? "s3cret" : undefined) }),
    )[0];
    expect(found?.run && found.plan.instances[0]?.auth).toEqual({ type: "pass", password: "s3cret" });
    expect(decideRouters(inputs({ routers: [v2] }))[0]).toMatchObject({
      run: false,
      reason: "spec.authentication.secretRef: Secret vrrp has no key password here",
    });
  });

  it("fills unicast peers without this node's own address", () => {
    const [d] = decideRouters(inputs({ routers: [router({ unicast: {} })] }));
    expect(d?.run && d.plan.instances[0]?.unicastPeers).toEqual(["198.18.0.1", "198.18.0.2"]);
  });

  it("obeys in multicast only the nodes' IPv4 addresses, and any IPv6 link-local source (Nodes list none)", () => {
    const dual = router({ addresses: [{ address: "198.18.0.100/24" }, { address: "2001:db8:1::50/64" }] });
    const withV6 = [...nodes, { name: "n3", labels: {}, addresses: ["198.18.0.3", "2001:db8:1::3"] }];
    const [d] = decideRouters(inputs({ routers: [dual], nodes: withV6 }));
    expect(d?.run && d.plan.instances.map((i) => [i.key, i.sources])).toEqual([
      ["web/ipv4", { kind: "nodes", addresses: ["198.18.0.1", "198.18.0.2", "198.18.0.3"] }],
      ["web/ipv6", { kind: "link-local" }],
    ]);
  });

  it("leaves IPv4 multicast unfiltered, and says why, where the VRRP interface holds no Node address", () => {
    const elsewhere = [{ ...nodes[0]!, addresses: ["198.19.5.1"] }, nodes[1]!];
    const [d] = decideRouters(inputs({ nodes: elsewhere }));
    expect(d?.run && d.plan.instances[0]?.sources).toBeUndefined();
    expect(d?.run && d.notes.join()).toMatch(/adverts from any source on eth0 are obeyed.*198\.19\.5\.1/);
  });

  it("finds the interface by subnet, never a link-local or the VIP itself", () => {
    expect(interfaceFor(router({ addresses: [{ address: "2001:db8:1::50/64" }] }), host)).toBe("eth1");
    expect(interfaceFor(router({ addresses: [{ address: "198.19.0.50" }] }), host)).toBeUndefined();
    // A master with a virtual MAC holds its addresses on the macvlan: none of them names it.
    const master: HostAddress[] = [
      { interfaceName: "vrrp.51", family: 4, address: "198.18.0.50", prefixLength: 24 },
      { interfaceName: "vrrp.51", family: 4, address: "198.18.0.51", prefixLength: 24 },
      ...host,
    ];
    const two = router({ addresses: [{ address: "198.18.0.50/24" }, { address: "198.18.0.51/24" }] });
    expect(interfaceFor(two, master)).toBe("eth0");
    expect(
      decideRouters(inputs({ routers: [router({ addresses: [{ address: "198.19.0.50" }] })] }))[0],
    ).toMatchObject({
      run: false,
      reason: expect.stringMatching(/no interface .* 198.19.0.50/) as string,
    });
  });
});
