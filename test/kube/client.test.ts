// client.ts on kube/rest.ts against the in-process API server: server-side apply of status by two
// field managers, merge patches of finalizers, and the Event recorder's aggregation and failure
// handling. (client-node's API classes only set up and read back.)
import { CoreV1Api, CustomObjectsApi, type CoreV1Event } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { applyStatus, EventRecorder, mergePatch, objectPath } from "../../src/kube/client.ts";
import { startApiServer, type ApiServer } from "../kubeapi/server.ts";

const log = pino({ level: "silent" });
const GROUP = "vkku.example.test";
const REF = { group: GROUP, version: "v1", plural: "gadgets" };

const CRD = {
  apiVersion: "apiextensions.k8s.io/v1",
  kind: "CustomResourceDefinition",
  metadata: { name: `gadgets.${GROUP}` },
  spec: {
    group: GROUP,
    scope: "Cluster",
    names: { plural: "gadgets", kind: "Gadget", singular: "gadget" },
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
              spec: { type: "object", properties: { size: { type: "integer" } } },
              status: {
                type: "object",
                properties: {
                  nodes: {
                    type: "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["name"],
                    items: {
                      type: "object",
                      required: ["name"],
                      properties: { name: { type: "string" }, state: { type: "string" } },
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

/** The same resource, namespaced. */
const NS_CRD = {
  ...CRD,
  metadata: { name: `nsgadgets.${GROUP}` },
  spec: {
    ...CRD.spec,
    scope: "Namespaced",
    names: { plural: "nsgadgets", kind: "NsGadget", singular: "nsgadget" },
  },
};

describe("writes against an API server", () => {
  let api: ApiServer;
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  let n = 0;
  beforeAll(async () => {
    api = await startApiServer({ crds: [CRD, NS_CRD] });
    custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
    core = api.kubeConfig().makeApiClient(CoreV1Api);
  });
  afterAll(() => api.close());
  afterEach(() => api.setUnavailable(false));

  const gadget = async () => {
    const name = `g${n++}`;
    await custom.createClusterCustomObject({
      ...REF,
      body: { apiVersion: `${GROUP}/v1`, kind: "Gadget", metadata: { name }, spec: { size: 1 } },
    });
    return name;
  };
  const get = (name: string) =>
    custom.getClusterCustomObject({ ...REF, name }) as Promise<{
      metadata: { finalizers?: string[]; resourceVersion: string; managedFields?: Record<string, unknown>[] };
      spec: { size: number };
      status?: { nodes?: { name: string; state: string }[] };
    }>;
  const statusOf = (name: string, nodes: { name: string; state: string }[]) => ({
    apiVersion: `${GROUP}/v1`,
    kind: "Gadget",
    metadata: { name },
    status: { nodes },
  });

  it("applyStatus: two field managers each own their entry of a list-map", async () => {
    const name = await gadget();
    const kc = api.rest();
    await applyStatus(
      kc,
      { ...REF, name },
      statusOf(name, [{ name: "n1", state: "MASTER" }]),
      "agent/n1",
      true,
    );
    await applyStatus(
      kc,
      { ...REF, name },
      statusOf(name, [{ name: "n2", state: "BACKUP" }]),
      "agent/n2",
      true,
    );
    let g = await get(name);
    expect(g.status?.nodes).toEqual([
      { name: "n1", state: "MASTER" },
      { name: "n2", state: "BACKUP" },
    ]);
    const managers = g.metadata.managedFields?.map((m) => [m.manager, m.operation, m.subresource]);
    expect(managers).toEqual(
      expect.arrayContaining([
        ["agent/n1", "Apply", "status"],
        ["agent/n2", "Apply", "status"],
      ]),
    );
    // n1 changes its entry: n2's stays.
    await applyStatus(
      kc,
      { ...REF, name },
      statusOf(name, [{ name: "n1", state: "BACKUP" }]),
      "agent/n1",
      true,
    );
    g = await get(name);
    expect(g.status?.nodes).toEqual([
      { name: "n1", state: "BACKUP" },
      { name: "n2", state: "BACKUP" },
    ]);
    // n2 applies nothing: only its own entry goes.
    await applyStatus(kc, { ...REF, name }, statusOf(name, []), "agent/n2", true);
    g = await get(name);
    expect(g.status?.nodes).toEqual([{ name: "n1", state: "BACKUP" }]);
    // Status writes leave the spec alone.
    expect(g.spec.size).toBe(1);
  });

  it("applyStatus and mergePatch on a namespaced object", async () => {
    const kc = api.rest();
    const ref = { group: GROUP, version: "v1", plural: "nsgadgets", namespace: "vkku-ns", name: "ng" };
    await custom.createNamespacedCustomObject({
      ...ref,
      body: { apiVersion: `${GROUP}/v1`, kind: "NsGadget", metadata: { name: "ng", namespace: "vkku-ns" } },
    });
    await applyStatus(
      kc,
      ref,
      {
        apiVersion: `${GROUP}/v1`,
        kind: "NsGadget",
        metadata: { name: "ng", namespace: "vkku-ns" },
        status: { nodes: [{ name: "n1", state: "MASTER" }] },
      },
      "agent/n1",
      true,
    );
    await mergePatch(kc, ref, { metadata: { finalizers: ["vipkeeper.io/release"] } });
    const got = (await custom.getNamespacedCustomObject(ref)) as {
      metadata: { finalizers?: string[] };
      status?: { nodes?: unknown[] };
    };
    expect(got.status?.nodes).toEqual([{ name: "n1", state: "MASTER" }]);
    expect(got.metadata.finalizers).toEqual(["vipkeeper.io/release"]);
  });

  it("applyStatus: without force, taking another manager's field is a 409 conflict; with force it is taken", async () => {
    const name = await gadget();
    const kc = api.rest();
    await applyStatus(
      kc,
      { ...REF, name },
      statusOf(name, [{ name: "n1", state: "MASTER" }]),
      "agent/n1",
      true,
    );
    const clash = statusOf(name, [{ name: "n1", state: "FAULT" }]);
    await expect(applyStatus(kc, { ...REF, name }, clash, "controller", false)).rejects.toMatchObject({
      code: 409,
    });
    await applyStatus(kc, { ...REF, name }, clash, "controller", true);
    expect((await get(name)).status?.nodes).toEqual([{ name: "n1", state: "FAULT" }]);
  });

  it("the content type matters: the same body sent as JSON patch is refused", async () => {
    const name = await gadget();
    const rest = api.rest();
    await expect(
      rest.patch(
        `${objectPath({ ...REF, name })}/status`,
        statusOf(name, [{ name: "n1", state: "MASTER" }]),
        "json",
      ),
      // JSON patch wants an array of operations: the object is refused as the real server does.
    ).rejects.toMatchObject({ code: 400, message: expect.stringContaining("jsonpatch.Patch") as string });
    expect((await get(name)).status?.nodes).toBeUndefined();
  });

  it("objectPath: core and grouped, cluster and namespaced, with a subresource", () => {
    expect(
      objectPath({
        group: "",
        version: "v1",
        plural: "services",
        namespace: "ns",
        name: "web",
        subresource: "status",
      }),
    ).toBe("/api/v1/namespaces/ns/services/web/status");
    expect(objectPath({ ...REF, name: "g" })).toBe(`/apis/${GROUP}/v1/gadgets/g`);
  });

  it("mergePatch: finalizers added and removed; a stale resourceVersion in the patch is a 409", async () => {
    const name = await gadget();
    const kc = api.rest();
    await mergePatch(kc, { ...REF, name }, { metadata: { finalizers: ["vipkeeper.io/release"] } });
    const g = await get(name);
    expect(g.metadata.finalizers).toEqual(["vipkeeper.io/release"]);
    await mergePatch(kc, { ...REF, name }, { spec: { size: 2 } });
    await expect(
      mergePatch(
        kc,
        { ...REF, name },
        { metadata: { finalizers: null, resourceVersion: g.metadata.resourceVersion } },
      ),
    ).rejects.toMatchObject({ code: 409 });
    await mergePatch(kc, { ...REF, name }, { metadata: { finalizers: null } });
    expect((await get(name)).metadata.finalizers).toBeUndefined();
  });

  describe("EventRecorder", () => {
    const events = async (namespace: string, object: string) =>
      (await core.listNamespacedEvent({ namespace })).items.filter(
        (e: CoreV1Event) => e.involvedObject.name === object,
      );

    it("repeats bump one Event's count; another message is another Event; cluster objects go to default", async () => {
      let now = 1_000_000;
      const rec = new EventRecorder(api.rest(), {
        component: "vipkeeper-controller",
        host: "node-a",
        log,
        now: () => now,
      });
      const router = { apiVersion: "vipkeeper.io/v1alpha1", kind: "VirtualRouter", name: "vr-ev", uid: "u1" };
      for (let i = 0; i < 3; i++) {
        rec.record(router, "Normal", "MasterChanged", "node-a is master");
        now += 1000;
      }
      rec.recordEvent(router, "Warning", "SplitBrain", "two masters");
      await rec.flush();
      const evs = await events("default", "vr-ev");
      expect(evs).toHaveLength(2);
      const master = evs.find((e) => e.reason === "MasterChanged")!;
      expect(master).toMatchObject({
        type: "Normal",
        count: 3,
        message: "node-a is master",
        source: { component: "vipkeeper-controller", host: "node-a" },
        reportingComponent: "vipkeeper-controller",
        involvedObject: { kind: "VirtualRouter", name: "vr-ev", uid: "u1" },
      });
      expect(new Date(master.lastTimestamp!).getTime() - new Date(master.firstTimestamp!).getTime()).toBe(
        2000,
      );
      expect(rec.stats).toMatchObject({ recorded: 4, aggregated: 2, failed: 0 });
      // After the window, a repeat starts a new Event.
      now += 600_000;
      rec.record(router, "Normal", "MasterChanged", "node-a is master");
      await rec.flush();
      expect((await events("default", "vr-ev")).filter((e) => e.reason === "MasterChanged")).toHaveLength(2);
    });

    it("namespaced objects' Events go to their namespace; a deleted Event is recreated on repeat", async () => {
      const rec = new EventRecorder(api.rest(), { component: "vipkeeper-controller", log });
      const svc = { apiVersion: "v1", kind: "Service", name: "web", namespace: "vkku-ev" };
      rec.record(svc, "Normal", "IPAllocated", "198.18.0.10");
      await rec.flush();
      const [first] = await events("vkku-ev", "web");
      expect(first?.count).toBe(1);
      await core.deleteNamespacedEvent({ name: first!.metadata.name!, namespace: "vkku-ev" });
      rec.record(svc, "Normal", "IPAllocated", "198.18.0.10");
      await rec.flush();
      const again = await events("vkku-ev", "web");
      expect(again).toHaveLength(1);
      expect(again[0]!.count).toBe(1);
      expect(rec.stats.failed).toBe(0);
    });

    it("never throws: failures while the API server is away and bad input are logged and counted", async () => {
      const rec = new EventRecorder(api.rest(), { component: "vipkeeper-controller", log });
      api.setUnavailable(true);
      expect(() =>
        rec.record({ apiVersion: "v1", kind: "Node", name: "n1" }, "Normal", "R", "m"),
      ).not.toThrow();
      await rec.flush();
      expect(rec.stats.failed).toBe(1);
      api.setUnavailable(false);
      rec.record({ apiVersion: "v1", kind: "Node", name: "" }, "Normal", "R", "m");
      rec.record({ apiVersion: "v1", kind: "Node", name: "n1" }, "Bad" as "Normal", "R", "m");
      rec.record({ apiVersion: "v1", kind: "Node", name: "n1" }, "Normal", "", "m");
      await rec.flush();
      expect(rec.stats.invalid).toBe(3);
      // Once the server is back, the same Event is written (the failed create is not "seen").
      rec.record({ apiVersion: "v1", kind: "Node", name: "n1" }, "Normal", "R", "m");
      await rec.flush();
      expect(rec.stats.recorded).toBe(1);
      expect(await events("default", "n1")).toHaveLength(1);
    });

    it("long messages are cut to 1 kB", async () => {
      const rec = new EventRecorder(api.rest(), { component: "c", log });
      rec.record({ apiVersion: "v1", kind: "Node", name: "long" }, "Warning", "R", "x".repeat(5000));
      await rec.flush();
      const [e] = await events("default", "long");
      expect(e?.message).toHaveLength(1024);
    });
  });
});
