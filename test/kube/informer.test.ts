// The supervised informer on kube/rest.ts against the in-process API server: selectors and
// namespace, handlers, 410 Gone → relist, errors → restarts with backoff, bookmarks asked for and
// used. (client-node's CoreV1Api only makes the changes it follows.)
import { CoreV1Api, type V1ConfigMap } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import {
  collectionPath,
  onChangeOf,
  SupervisedInformer,
  WATCH_INACTIVITY_MS,
  watchTimeoutSeconds,
} from "../../src/kube/informer.ts";
import { startApiServer, type ApiServer } from "../kubeapi/server.ts";

const log = pino({ level: "silent" });
const NS = "vkku-inf";

const until = async (cond: () => boolean, what: string, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

let api: ApiServer | undefined;
const informers: SupervisedInformer<V1ConfigMap>[] = [];
afterEach(async () => {
  informers.splice(0).forEach((i) => i.stop());
  await api?.close();
  api = undefined;
});

async function setup(
  opts: { bookmarkIntervalMs?: number; labelSelector?: string; logger?: typeof log } = {},
) {
  api = await startApiServer(opts.bookmarkIntervalMs ? { bookmarkIntervalMs: opts.bookmarkIntervalMs } : {});
  const core = api.kubeConfig().makeApiClient(CoreV1Api);
  const inf = new SupervisedInformer<V1ConfigMap>(api.rest(), {
    resource: { group: "", version: "v1", plural: "configmaps" },
    namespace: NS,
    ...(opts.labelSelector ? { labelSelector: opts.labelSelector } : {}),
    log: opts.logger ?? log,
    restartDelayMs: 50,
    maxRestartDelayMs: 200,
  });
  informers.push(inf);
  const seen: string[] = [];
  inf.on("add", (o) => seen.push(`add ${o.metadata?.name}`));
  inf.on("update", (o) => seen.push(`update ${o.metadata?.name}=${o.data?.v}`));
  inf.on("delete", (o) => seen.push(`delete ${o.metadata?.name}`));
  const put = (name: string, v: string, namespace = NS, labels: Record<string, string> = { app: "vk" }) =>
    core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name, namespace, labels }, data: { v } },
    });
  const patch = (name: string, v: string) =>
    core.replaceNamespacedConfigMap({
      name,
      namespace: NS,
      body: { metadata: { name, namespace: NS, labels: { app: "vk" } }, data: { v } },
    });
  const del = (name: string) => core.deleteNamespacedConfigMap({ name, namespace: NS });
  return { inf, seen, put, patch, del, core };
}

