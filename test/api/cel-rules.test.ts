// Every CEL rule in the CRDs, evaluated with @bufbuild/cel and Kubernetes' isIP / isCIDR (the test
// API server's evaluator, so both agree): each rejects a bad sample and accepts a good one, and the
// semantic validator (the authority for file mode and the controller) agrees on both samples.
import { describe, expect, it } from "vitest";
import { crds } from "../../src/api/crds.ts";
import { validateIPPool } from "../../src/api/ip-pool.ts";
import type { FieldError } from "../../src/api/field-errors.ts";
import { validateVirtualRouter } from "../../src/api/virtual-router.ts";
import { validateVirtualServer } from "../../src/api/virtual-server.ts";
import { applyDefaults, validate, type Schema } from "../kubeapi/schema.ts";

type Json = Record<string, unknown>;
interface Sample {
  good: Json;
  bad: Json;
}

const router = (spec: Json): Json => ({ addresses: [{ address: "198.18.0.50/24" }], ...spec });
const server = (spec: Json): Json => ({
  address: "198.18.0.50",
  port: 80,
  realServers: [{ address: "198.18.0.13", port: 8080 }],
  ...spec,
});
const marked = (spec: Json): Json => {
  const s = server(spec);
  delete s.address;
  delete s.port;
  return s;
};

/** Specs per rule, keyed by where the rule sits and the rule's text. */
const SAMPLES: Record<string, Sample> = {
  "VirtualRouter.spec !has(self.authentication) || self.version == 2": {
    good: router({ version: 2, authentication: { type: "PASS", password: "secret" } }),
    bad: router({ authentication: { type: "PASS", password: "secret" } }),
  },
  "VirtualRouter.spec self.version == 3 || self.addresses.all(a, !a.address.contains(':'))": {
    good: router({ version: 2 }),
    bad: router({ version: 2, addresses: [{ address: "2001:db8::50/64" }] }),
  },
  "VirtualRouter.spec self.addresses.all(a, self.addresses.exists_one(b, b.address == a.address))": {
    good: router({ addresses: [{ address: "198.18.0.50/24" }, { address: "198.18.0.51/24" }] }),
    bad: router({ addresses: [{ address: "198.18.0.50/24" }, { address: "198.18.0.50/24" }] }),
  },
  "VirtualRouter.spec.addresses[].address isIP(self) || isCIDR(self)": {
    good: router({ addresses: [{ address: "198.18.0.50" }, { address: "2001:db8::50/64" }] }),
    bad: router({ addresses: [{ address: "198.18.0.256/24" }] }),
  },
  "VirtualRouter.spec.virtualServers.from[].addresses[] isIP(self) || isCIDR(self)": {
    good: router({
      virtualServers: { from: [{ namespaceSelector: {}, addresses: ["198.18.0.50", "2001:db8:5::/64"] }] },
    }),
    bad: router({ virtualServers: { from: [{ namespaceSelector: {}, addresses: ["198.18.0.0/33"] }] } }),
  },
  "VirtualRouter.spec.virtualServers.from[].ports[] !has(self.endPort) || self.endPort >= self.port": {
    good: router({
      virtualServers: {
        from: [{ namespaceSelector: {}, ports: [{ port: 80 }, { port: 8000, endPort: 8080 }] }],
      },
    }),
    bad: router({
      virtualServers: { from: [{ namespaceSelector: {}, ports: [{ port: 8080, endPort: 8000 }] }] },
    }),
  },
  "VirtualRouter.spec.priorities self.filter(p, p.priority == 255).size() <= 1": {
    good: router({
      priorities: [
        { node: "a", priority: 255 },
        { node: "b", priority: 254 },
      ],
    }),
    bad: router({
      priorities: [
        { node: "a", priority: 255 },
        { node: "b", priority: 255 },
      ],
    }),
  },
  "VirtualRouter.spec.unicast.peers[] isIP(self)": {
    good: router({ unicast: { peers: ["198.18.0.2", "198.18.0.3"] } }),
    bad: router({ unicast: { peers: ["node-b"] } }),
  },
  "VirtualServer.spec has(self.group) ? !has(self.fwmark) && !has(self.address) && !has(self.port) : has(self.fwmark) ? !has(self.address) && !has(self.port) : has(self.address) && has(self.port)":
    { good: marked({ fwmark: 7 }), bad: server({ fwmark: 7 }) },
  "VirtualServer.spec self.realServers.all(r, has(r.port)) || (has(self.group) ? self.group.all(g, has(g.fwmark)) : has(self.fwmark))":
    {
      good: marked({ group: [{ fwmark: 7 }, { fwmark: 8 }], realServers: [{ address: "198.18.0.13" }] }),
      bad: marked({
        group: [{ fwmark: 7 }, { address: "198.18.0.50", port: 80 }],
        realServers: [{ address: "198.18.0.13" }],
      }),
    },
  "VirtualServer.spec.group[] has(self.fwmark) ? !has(self.address) && !has(self.port) : has(self.address) && has(self.port)":
    {
      good: marked({ group: [{ address: "198.18.0.50-198.18.0.52", port: 80 }, { fwmark: 7 }] }),
      bad: marked({ group: [{ address: "198.18.0.50" }] }),
    },
  "VirtualServer.spec.realServers[].checkTargets[].address isIP(self)": {
    good: server({
      realServers: [{ address: "198.18.0.13", port: 25, checkTargets: [{ address: "198.18.0.14" }] }],
    }),
    bad: server({ realServers: [{ address: "198.18.0.13", port: 25, checkTargets: [{ address: "mx" }] }] }),
  },
  "VirtualServer.spec.address isIP(self)": {
    good: server({ address: "2001:db8::50", realServers: [{ address: "2001:db8::13", port: 80 }] }),
    bad: server({ address: "198.18.0.50/24" }),
  },
  "VirtualServer.spec.realServers[].address isIP(self)": {
    good: server({}),
    bad: server({ realServers: [{ address: "web-1", port: 80 }] }),
  },
  "VirtualServer.spec.sorryServer.address isIP(self)": {
    good: server({ sorryServer: { address: "198.18.0.99", port: 80 } }),
    bad: server({ sorryServer: { address: "198.18.0.999", port: 80 } }),
  },
  "IPPool.spec.addresses[] isCIDR(self) || isIP(self) || self.matches('^[0-9a-fA-F:.]+ *- *[0-9a-fA-F:.]+$')":
    {
      good: { addresses: ["198.18.10.0/24", "198.18.11.1", "198.18.12.1 - 198.18.12.9", "2001:db8:10::/64"] },
      bad: { addresses: ["198.18.10.0/24, 198.18.11.0/24"] },
    },
};

