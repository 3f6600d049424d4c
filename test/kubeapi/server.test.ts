// The in-process API server against documented Kubernetes behaviour, through client-node's own
// classes (the same calls the controller and agents make).
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type KubeConfig,
  type V1ConfigMap,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure } from "./failure.ts";
import { startApiServer, type ApiServer } from "./server.ts";

const CRD = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: "widgets.example.test" },
  spec: {
    group: "example.test",
    scope: "Cluster",
    names: { plural: "widgets", kind: "Widget", singular: "widget" },
    versions: [
      {
        name: "v1",
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: "object",
            properties: {
              spec: {
                type: "object",
                required: ["size"],
                properties: {
                  size: { type: "integer", minimum: 1, maximum: 255 },
                  color: { type: "string", enum: ["red", "blue"], default: "red" },
                  address: {
                    type: "string",
                    "x-kubernetes-validations": [{ rule: "isIP(self)", message: "must be an IP address" }],
                  },
                  peers: { type: "array", items: { type: "string" } },
                },
                "x-kubernetes-validations": [
                  { rule: "self.size != 13", message: "13 is unlucky", fieldPath: ".size" },
                  { rule: "self.size >= oldSelf.size", message: "size may only grow" },
                ],
              },
              status: {
                type: "object",
                properties: {
                  master: { type: "string" },
                  nodes: {
                    type: "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    items: {
                      type: "object",
                      required: ["name"],
                      properties: {
                        name: { type: "string" },
                        state: { type: "string" },
                        priority: { type: "integer" },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    ],
  },
};

const W = { group: "example.test", version: "v1", plural: "widgets" };
type Widget = {
  metadata: {
    name: string;
    resourceVersion?: string;
    generation?: number;
    finalizers?: string[];
    deletionTimestamp?: string;
    managedFields?: unknown[];
  };
  spec: { size: number; color?: string; address?: string; extra?: string };
  status?: { master?: string; nodes?: { name: string; state?: string; priority?: number }[] };
};
const widget = (name: string, size = 3, extra: object = {}) => ({
  apiVersion: "example.test/v1",
  kind: "Widget",
  metadata: { name },
  spec: { size, ...extra },
});

let api: ApiServer;
let kc: KubeConfig;
let custom: CustomObjectsApi;
let core: CoreV1Api;
const apply = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply);
const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

beforeAll(async () => {
  api = await startApiServer({ crds: [CRD] });
  kc = api.kubeConfig();
  custom = kc.makeApiClient(CustomObjectsApi);
  core = kc.makeApiClient(CoreV1Api);
});
afterAll(() => api.close());

describe("in-process API server", () => {
  it("creates, gets and lists with resourceVersions; 409 on a duplicate, 404 when absent", async () => {
    const made = (await custom.createClusterCustomObject({ ...W, body: widget("a") })) as Widget;
    expect(made.metadata.generation).toBe(1);
    expect(made.spec.color).toBe("red"); // defaulted
    const dup = await failure(custom.createClusterCustomObject({ ...W, body: widget("a") }));
    expect([dup.code, dup.body.reason]).toEqual([409, "AlreadyExists"]);
    expect((await failure(custom.getClusterCustomObject({ ...W, name: "nope" }))).code).toBe(404);
    const list = (await custom.listClusterCustomObject(W)) as {
      items: Widget[];
      metadata: { resourceVersion: string };
    };
    expect(list.items.map((i) => i.metadata.name)).toContain("a");
    expect(Number(list.metadata.resourceVersion)).toBeGreaterThanOrEqual(
      Number(made.metadata.resourceVersion),
    );
  });

  it("rejects invalid objects naming the field (schema and CEL rules), prunes unknown fields", async () => {
    const big = await failure(custom.createClusterCustomObject({ ...W, body: widget("b", 300) }));
    expect(big.code).toBe(422);
    expect(big.body.details?.causes?.map((c) => c.field)).toEqual(["spec.size"]);
    expect(big.body.message).toMatch(
      /spec.size: Invalid value: 300: spec.size in body should be less than or equal to 255/,
    );
    const missing = await failure(
      custom.createClusterCustomObject({ ...W, body: { ...widget("b"), spec: {} } }),
    );
    expect(missing.body.message).toMatch(/spec.size: Required value/);
    const unlucky = await failure(custom.createClusterCustomObject({ ...W, body: widget("b", 13) }));
    expect(unlucky.body.message).toMatch(/spec.size: Invalid value: 13 is unlucky/);
    const notIp = await failure(
      custom.createClusterCustomObject({ ...W, body: widget("b", 3, { address: "198.18.0.300" }) }),
    );
    expect(notIp.body.message).toMatch(/spec.address: .*must be an IP address/);
    const pruned = (await custom.createClusterCustomObject({
      ...W,
      body: widget("b", 3, { extra: "x", address: "2001:db8::1" }),
    })) as Widget;
    expect(pruned.spec.extra).toBeUndefined();
    const strict = await failure(
      custom.createClusterCustomObject({
        ...W,
        body: widget("c", 3, { extra: "x" }),
        fieldValidation: "Strict",
      }),
    );
    expect(strict.body.message).toMatch(/unknown field "spec.extra"/);
    // A transition rule: only on update.
    const shrink = await failure(
      custom.patchClusterCustomObject({ ...W, name: "b", body: { spec: { size: 2 } } }, merge),
    );
    expect(shrink.body.message).toMatch(/size may only grow/);
  });

  it("answers a stale update with 409 and counts generation for spec changes only", async () => {
    const a = (await custom.getClusterCustomObject({ ...W, name: "a" })) as Widget;
    const next = { ...a, spec: { ...a.spec, size: 4 } };
    const updated = (await custom.replaceClusterCustomObject({ ...W, name: "a", body: next })) as Widget;
    expect(updated.metadata.generation).toBe(2);
    const stale = await failure(custom.replaceClusterCustomObject({ ...W, name: "a", body: next }));
    expect([stale.code, stale.body.reason]).toEqual([409, "Conflict"]);
    const withStatus = (await custom.patchClusterCustomObjectStatus(
      { ...W, name: "a", body: { status: { master: "n1" } } },
      merge,
    )) as Widget;
    expect(withStatus.status?.master).toBe("n1");
    expect(withStatus.metadata.generation).toBe(2);
    // The main resource ignores status; /status ignores spec.
    const ignored = (await custom.patchClusterCustomObject(
      { ...W, name: "a", body: { status: { master: "x" } } },
      merge,
    )) as Widget;
    expect(ignored.status?.master).toBe("n1");
    const ignored2 = (await custom.patchClusterCustomObjectStatus(
      { ...W, name: "a", body: { spec: { size: 9 } } },
      merge,
    )) as Widget;
    expect(ignored2.spec.size).toBe(4);
  });

  it("treats a patch without a content type as JSON patch, as the real server does (client-node's trap)", async () => {
    const wrong = await failure(
      custom.patchClusterCustomObject({ ...W, name: "a", body: { spec: { size: 5 } } }),
    );
    expect(wrong.code).toBe(400);
    const ok = (await custom.patchClusterCustomObject({
      ...W,
      name: "a",
      body: [
        { op: "test", path: "/spec/size", value: 4 },
        { op: "replace", path: "/spec/size", value: 5 },
      ],
    })) as Widget;
    expect(ok.spec.size).toBe(5);
    const smp = await failure(
      custom.patchClusterCustomObject(
        { ...W, name: "a", body: { spec: {} } },
        setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
      ),
    );
    expect(smp.code).toBe(415);
  });

  it("server-side apply: each manager owns its list-map entry; conflicts need force; dropped fields go", async () => {
    await custom.createClusterCustomObject({ ...W, body: widget("ssa") });
    const entry = (name: string, state: string, priority = 100) => ({
      apiVersion: "example.test/v1",
      kind: "Widget",
      metadata: { name: "ssa" },
      status: { nodes: [{ name, state, priority }] },
    });
    await custom.patchClusterCustomObjectStatus(
      { ...W, name: "ssa", body: entry("n1", "Master"), fieldManager: "agent/n1" },
      apply,
    );
    await custom.patchClusterCustomObjectStatus(
      { ...W, name: "ssa", body: entry("n2", "Backup"), fieldManager: "agent/n2" },
      apply,
    );
    let w = (await custom.getClusterCustomObject({ ...W, name: "ssa" })) as Widget;
    expect(w.status?.nodes).toEqual([
      { name: "n1", state: "Master", priority: 100 },
      { name: "n2", state: "Backup", priority: 100 },
    ]);
    // n1 updates its own entry: n2's stays.
    await custom.patchClusterCustomObjectStatus(
      { ...W, name: "ssa", body: entry("n1", "Backup", 90), fieldManager: "agent/n1" },
      apply,
    );
    w = (await custom.getClusterCustomObject({ ...W, name: "ssa" })) as Widget;
    expect(w.status?.nodes?.map((n) => `${n.name}=${n.state}`)).toEqual(["n1=Backup", "n2=Backup"]);
    // Another manager writing n2's state differently conflicts, unless forced.
    const c = await failure(
      custom.patchClusterCustomObjectStatus(
        { ...W, name: "ssa", body: entry("n2", "Fault"), fieldManager: "intruder" },
        apply,
      ),
    );
    expect(c.code).toBe(409);
    expect(c.body.message).toMatch(/conflict with "agent\/n2"/);
    await custom.patchClusterCustomObjectStatus(
      { ...W, name: "ssa", body: entry("n2", "Fault"), fieldManager: "intruder", force: true },
      apply,
    );
    // A controller's own field beside the agents' entries.
    await custom.patchClusterCustomObjectStatus(
      {
        ...W,
        name: "ssa",
        body: {
          apiVersion: "example.test/v1",
          kind: "Widget",
          metadata: { name: "ssa" },
          status: { master: "n1" },
        },
        fieldManager: "controller",
      },
      apply,
    );
    // n1 applies without its entry: it is removed; the others stay.
    await custom.patchClusterCustomObjectStatus(
      {
        ...W,
        name: "ssa",
        body: { apiVersion: "example.test/v1", kind: "Widget", metadata: { name: "ssa" }, status: {} },
        fieldManager: "agent/n1",
      },
      apply,
    );
    w = (await custom.getClusterCustomObject({ ...W, name: "ssa" })) as Widget;
    expect(w.status?.nodes?.map((n) => `${n.name}=${n.state}`)).toEqual(["n2=Fault"]);
    expect(w.status?.master).toBe("n1");
    expect((w.metadata.managedFields ?? []).length).toBeGreaterThanOrEqual(2);
    const noManager = await failure(
      custom.patchClusterCustomObjectStatus({ ...W, name: "ssa", body: entry("n3", "x") }, apply),
    );
    expect(noManager.code).toBe(422);
  });

  it("keeps an object with finalizers until the last one goes", async () => {
    await custom.createClusterCustomObject({
      ...W,
      body: { ...widget("fin"), metadata: { name: "fin", finalizers: ["example.test/hold"] } },
    });
    await custom.deleteClusterCustomObject({ ...W, name: "fin" });
    const held = (await custom.getClusterCustomObject({ ...W, name: "fin" })) as Widget;
    expect(held.metadata.deletionTimestamp).toBeTruthy();
    const more = await failure(
      custom.patchClusterCustomObject(
        { ...W, name: "fin", body: { metadata: { finalizers: ["example.test/hold", "x/y"] } } },
        merge,
      ),
    );
    expect(more.code).toBe(422);
    await custom.patchClusterCustomObject(
      { ...W, name: "fin", body: { metadata: { finalizers: [] } } },
      merge,
    );
    expect((await failure(custom.getClusterCustomObject({ ...W, name: "fin" }))).code).toBe(404);
  });

  it("lists and watches by label selector; an object leaving the selector is DELETED for the watcher", async () => {
    const cm = (name: string, labels: Record<string, string>): V1ConfigMap => ({
      metadata: { name, namespace: "ns", labels },
    });
    const seen: string[] = [];
    const w = new Watch(kc);
    const req = await w.watch(
      "/api/v1/namespaces/ns/configmaps",
      { labelSelector: "app in (web,db),!legacy" },
      (type, obj: V1ConfigMap) => seen.push(`${type} ${obj.metadata?.name}`),
      () => undefined,
    );
    await core.createNamespacedConfigMap({ namespace: "ns", body: cm("web", { app: "web" }) });
    await core.createNamespacedConfigMap({ namespace: "ns", body: cm("old", { app: "web", legacy: "1" }) });
    await core.createNamespacedConfigMap({ namespace: "ns", body: cm("other", { app: "cache" }) });
    await core.patchNamespacedConfigMap(
      { namespace: "ns", name: "web", body: { metadata: { labels: { app: "cache" } } } },
      merge,
    );
    const list = await core.listNamespacedConfigMap({ namespace: "ns", labelSelector: "app=cache" });
    expect(list.items.map((i) => i.metadata?.name).sort()).toEqual(["other", "web"]);
    await new Promise((r) => setTimeout(r, 50));
    req.abort();
    expect(seen).toEqual(["ADDED web", "DELETED web"]);
  });

  it("answers a watch from a compacted resourceVersion with 410, and an informer re-lists", async () => {
    const coord = kc.makeApiClient(CoordinationV1Api);
    const informer = makeInformer(kc, "/apis/coordination.k8s.io/v1/namespaces/ns/leases", () =>
      coord.listNamespacedLease({ namespace: "ns" }),
    );
    const names = () =>
      informer
        .list()
        .map((l) => l.metadata?.name)
        .sort();
    await informer.start();
    await coord.createNamespacedLease({ namespace: "ns", body: { metadata: { name: "l1" }, spec: {} } });
    const deadline = async (cond: () => boolean) => {
      for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
      return cond();
    };
    expect(await deadline(() => names().join() === "l1")).toBe(true);
    // History lost and the watch cut: the informer comes back from an old version, gets 410, re-lists.
    let gone = 0;
    const w = new Watch(kc);
    api.compact();
    await w.watch(
      "/apis/coordination.k8s.io/v1/namespaces/ns/leases",
      { resourceVersion: "1" },
      (type, obj: { code?: number }) => {
        if (type === "ERROR" && obj.code === 410) gone++;
      },
      () => undefined,
    );
    await coord.createNamespacedLease({ namespace: "ns", body: { metadata: { name: "l2" }, spec: {} } });
    api.cutWatches();
    expect(await deadline(() => gone === 1)).toBe(true);
    expect(await deadline(() => names().join() === "l1,l2")).toBe(true);
    await informer.stop();
  });

  it("can be made unavailable, as an API server outage", async () => {
    api.setUnavailable(true);
    expect((await failure(core.listNamespacedConfigMap({ namespace: "ns" }))).code).toBe(503);
    api.setUnavailable(false);
    expect((await core.listNamespacedConfigMap({ namespace: "ns" })).items.length).toBeGreaterThan(0);
  });
});
