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
import { SAMPLES, type Json } from "./cel-samples.ts";

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
      expect(bad[0]).not.toMatch(/evaluating rule/);
      // One rule, one authority: the semantic validator says the same of both samples.
      expect(VALIDATORS[r.kind]!(object(r.kind, sample.good))).toEqual([]);
      expect(VALIDATORS[r.kind]!(object(r.kind, sample.bad)).length).toBeGreaterThan(0);
    });
  }
});
