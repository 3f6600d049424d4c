import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/file-mode/config-file.ts";
import { planForNode } from "../../src/plan/plan.ts";

const ROUTER = `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: web}
spec:
  vrid: 51
  interface: eth0
  advertInterval: 100ms
  addresses:
    - address: 198.18.0.50/24
      label: eth0:web
    - address: 2001:db8::50/64
  priorities:
    - {node: n1, priority: 150}
    - {node: n2, priority: 100}
  unicast: {peers: [198.18.0.12, 2001:db8::12]}
  track:
    interfaces: [{name: eth1, weight: -20}]
`;

function problems(text: string): string[] {
  try {
    parseConfig(text, "f.yaml");
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe("agent config file", () => {
  it("plans one instance per family for a listed node", () => {
    const { routers } = parseConfig(ROUTER);
    const plan = planForNode(routers, "n1");
    expect(plan.skipped).toEqual([]);
    expect(plan.instances.map((i) => i.key)).toEqual(["web/ipv4", "web/ipv6"]);
    const [v4, v6] = plan.instances;
    expect(v4).toMatchObject({
      vrid: 51,
      version: 3,
      priority: 150,
      advertIntervalMs: 100,
      interfaceName: "eth0",
      addresses: [{ address: "198.18.0.50", prefixLength: 24, family: 4, dev: "eth0", label: "eth0:web" }],
      unicastPeers: ["198.18.0.12"],
      checksumForm: "pseudo-header",
      track: { interfaces: [{ name: "eth1", weight: -20 }], files: [] },
      garp: { delayMs: 5000, repeat: 5, intervalMs: 0, refreshMs: 0, refreshRepeat: 1 },
    });
    expect(v6).toMatchObject({
      addresses: [{ address: "2001:db8::50", prefixLength: 64 }],
      unicastPeers: ["2001:db8::12"],
    });
  });

  it("puts the addresses without a dev on the virtual MAC's interface, one per family", () => {
    const text = ROUTER.replace(
      "  advertInterval: 100ms\n",
      "  advertInterval: 100ms\n  virtualMAC: {}\n",
    ).replace("      label: eth0:web\n", "    - {address: 198.18.1.50/24, dev: eth1}\n");
    const [v4, v6] = planForNode(parseConfig(text).routers, "n1").instances;
    expect(v4!.vmac).toEqual({ name: "vrrp.51", mac: "00:00:5e:00:01:33", advertsOnParent: false });
    expect(v4!.addresses.map((a) => a.dev)).toEqual(["vrrp.51", "eth1"]);
    expect(v4!.interfaceName).toBe("eth0");
    expect(v6!.vmac).toEqual({ name: "vrrp6.51", mac: "00:00:5e:00:02:33", advertsOnParent: false });
    expect(v6!.addresses.map((a) => a.dev)).toEqual(["vrrp6.51"]);
  });

  it("skips routers that do not list the node, saying why", () => {
    const plan = planForNode(parseConfig(ROUTER).routers, "n3");
    expect(plan.instances).toEqual([]);
    expect(plan.skipped[0]?.reason).toContain("not in spec.priorities");
  });

  it("reports every problem with document, object and field, and loads nothing", () => {
    const text = `${ROUTER}---
apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: bad}
spec: {vrid: 300, interface: eth0, addresses: [{address: 198.18.0.51}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: x}
`;
    expect(problems(text)).toEqual([
      "document 2 (VirtualRouter bad): spec.vrid: must be <= 255",
      "document 3 (ConfigMap x): apiVersion: must be vipkeeper.io/v1alpha1, got v1",
    ]);
  });

  it("reports YAML syntax errors", () => {
    expect(problems("spec: [unclosed")[0]).toMatch(/^document 1: YAML: /);
  });

  it("rejects two routers with one VRID on one interface and family", () => {
    const second = ROUTER.replace("name: web", "name: api")
      .replace("198.18.0.50/24", "198.18.0.60/24")
      .replace("2001:db8::50/64", "2001:db8::60/64")
      .replace("label: eth0:web", "label: eth0:api");
    const found = problems(`${ROUTER}---\n${second}`);
    expect(found.some((p) => p.includes("spec.vrid: 51 is already used by web"))).toBe(true);
  });

  it("accepts an empty file and trailing document separators", () => {
    expect(parseConfig("").routers).toEqual([]);
    expect(parseConfig(`${ROUTER}---\n`).routers).toHaveLength(1);
  });
});