describe("supervised informer", { timeout: 30_000 }, () => {
  it("builds collection paths", () => {
    expect(collectionPath({ group: "", version: "v1", plural: "nodes" })).toBe("/api/v1/nodes");
    expect(collectionPath({ group: "coordination.k8s.io", version: "v1", plural: "leases" }, "ns")).toBe(
      "/apis/coordination.k8s.io/v1/namespaces/ns/leases",
    );
  });

  it("syncs on the first list, then follows adds, updates and deletes within its namespace and selector", async () => {
    const { inf, seen, put, patch, del } = await setup({ labelSelector: "app=vk" });
    await put("before", "1");
    await put("other-ns", "1", "vkku-elsewhere");
    await put("unlabelled", "1", NS, { app: "no" });
    expect(inf.synced).toBe(false);
    await inf.start();
    expect(inf.synced).toBe(true);
    expect(inf.list().map((o) => o.metadata?.name)).toEqual(["before"]);
    await put("a", "1");
    await patch("a", "2");
    await del("before");
    await until(() => seen.length >= 4, "four changes");
    expect(seen).toEqual(["add before", "add a", "update a=2", "delete before"]);
    expect(inf.get("a", NS)?.data?.v).toBe("2");
    expect(inf.get("before", NS)).toBeUndefined();
    expect(inf.list().map((o) => o.metadata?.name)).toEqual(["a"]);
    expect(inf.restarts).toBe(0);
  });

  it("410 Gone after compaction: relists, no restart counted, and goes on following", async () => {
    const { inf, seen, put, core } = await setup();
    await put("keep", "1");
    await inf.start();
    expect(inf.lists).toBe(1);
    // The server's version moves on elsewhere, its history is forgotten, and watches are cut: the
    // re-watch from the informer's last version gets 410 Gone and ListWatch must list again.
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: "s", namespace: NS } } });
    api!.compact();
    api!.cutWatches();
    await until(() => inf.lists === 2, "a relist");
    await put("new", "1");
    await until(() => inf.get("new", NS) !== undefined, "the watch after the relist");
    expect(
      inf
        .list()
        .map((o) => o.metadata?.name)
        .sort(),
    ).toEqual(["keep", "new"]);
    // The relist found "keep" unchanged: no second add for it.
    expect(seen).toEqual(["add keep", "add new"]);
    expect(inf.restarts).toBe(0);
  });

  it("errors (API server unavailable): restarts with backoff until it is back, then catches up", async () => {
    const { inf, put } = await setup();
    await inf.start();
    api!.setUnavailable(true);
    await until(() => inf.restarts >= 3, "three restarts");
    api!.setUnavailable(false);
    await put("after", "1");
    await until(() => inf.get("after", NS) !== undefined, "the informer to see a new object");
    const restarts = inf.restarts;
    await put("later", "1");
    await until(() => inf.get("later", NS) !== undefined, "another object");
    expect(inf.restarts).toBe(restarts);
    // Restarts re-watch from the last version: nothing was compacted, so no relist was needed.
    expect(inf.lists).toBe(1);
  });

  it("restart delays double from the first to the cap, each jittered to 50-100 %, and each is logged", async () => {
    const logged: { msg: string; restarts: number; retryInMs: number }[] = [];
    const logger = pino(
      { level: "warn" },
      { write: (line: string) => void logged.push(JSON.parse(line) as (typeof logged)[number]) },
    );
    const { inf } = await setup({ logger });
    await inf.start();
    api!.setUnavailable(true);
    await until(() => inf.restarts >= 5, "five restarts");
    api!.setUnavailable(false);
    const restarts = logged.filter((l) => l.msg === "list/watch failed; restarting");
    expect(restarts.map((l) => l.restarts)).toEqual(restarts.map((_, i) => i + 1));
    // restartDelayMs 50, maxRestartDelayMs 200: 50, 100, 200, 200, ...
    restarts.slice(0, 5).forEach((l, i) => {
      const d = Math.min(200, 50 * 2 ** i);
      expect(l.retryInMs).toBeGreaterThanOrEqual(d / 2);
      expect(l.retryInMs).toBeLessThanOrEqual(d);
    });
  });

  it("a list that fails before the first sync is retried; start() resolves once it succeeds", async () => {
    const { inf, put } = await setup();
    await put("x", "1");
    api!.setUnavailable(true);
    const started = inf.start();
    await until(() => inf.restarts >= 2, "two failed starts");
    expect(inf.hasSynced).toBe(false);
    api!.setUnavailable(false);
    await started;
    expect(inf.get("x", NS)?.data?.v).toBe("1");
  });

  it("asks for bookmarks: a quiet watch's version moves on, so after compaction it re-watches without a relist", async () => {
    const { inf, core } = await setup({ bookmarkIntervalMs: 50 });
    await inf.start();
    const rv0 = Number(inf.resourceVersion);
    // Writes to another resource move the server's version; only bookmarks tell the informer.
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: "s", namespace: NS } } });
    await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: "t", namespace: NS } } });
    await until(() => Number(inf.resourceVersion) > rv0 + 1, "a bookmark");
    api!.compact();
    api!.cutWatches();
    const cm = await core.createNamespacedConfigMap({
      namespace: NS,
      body: { metadata: { name: "after", namespace: NS } },
    });
    await until(() => inf.get("after", NS) !== undefined, "the re-watch");
    expect(inf.lists).toBe(1);
    expect(inf.get("after", NS)?.metadata?.resourceVersion).toBe(cm.metadata?.resourceVersion);
  });

  it("asks the server to end each watch after 5 to 10 minutes, and waits longer than its bookmark cadence for data", async () => {
    expect(watchTimeoutSeconds(0)).toBe(300);
    expect(watchTimeoutSeconds(0.999)).toBe(599);
    expect(WATCH_INACTIVITY_MS).toBeGreaterThan(120_000); // kube-apiserver's first bookmark: 2 min
    const { inf } = await setup();
    const before = api!.watchQueries.length;
    await inf.start();
    await until(() => api!.watchQueries.length > before, "the watch");
    const q = new URLSearchParams(api!.watchQueries.at(-1));
    expect(q.get("allowWatchBookmarks")).toBe("true");
    const t = Number(q.get("timeoutSeconds"));
    expect(t).toBeGreaterThanOrEqual(300);
    expect(t).toBeLessThan(600);
  });

  it("converges on the server's state through random changes, cut watches, compactions and outages", async () => {
    const { inf, core } = await setup({ bookmarkIntervalMs: 30 });
    await inf.start();
    let seed = 7;
    // A linear congruential generator, its high bits used: the same sequence every run.
    const rand = (n: number) => (
      (seed = (seed * 1103515245 + 12345) % 2 ** 31),
      Math.floor((seed / 2 ** 31) * n)
    );
    const kinds = new Set<string>();
    const kind = (r: number) =>
      r < 8 ? "create" : r < 14 ? "replace" : r < 17 ? "delete" : ["cut", "compact", "outage"][r - 17]!;
    for (let i = 0; i < 150; i++) {
      const name = `o${rand(12)}`;
      const r = rand(20);
      kinds.add(kind(r));
      try {
        if (r < 8)
          await core.createNamespacedConfigMap({
            namespace: NS,
            body: { metadata: { name, namespace: NS }, data: { i: String(i) } },
          });
        else if (r < 14)
          await core.replaceNamespacedConfigMap({
            name,
            namespace: NS,
            body: { metadata: { name, namespace: NS }, data: { i: String(i) } },
          });
        else if (r < 17) await core.deleteNamespacedConfigMap({ name, namespace: NS });
        else if (r === 17) api!.cutWatches();
        else if (r === 18) api!.compact();
        else {
          api!.setUnavailable(true);
          await new Promise((res) => setTimeout(res, 100));
          api!.setUnavailable(false);
        }
      } catch (err) {
        // 409 AlreadyExists / 404 NotFound are expected from random operations.
        expect([404, 409]).toContain((err as { code?: number }).code);
      }
      if (i % 10 === 0) await new Promise((res) => setTimeout(res, 5));
    }
    const truth = async () =>
      (await core.listNamespacedConfigMap({ namespace: NS })).items
        .map((o) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`)
        .sort()
        .join(",");
    const want = await truth();
    const have = () =>
      inf
        .list()
        .map((o) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`)
        .sort()
        .join(",");
    await until(() => have() === want, `the cache to converge (have ${have()}, want ${want})`);
    // The run did exercise every kind of disturbance.
    expect(kinds).toEqual(new Set(["create", "replace", "delete", "cut", "compact", "outage"]));
  });

  it("a throwing handler is logged and counted, and the informer goes on", async () => {
    const { inf, put } = await setup();
    inf.on("add", () => {
      throw new Error("handler bug");
    });
    await inf.start();
    await put("a", "1");
    await put("b", "1");
    await until(() => inf.get("b", NS) !== undefined, "b");
    expect(inf.handlerErrors).toBe(2);
    expect(inf.restarts).toBe(0);
  });

  it("drops managedFields from what it caches", async () => {
    const { inf } = await setup();
    await inf.start();
    const rest = api!.rest();
    const path = `/api/v1/namespaces/${NS}/configmaps/applied`;
    const body = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "applied", namespace: NS },
      data: { k: "v" },
    };
    await rest.apply(path, body, { fieldManager: "m" });
    await until(() => inf.get("applied", NS) !== undefined, "the applied object");
    const server = await rest.get<V1ConfigMap>(path);
    expect(server.metadata?.managedFields?.length).toBe(1);
    expect(inf.get("applied", NS)?.metadata?.managedFields).toBeUndefined();
    inf.stop();
    // After a relist too.
    const again = new SupervisedInformer<V1ConfigMap>(rest, {
      path: `/api/v1/namespaces/${NS}/configmaps`,
      log,
    });
    informers.push(again);
    await again.start();
    expect(again.get("applied", NS)?.metadata?.managedFields).toBeUndefined();
  });

  it("onChangeOf: adds and deletes count, updates only when the projection changes", async () => {
    const { inf, put, patch, del, core } = await setup();
    let changes = 0;
    onChangeOf(
      inf,
      (o) => o.data?.v,
      () => changes++,
    );
    await inf.start();
    await put("p", "1");
    await until(() => changes === 1, "the add");
    // A label changes, the projection (data.v) does not: no call.
    await core.replaceNamespacedConfigMap({
      name: "p",
      namespace: NS,
      body: { metadata: { name: "p", namespace: NS, labels: { other: "x" } }, data: { v: "1" } },
    });
    await patch("p", "2");
    await until(() => inf.get("p", NS)?.data?.v === "2", "the second update");
    expect(changes).toBe(2);
    await del("p");
    await until(() => changes === 3, "the delete");
  });
});
