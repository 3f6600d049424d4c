// The agent's heartbeat Lease against the in-process API server: a renewal is one conditional
// update; a lease someone else wrote is read and renewed in the same round; a deleted one is made
// again.
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentLeaseName, keepAgentLease } from "../../src/cluster-mode/agent-lease.ts";
import { LeaseApi } from "../../src/kube/leases.ts";
import { startApiServer, type ApiServer } from "../kubeapi/server.ts";
import { waitUntil } from "../support/agents.ts";
import { countCalls } from "../support/count-calls.ts";

const NS = "vipkeeper";
const log = pino({ level: "silent" });

describe("agent lease", () => {
  let api: ApiServer;
  let coordination: LeaseApi;
  beforeAll(async () => {
    api = await startApiServer();
    coordination = new LeaseApi(api.rest());
  });
  afterAll(() => api.close());

  it("renews with one update per period, rereads after a conflict, recreates a deleted lease", async () => {
    const { client: counted, calls } = countCalls(coordination);
    const name = agentLeaseName("n1");
    const lease = keepAgentLease(counted, NS, "n1", log, 50);
    try {
      await waitUntil(
        () => calls.filter((c) => c === "replaceNamespacedLease").length >= 5,
        10_000,
        "5 renewals",
      );
      // The first round reads (404) and creates; every renewal after it is a single update.
      expect(calls.slice(0, 2)).toEqual(["readNamespacedLease", "createNamespacedLease"]);
      expect(new Set(calls.slice(2))).toEqual(new Set(["replaceNamespacedLease"]));

      const cur = await coordination.readNamespacedLease({ name, namespace: NS });
      await coordination.replaceNamespacedLease({
        name,
        namespace: NS,
        body: { ...cur, metadata: { ...cur.metadata, annotations: { touched: "yes" } } },
      });
      let mark = calls.length;
      await waitUntil(() => calls.slice(mark).includes("readNamespacedLease"), 10_000, "a reread");
      const after = await coordination.readNamespacedLease({ name, namespace: NS });
      await waitUntil(
        async () =>
          (await coordination.readNamespacedLease({ name, namespace: NS })).metadata?.resourceVersion !==
          after.metadata?.resourceVersion,
        10_000,
        "a renewal after the conflict",
      );

      await api.rest().delete(`/apis/coordination.k8s.io/v1/namespaces/${NS}/leases/${name}`);
      mark = calls.length;
      await waitUntil(
        () => calls.slice(mark).includes("createNamespacedLease"),
        10_000,
        "the lease made again",
      );
      const made = await coordination.readNamespacedLease({ name, namespace: NS });
      expect(made.spec?.holderIdentity).toBe("n1");
    } finally {
      lease.stop();
    }
  });
});
