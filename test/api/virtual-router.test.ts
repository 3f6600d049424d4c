import { describe, expect, it } from "vitest";
import { parseDuration } from "../../src/api/duration.ts";
import { fieldPath } from "../../src/api/field-errors.ts";
import { validateVirtualRouter } from "../../src/api/virtual-router.ts";

const valid = () => ({
  apiVersion: "vipkeeper.io/v1alpha1",
  kind: "VirtualRouter",
  metadata: { name: "web" },
  spec: {
    vrid: 51,
    interface: "eth0",
    addresses: [{ address: "198.18.0.50/24" }, { address: "2001:db8::50/64" }],
    priorities: [
      { node: "n1", priority: 150 },
      { node: "n2", priority: 100 },
    ],
  },
});

type Obj = ReturnType<typeof valid> & { spec: Record<string, unknown> };
const withSpec = (patch: Record<string, unknown>): Obj => {
  const o = valid() as Obj;
  o.spec = { ...o.spec, ...patch };
  return o;
};
const fields = (o: unknown) => validateVirtualRouter(o).map((e) => `${e.field}: ${e.message}`);

describe("VirtualRouter validation", () => {
  it("accepts an API object with the metadata a cluster adds, and its status", () => {
    const o = {
      ...valid(),
      metadata: {
        name: "web",
        uid: "5c3a9f7e-1d2b-4c6e-9a8f-0b1c2d3e4f50",
        resourceVersion: "77",
        generation: 2,
        labels: { "vipkeeper.io/pool": "public" },
        finalizers: ["vipkeeper.io/release"],
        deletionTimestamp: "2026-11-25T09:00:00Z",
        managedFields: [{ manager: "vipkeeper-agent-n1", operation: "Apply", subresource: "status" }],
      },
      status: { vrid: 51, master: "n1", nodes: [{ name: "n1", state: "Master" }] },
    };
    expect(validateVirtualRouter(o)).toEqual([]);
  });

  it("accepts a valid router", () => {
    expect(fields(valid())).toEqual([]);
    expect(fields(withSpec({ virtualMAC: { advertsOnParent: true } }))).toEqual([]);
    expect(
      fields(withSpec({ virtualMAC: {}, addresses: [{ address: "198.18.0.50", label: "vrrp.51:x" }] })),
    ).toEqual([]);
    expect(
      fields(
        withSpec({
          routes: [
            { to: "198.18.5.0/24", via: "198.18.0.1", src: "198.18.0.50", table: 100, metric: 5 },
            { to: "::/0", via: "2001:db8::1" },
            { to: "198.18.6.0/24", type: "Blackhole" },
          ],
          rules: [
            { from: "198.18.0.50", table: 100, priority: 100 },
            { fwmark: 3, fwmask: 255, table: 100 },
          ],
        }),
      ),
    ).toEqual([]);
    expect(
      fields(withSpec({ addresses: [{ address: "198.18.0.50" }], virtualMAC: { interface: "vmac51" } })),
    ).toEqual([]);
  });

  it.each([
    ["vrid 0", { vrid: 0 }, "spec.vrid"],
    ["vrid 256", { vrid: 256 }, "spec.vrid"],
    ["version 4", { version: 4 }, "spec.version"],
    ["no addresses", { addresses: [] }, "spec.addresses"],
    ["a bad address", { addresses: [{ address: "198.18.0.500/24" }] }, "spec.addresses[0].address"],
    ["a prefix too long", { addresses: [{ address: "198.18.0.50/33" }] }, "spec.addresses[0].address"],
    [
      "a duplicate address",
      { addresses: [{ address: "198.18.0.50/24" }, { address: "198.18.0.50/32" }] },
      "spec.addresses[1].address",
    ],
    ["v2 with IPv6", { version: 2, addresses: [{ address: "2001:db8::50/64" }] }, "spec.version"],
    ["PASS with v3", { authentication: { type: "PASS", password: "x" } }, "spec.authentication"],
    [
      "a password over 8",
      {
        version: 2,
        addresses: [{ address: "198.18.0.50" }],
        authentication: { type: "PASS", password: "123456789" },
      },
      "spec.authentication.password",
    ],
    ["priority 0", { priorities: [{ node: "n1", priority: 0 }] }, "spec.priorities[0].priority"],
    [
      "a node twice",
      {
        priorities: [
          { node: "n1", priority: 1 },
          { node: "n1", priority: 2 },
        ],
      },
      "spec.priorities[1].node",
    ],
    [
      "v2 with 1.5s",
      { version: 2, addresses: [{ address: "198.18.0.50" }], advertInterval: "1500ms" },
      "spec.advertInterval",
    ],
    ["v3 with 5ms", { advertInterval: "5ms" }, "spec.advertInterval"],
    ["a malformed duration", { advertInterval: "fast" }, "spec.advertInterval"],
    ["an unknown field", { vird: 5 }, "spec.vird"],
    [
      "a label on IPv6",
      { addresses: [{ address: "2001:db8::50", label: "eth0:x" }] },
      "spec.addresses[0].label",
    ],
    [
      "a label not starting with the interface",
      { addresses: [{ address: "198.18.0.50", label: "eth1:x" }] },
      "spec.addresses[0].label",
    ],
    [
      "a label naming the parent for an address on the virtual MAC's interface",
      { virtualMAC: {}, addresses: [{ address: "198.18.0.50", label: "eth0:x" }] },
      "spec.addresses[0].label",
    ],
    ["a bad unicast peer", { unicast: { peers: ["nope"] } }, "spec.unicast.peers[0]"],
    [
      "a peer of a family with no address",
      { addresses: [{ address: "198.18.0.50" }], unicast: { peers: ["2001:db8::12"] } },
      "spec.unicast.peers[0]",
    ],
    [
      "a virtual MAC name on a dual-stack router",
      { virtualMAC: { interface: "vmac51" } },
      "spec.virtualMAC.interface",
    ],
    [
      "a virtual MAC named like its parent",
      { addresses: [{ address: "198.18.0.50" }], virtualMAC: { interface: "eth0" } },
      "spec.virtualMAC.interface",
    ],
    [
      "a virtual MAC name Linux refuses",
      { addresses: [{ address: "198.18.0.50" }], virtualMAC: { interface: "vrrp/51" } },
      "spec.virtualMAC.interface",
    ],
    ["a route that is no prefix", { routes: [{ to: "198.18.5.0/33", dev: "eth0" }] }, "spec.routes[0].to"],
    [
      "a route of a family with no virtual address",
      { addresses: [{ address: "198.18.0.50" }], routes: [{ to: "2001:db8:5::/64", dev: "eth0" }] },
      "spec.routes[0].to",
    ],
    [
      "a gateway of another family",
      { routes: [{ to: "198.18.5.0/24", via: "2001:db8::1" }] },
      "spec.routes[0].via",
    ],
    ["a unicast route going nowhere", { routes: [{ to: "198.18.5.0/24" }] }, "spec.routes[0]"],
    [
      "a blackhole with a gateway",
      { routes: [{ to: "198.18.5.0/24", type: "Blackhole", via: "198.18.0.1" }] },
      "spec.routes[0].type",
    ],
    [
      "the local table",
      { routes: [{ to: "198.18.5.0/24", dev: "eth0", table: 255 }] },
      "spec.routes[0].table",
    ],
    [
      "a route twice",
      {
        routes: [
          { to: "198.18.5.0/24", dev: "eth0" },
          { to: "198.18.5.0/24", via: "198.18.0.1" },
        ],
      },
      "spec.routes[1].to",
    ],
    ["a rule without a table", { rules: [{ from: "198.18.0.50" }] }, "spec.rules[0].table"],
    ["a rule from no prefix", { rules: [{ from: "198.18.0./24", table: 2 }] }, "spec.rules[0].from"],
    [
      "a rule mixing families",
      { rules: [{ from: "198.18.0.0/24", to: "2001:db8::/64", table: 2 }] },
      "spec.rules[0].to",
    ],
    ["a mask without a mark", { rules: [{ fwmask: 255, table: 2 }] }, "spec.rules[0].fwmask"],
  ])("rejects %s, naming the field", (_name, patch, field) => {
    const errors = fields(withSpec(patch));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.some((e) => e.startsWith(`${field}: `))).toBe(true);
  });

  it("names missing required fields", () => {
    const o = valid() as { spec: Record<string, unknown> };
    delete o.spec.addresses;
    expect(fields(o)).toContain("spec.addresses: is required");
  });
});

describe("helpers", () => {
  it("parses durations as Kubernetes writes them", () => {
    expect(parseDuration("1s")).toBe(1000);
    expect(parseDuration("100ms")).toBe(100);
    expect(parseDuration("1m30s")).toBe(90_000);
    expect(parseDuration("0")).toBe(0);
    expect(parseDuration("1.5s")).toBe(1500);
    expect(parseDuration("")).toBeUndefined();
    expect(parseDuration("1x")).toBeUndefined();
    expect(parseDuration("s")).toBeUndefined();
  });

  it("turns JSON pointers into field paths", () => {
    expect(fieldPath("/spec/addresses/1/address")).toBe("spec.addresses[1].address");
    expect(fieldPath("")).toBe("");
  });
});
