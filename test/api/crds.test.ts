import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { CustomResourceDefinition } from "kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crdFiles, crds } from "../../src/api/crds.ts";
import { failure } from "../kubeapi/failure.ts";
import { startApiServer, type ApiServer } from "../kubeapi/server.ts";
import { causeFields, createObject, INVALID_OBJECTS } from "./invalid-objects.ts";

type Json = Record<string, unknown>;
const DIR = join(import.meta.dirname, "../../crds");

/** Every node of a structural schema, with its path. */
function* nodes(n: Json, path: string): Generator<[string, Json]> {
  yield [path, n];
  for (const [k, v] of Object.entries((n.properties as Record<string, Json>) ?? {}))
    yield* nodes(v, `${path}.${k}`);
  if (n.items) yield* nodes(n.items as Json, `${path}[]`);
  if (typeof n.additionalProperties === "object") yield* nodes(n.additionalProperties as Json, `${path}{}`);
}

const schemaOf = (c: Json) => ((c.spec as Json).versions as Json[])[0]!.schema as { openAPIV3Schema: Json };

describe("CRDs", () => {
  it("crds/ is what `vipkeeper crds` generates (run `vipkeeper crds --write crds` after changing src/api)", () => {
    const files = crdFiles();
    expect(readdirSync(DIR).sort()).toEqual([...files.keys()].sort());
    for (const [name, text] of files) {
      expect(readFileSync(join(DIR, name), "utf8"), name).toBe(text);
      // Plain YAML: no anchors or aliases for shared schema pieces (not every tool resolves them).
      expect(text, name).not.toMatch(/: [&*]a\d+$/m);
    }
  });

  it("are structural, described for kubectl explain, and valid CustomResourceDefinitions", () => {
    for (const c of crds()) {
      expect(() => new CustomResourceDefinition(c as never).validate()).not.toThrow();
      for (const [path, n] of nodes(schemaOf(c).openAPIV3Schema, "")) {
        const typed =
          n.type !== undefined ||
          n["x-kubernetes-int-or-string"] ||
          n["x-kubernetes-preserve-unknown-fields"];
        expect(typed, `${path} has no type`).toBeTruthy();
        for (const bad of ["anyOf", "oneOf", "const", "$id", "patternProperties"])
          expect(n[bad], `${path}: ${bad}`).toBeUndefined();
        expect(n.additionalProperties === false, `${path}: additionalProperties false`).toBe(false);
        if (
          path &&
          !/\.(apiVersion|kind|metadata)$/.test(path) &&
          !path.endsWith("[]") &&
          !path.endsWith("{}")
        )
          expect(n.description, `${path} has no description`).toBeTruthy();
      }
    }
  });
});

describe("CRD shape", () => {
  it("leaves metadata alone, has the status subresource, and printer columns that name real fields", () => {
    for (const c of crds()) {
      const version = ((c.spec as Json).versions as Json[])[0]!;
      const root = schemaOf(c).openAPIV3Schema;
      expect((root.properties as Json).metadata).toEqual({ type: "object" });
      expect(version.subresources).toEqual({ status: {} });
      for (const col of version.additionalPrinterColumns as { jsonPath: string }[]) {
        // .spec.addresses[*].address, .status.conditions[?(@.type=="Ready")].status -> property names
        const names = col.jsonPath
          .replace(/\[[^\]]*\]/g, "")
          .split(".")
          .filter(Boolean);
        if (names[0] === "metadata") continue;
        let node: Json | undefined = root;
        for (const n of names) {
          node =
            (node?.properties as Record<string, Json> | undefined)?.[n] ?? (node?.items as Json | undefined);
          if (node?.type === "array") node = node.items as Json;
        }
        expect(node, `${(c.metadata as Json).name as string}: ${col.jsonPath}`).toBeDefined();
      }
    }
  });
});

describe("the API server with vipkeeper's CRDs", () => {
  let api: ApiServer;
  let custom: CustomObjectsApi;
  const VR = { group: "vipkeeper.io", version: "v1alpha1", plural: "virtualrouters" };
  const router = (name: string, spec: Json) => ({
    apiVersion: "vipkeeper.io/v1alpha1",
    kind: "VirtualRouter",
    metadata: { name },
    spec,
  });

  beforeAll(async () => {
    api = await startApiServer({ crds: crds() });
    custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
  });
  afterAll(() => api.close());

  it("accepts a valid router and fills its defaults", async () => {
    const made = (await custom.createClusterCustomObject({
      ...VR,
      body: router("web", { addresses: [{ address: "198.18.0.50/24" }, { address: "2001:db8::50/64" }] }),
    })) as { spec: { version: number; advertInterval: string; preempt: boolean } };
    expect([made.spec.version, made.spec.advertInterval, made.spec.preempt]).toEqual([3, "1s", true]);
  });

  // The same table runs against the real kube-apiserver in test/e2e/invalid-objects.test.ts.
  INVALID_OBJECTS.forEach((c, i) => {
    it(`rejects ${c.kind}: ${c.name}, naming ${c.field}`, async () => {
      const f = await failure(createObject(custom, c, i));
      expect(f.code).toBe(422);
      expect(f.body.details?.causes?.map((x) => x.field)).toEqual(causeFields(c));
      expect(f.body.details?.causes?.[0]?.reason).toBe(c.reason);
      expect(f.body.message).toMatch(c.message);
      if (c.rulesNotChecked) expect(f.body.message).toMatch(/some validation rules were not checked/);
    });
  });
});

describe("vipkeeper crds", () => {
  it("prints the CRDs that crds/ holds, as one YAML stream", async () => {
    const main = join(import.meta.dirname, "../../src/cli/main.ts");
    const { stdout: out } = await promisify(execFile)(process.execPath, [main, "crds"], {
      maxBuffer: 8 << 20,
    });
    const docs = parseAllDocuments(out).map((d) => d.toJS() as Json);
    expect(docs).toEqual(crds());
    expect(docs.map((d) => (d.metadata as Json).name)).toEqual([
      "virtualrouters.vipkeeper.io",
      "virtualservers.vipkeeper.io",
      "ippools.vipkeeper.io",
    ]);
  });
});