const VALIDATORS: Record<string, (o: unknown) => FieldError[]> = {
  VirtualRouter: validateVirtualRouter,
  VirtualServer: validateVirtualServer,
  IPPool: validateIPPool,
};

interface Rule {
  kind: string;
  key: string;
  rule: string;
  message: string;
  spec: Schema;
}

function* rulesIn(n: Schema, path: string): Generator<[string, string, string]> {
  for (const r of n["x-kubernetes-validations"] ?? []) yield [path, r.rule, r.message ?? ""];
  for (const [k, v] of Object.entries(n.properties ?? {})) yield* rulesIn(v, `${path}.${k}`);
  if (n.items) yield* rulesIn(n.items, `${path}[]`);
}

const RULES: Rule[] = crds().flatMap((c) => {
  const kind = ((c.spec as Json).names as Json).kind as string;
  const root = (((c.spec as Json).versions as Json[])[0]!.schema as Json).openAPIV3Schema as Schema;
  const spec = root.properties!.spec!;
  return [...rulesIn(spec, `${kind}.spec`)].map(([path, rule, message]) => ({
    kind,
    key: `${path} ${rule}`,
    rule,
    message,
    spec,
  }));
});

/** What the API server says about a spec (after its defaults, as on create). */
function apiServerCauses(spec: Schema, value: Json): string[] {
  const v = applyDefaults(structuredClone(value), spec);
  return validate(v, spec, "spec", undefined).map((c) => `${c.field}: ${c.message}`);
}

const object = (kind: string, spec: Json) => ({
  apiVersion: "vipkeeper.io/v1alpha1",
  kind,
  metadata: { name: "sample" },
  spec,
});

describe("CEL rules in the CRDs", () => {
  it("every rule has samples, and every sample a rule", () => {
    expect(RULES.map((r) => r.key).sort()).toEqual(Object.keys(SAMPLES).sort());
    expect(RULES.length).toBeGreaterThanOrEqual(10);
  });

  for (const r of RULES) {
    it(`${r.key}`, () => {
      const sample = SAMPLES[r.key]!;
      expect(apiServerCauses(r.spec, sample.good)).toEqual([]);
      const bad = apiServerCauses(r.spec, sample.bad);
      expect(bad, "the bad sample fails this rule and no other").toEqual([
        expect.stringContaining(r.message),
      ]);
      expect(bad[0]).not.toMatch(/could not be evaluated/);
      // One rule, one authority: the semantic validator says the same of both samples.
      expect(VALIDATORS[r.kind]!(object(r.kind, sample.good))).toEqual([]);
      expect(VALIDATORS[r.kind]!(object(r.kind, sample.bad)).length).toBeGreaterThan(0);
    });
  }
});
