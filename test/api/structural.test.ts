// The agent checks the API objects' structure with code typebox generated from their schemas
// (src/api/generated/structural.ts) and words an invalid object's errors from their JSON: both must
// say what typebox says from the schemas themselves, on valid objects and on every mutation of them
// tried here, and the generated module must be what the schemas generate now.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Compile } from "typebox/compile";
import Value from "typebox/value";
import { describe, expect, it } from "vitest";
import { withDefaults } from "../../src/api/defaults.ts";
import { schemaErrors } from "../../src/api/schema/errors.ts";
import { SCHEMAS, structuralModule } from "../../src/api/schema/structural-code.ts";
import { structuralErrors, type Kind } from "../../src/api/structural.ts";
import { loadedBy } from "../support/packages-loaded.ts";

type Json = Record<string, unknown>;
type Sample = Json & { kind: Kind };
const obj = (kind: Kind, spec: Json): Sample => ({
  apiVersion: "vipkeeper.io/v1alpha1",
  kind,
  metadata: { name: "sample", namespace: "default", annotations: { a: "b" } },
  spec,
});

const RAW: Sample[] = [
  obj("VirtualRouter", {
    vrid: 7,
    interface: "eth0",
    addresses: [{ address: "198.18.0.50/24", dev: "eth1", label: "eth1:vip" }],
    priorities: [{ node: "n1", priority: 150 }],
    advertInterval: "100ms",
    track: { interfaces: [{ name: "eth1", weight: -20 }], files: [{ path: "/run/up" }] },
    notify: { scripts: { master: "/bin/true" } },
    unicast: { peers: ["198.18.0.2"] },
    routes: [{ to: "198.18.5.0/24", via: "198.18.0.1" }],
    virtualServers: {
      from: [{ namespaceSelector: { matchLabels: { team: "web" } }, ports: [{ port: 80 }] }],
    },
  }),
  obj("VirtualServer", {
    address: "198.18.0.50",
    port: 80,
    realServers: [{ address: "198.18.0.13", port: 8080, weight: 3 }],
    healthCheck: { httpGet: { path: "/health", statusCodes: [200, 204] }, interval: "2s" },
    persistence: { timeout: "300s" },
    sorryServer: { address: "198.18.0.99", port: 80 },
  }),
  obj("VirtualServer", { fwmark: 7, realServers: [{ address: "2001:db8::13", port: 80 }] }),
  obj("IPPool", {
    addresses: ["198.18.10.0/24", "2001:db8:10::/120"],
    announce: { version: 3, track: { interfaces: [{ name: "eth0" }] } },
  }),
];
const SAMPLES = RAW.map((s) => withDefaults(s));

/** Every object the mutations make: each field removed, set to values of other types, and an unknown field added. */
function* mutations(value: unknown, set: (v: unknown) => Json): Generator<Json> {
  for (const wrong of [undefined, null, -1, 1.5, 70000, "", "x y/z", "a".repeat(70), true, [], {}])
    yield set(wrong);
  if (Array.isArray(value))
    for (let i = 0; i < value.length; i++)
      yield* mutations(value[i], (v) => set((value as unknown[]).map((x, j) => (j === i ? v : x))));
  else if (typeof value === "object" && value !== null) {
    yield set({ ...value, notAField: 1 });
    for (const [k, field] of Object.entries(value))
      yield* mutations(field, (v) => set(v === undefined ? omit(value as Json, k) : { ...value, [k]: v }));
  }
}
const omit = (o: Json, k: string) => Object.fromEntries(Object.entries(o).filter(([key]) => key !== k));

describe("the generated structural checks", () => {
  it("are what the schemas generate now (`node scripts/gen-structural.ts` writes them)", () => {
    const file = readFileSync(join(import.meta.dirname, "../../src/api/generated/structural.ts"), "utf8");
    expect(file === structuralModule(), "src/api/generated/structural.ts is stale").toBe(true);
  });

  for (const sample of SAMPLES) {
    const kind = sample.kind;
    it(`say what typebox says from the schema: ${kind} and its mutations`, () => {
      const schema = SCHEMAS[kind];
      const typebox = Compile(schema);
      let invalid = 0;
      let tried = 0;
      for (const o of [sample, ...mutations(sample, (v) => v as Json)]) {
        tried++;
        const mine = structuralErrors(kind, o);
        expect(mine, JSON.stringify(o)).toEqual(schemaErrors(schema, o));
        expect(mine.length === 0).toBe(typebox.Check(o));
        if (mine.length > 0) invalid++;
      }
      expect(structuralErrors(kind, sample)).toEqual([]);
      // The mutations reach both sides of the check.
      expect(invalid).toBeGreaterThan(tried / 2);
      expect(invalid).toBeLessThan(tried);
    });
  }

  it("name an unknown field as such", () => {
    const vr = structuredClone(SAMPLES[0]!) as unknown as { spec: { addresses: Json[] } };
    vr.spec.addresses[0]!.colour = "blue";
    expect(structuralErrors("VirtualRouter", vr)).toEqual([
      { field: "spec.addresses[0].colour", message: "is not a known field" },
    ]);
  });

  it("fill the defaults typebox's Value.Default fills", () => {
    for (const raw of RAW) {
      const filled = withDefaults(raw);
      expect(filled).toEqual(Value.Default(SCHEMAS[raw.kind], structuredClone(raw)));
      expect(filled).not.toEqual(raw); // something was filled
    }
  });

  it("keep typebox out of a process that checks valid objects, but for the guard the code calls", () => {
    const { packageFiles } = loadedBy(join(import.meta.dirname, "../../src/api/virtual-router.ts"));
    const typebox = packageFiles.filter((f) => f.startsWith("typebox/"));
    expect(typebox).toContain("typebox/build/guard/guard.mjs");
    expect(typebox.filter((f) => !f.startsWith("typebox/build/guard/"))).toEqual([]);
  });
});
