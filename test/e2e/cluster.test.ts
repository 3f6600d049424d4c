// End to end on a real cluster (kind, k3s, ...) where vipkeeper is installed (helm install
// ./charts/vipkeeper, or kubectl apply -f deploy/) and KUBECONFIG points at it. The same scenarios
// as test/net/cluster.test.ts runs against the in-process API server in the lab.
//
//   KUBECONFIG=~/.kube/config VIPKEEPER_E2E_ADDRESS=192.0.2.10/24 npx vitest run test/e2e
//
// VIPKEEPER_E2E_ADDRESS must be a free address on the nodes' subnet; VIPKEEPER_E2E_NAMESPACE is
// where vipkeeper runs (default vipkeeper).
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const kubeconfig = process.env.KUBECONFIG;
const address = process.env.VIPKEEPER_E2E_ADDRESS;
const namespace = process.env.VIPKEEPER_E2E_NAMESPACE ?? "vipkeeper";
const why = !kubeconfig
  ? "KUBECONFIG is not set: no real cluster to run against (the lab runs these scenarios: test/net/cluster.test.ts)"
  : !address
    ? "VIPKEEPER_E2E_ADDRESS is not set: a free address on the nodes' subnet is needed"
    : "";
if (why) console.warn(`e2e skipped: ${why}`);

const group = { group: "vipkeeper.io", version: "v1alpha1", plural: "virtualrouters" };
const NAME = `e2e-${Date.now().toString(36)}`;

type Router = { status?: { master?: string; conditions?: { type: string; status: string }[] } };

async function until<T>(what: string, get: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await get().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

describe.skipIf(!!why)("vipkeeper on a real cluster", () => {
  let custom: CustomObjectsApi;
  let core: CoreV1Api;
  const get = () => custom.getClusterCustomObject({ ...group, name: NAME }) as Promise<Router>;

  beforeAll(() => {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    custom = kc.makeApiClient(CustomObjectsApi);
    core = kc.makeApiClient(CoreV1Api);
  });

  afterAll(async () => {
    if (why) return;
    await custom.deleteClusterCustomObject({ ...group, name: NAME }).catch(() => undefined);
  });

  it("rejects an invalid VirtualRouter with a message naming the field", async () => {
    const bad = {
      apiVersion: "vipkeeper.io/v1alpha1",
      kind: "VirtualRouter",
      metadata: { name: `${NAME}-bad` },
      spec: { vrid: 300, addresses: [{ address: address! }] },
    };
    await expect(custom.createClusterCustomObject({ ...group, body: bad })).rejects.toThrow(/spec\.vrid/);
  });

  it("elects a master that holds the address, and says so in status", async () => {
    await custom.createClusterCustomObject({
      ...group,
      body: {
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "VirtualRouter",
        metadata: { name: NAME },
        spec: { addresses: [{ address: address! }], advertInterval: "100ms" },
      },
    });
    const master = await until("a master", async () => (await get()).status?.master || undefined);
    expect(master).toBeTruthy();
    const ready = (await get()).status?.conditions?.find((c) => c.type === "Ready");
    expect(ready?.status).toBe("True");
  }, 90_000);

  it("moves the master when that node's agent is killed", async () => {
    const before = (await get()).status!.master!;
    const pods = await core.listNamespacedPod({
      namespace,
      labelSelector: "app.kubernetes.io/component=agent",
      fieldSelector: `spec.nodeName=${before}`,
    });
    expect(pods.items.length).toBe(1);
    await core.deleteNamespacedPod({
      namespace,
      name: pods.items[0]!.metadata!.name!,
      gracePeriodSeconds: 0,
    });
    const after = await until("another master", async () => {
      const m = (await get()).status?.master;
      return m && m !== before ? m : undefined;
    });
    expect(after).not.toBe(before);
  }, 90_000);

  it("releases the address everywhere when the router is deleted", async () => {
    await custom.deleteClusterCustomObject({ ...group, name: NAME });
    await until("the router to be gone", async () => {
      try {
        await get();
        return undefined;
      } catch {
        return true;
      }
    });
  }, 90_000);
});
