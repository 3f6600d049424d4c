import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { CustomResourceDefinition } from "kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { crdFiles, crds } from "../../src/api/crds.ts";
import { startApiServer, type ApiServer } from "../kubeapi/server.ts";

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

  async function rejection(spec: Json): Promise<string> {
    try {
      await custom.createClusterCustomObject({
        ...VR,
        body: router(`bad-${Math.random().toString(36).slice(2, 7)}`, spec),
      });
    } catch (err) {
      return (JSON.parse((err as { body: string }).body) as { message: string }).message;
    }
    throw new Error("accepted");
  }

  it("accepts a valid router and fills its defaults", async () => {
    const made = (await custom.createClusterCustomObject({
      ...VR,
      body: router("web", { addresses: [{ address: "198.18.0.50/24" }, { address: "2001:db8::50/64" }] }),
    })) as { spec: { version: number; advertInterval: string; preempt: boolean } };
    expect([made.spec.version, made.spec.advertInterval, made.spec.preempt]).toEqual([3, "1s", true]);
  });

  it("rejects invalid routers with messages that name the field", async () => {
    expect(await rejection({ vrid: 300, addresses: [{ address: "198.18.0.50" }] })).toMatch(
      /spec\.vrid: Invalid value: 300/,
    );
    expect(await rejection({ addresses: [{ address: "198.18.0.500" }] })).toMatch(
      /spec\.addresses\[0\]\.address: .*IPv4 or IPv6 address/,
    );
    expect(await rejection({ version: 2, addresses: [{ address: "2001:db8::50" }] })).toMatch(
      /spec\.version: .*VRRPv2 is IPv4 only/,
    );
    expect(
      await rejection({
        addresses: [{ address: "198.18.0.50" }],
        authentication: { type: "PASS", password: "x" },
      }),
    ).toMatch(/spec\.authentication: .*VRRPv2 only/);
    expect(await rejection({ addresses: [{ address: "198.18.0.50" }, { address: "198.18.0.50" }] })).toMatch(
      /spec\.addresses: .*unique/,
    );
    expect(await rejection({ addresses: [] })).toMatch(/spec\.addresses: .*at least 1 items/);
    expect(
      await rejection({
        addresses: [{ address: "198.18.0.50" }],
        priorities: [
          { node: "a", priority: 100 },
          { node: "a", priority: 90 },
        ],
      }),
    ).toMatch(/spec\.priorities\[1\]: Duplicate value/);
    expect(
      await rejection({ addresses: [{ address: "198.18.0.50" }], unicast: { peers: ["nope"] } }),
    ).toMatch(/spec\.unicast\.peers\[0\]/);
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
