// examples/: every object is valid, and the example VirtualServer is one its router grants (the
// e2e suite also applies them to a real kube-apiserver).
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { validateIPPool } from "../../src/api/ip-pool.ts";
import { validateVirtualRouter } from "../../src/api/virtual-router.ts";
import { validateVirtualServer, type VirtualServer } from "../../src/api/virtual-server.ts";
import { refusal } from "../../src/cluster/grants.ts";
import type { RouterObject } from "../../src/cluster/routers.ts";

const DIR = join(import.meta.dirname, "../../examples");
const docs = readdirSync(DIR)
  .filter((f) => f.endsWith(".yaml") && f !== "lab.yaml")
  .flatMap((f) =>
    parseAllDocuments(readFileSync(join(DIR, f), "utf8")).map((d) => d.toJS() as { kind: string }),
  );

describe("examples/", () => {
  it("holds valid objects of every kind", () => {
    const validate: Record<string, (o: unknown) => unknown[]> = {
      VirtualRouter: validateVirtualRouter,
      VirtualServer: validateVirtualServer,
      IPPool: validateIPPool,
    };
    for (const o of docs) if (validate[o.kind]) expect(validate[o.kind]!(o), o.kind).toEqual([]);
    expect(new Set(docs.map((o) => o.kind))).toEqual(
      new Set(["VirtualRouter", "VirtualServer", "IPPool", "Service"]),
    );
  });

  it("the VirtualServer is granted by its router to its namespace, and to no other", () => {
    const router = docs.find((o) => o.kind === "VirtualRouter") as unknown as RouterObject;
    const vs = docs.find((o) => o.kind === "VirtualServer") as unknown as VirtualServer;
    const ctx = (ns: string) => ({
      router,
      namespaceLabels: { "kubernetes.io/metadata.name": ns },
      allowScripts: false,
      nodeAddresses: new Set<string>(),
    });
    expect(refusal(vs, ctx(vs.metadata.namespace!))).toBeUndefined();
    expect(refusal({ ...vs, metadata: { ...vs.metadata, namespace: "other" } }, ctx("other"))).toMatchObject({
      rule: "NamespaceNotAllowed",
    });
  });
});
