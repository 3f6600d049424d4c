// The VirtualServer status writer against the in-process API server (real HTTP, real server-side
// apply of the status subresource): who writes, coalescing, skipping, takeover, retries.
import { CustomObjectsApi } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VirtualServer } from "../../src/api/virtual-server.ts";
import type { VirtualServerStatus } from "../../src/cluster-mode/vs-status.ts";
import { crds } from "../../src/api/crds.ts";
import {
  applyVirtualServerStatus,
  VirtualServerStatusWriter,
} from "../../src/cluster-mode/vs-status-writer.ts";
import { startApiServer, type ApiServer } from "../kubeapi/server.ts";
import { waitUntil } from "../support/agents.ts";

const log = pino({ level: "silent" });
const VS = { group: "vipkeeper.io", version: "v1alpha1", plural: "virtualservers", namespace: "shop" };

describe("VirtualServerStatusWriter", () => {
  let api: ApiServer;
  let custom: CustomObjectsApi;
  const writers: VirtualServerStatusWriter[] = [];

  const create = async (name: string, spec: Record<string, unknown> = {}) =>
    (await custom.createNamespacedCustomObject({
      ...VS,
      body: {
        apiVersion: "vipkeeper.io/v1alpha1",
        kind: "VirtualServer",
        metadata: { name, namespace: "shop" },
        spec: {
          address: "198.18.0.50",
          port: 80,
          routerRef: "web",
          realServers: [
            { address: "198.18.0.11", port: 8080 },
            { address: "198.18.0.12", port: 8080 },
          ],
          ...spec,
        },
      },
    })) as VirtualServer;
  const stored = (name: string) =>
    api.peek("virtualservers", name, "shop") as
      | (VirtualServer & {
          status?: VirtualServerStatus;
          metadata: { managedFields?: { manager: string; subresource?: string }[] };
        })
      | undefined;
  const cache = (names: string[]) => () =>
    names.map((n) => stored(n)).filter((v): v is NonNullable<typeof v> => v !== undefined);
  const writer = (names: string[]) => {
    const w = new VirtualServerStatusWriter({
      apply: applyVirtualServerStatus(api.rest(), "vipkeeper-agent"),
      log,
      virtualServers: cache(names),
      delayMs: 20,
    });
    writers.push(w);
    return w;
  };
  const ready = (name: string) => stored(name)?.status?.conditions?.find((c) => c.type === "Ready");

  beforeAll(async () => {
    api = await startApiServer({ crds: crds() });
    custom = api.kubeConfig().makeApiClient(CustomObjectsApi);
  });
  afterAll(async () => {
    for (const w of writers) w.stop();
    await api?.close();
  });

  it("a backup writes nothing; the master writes realServers, active, Ready and observedGeneration", async () => {
    await create("a");
    const w = writer(["a"]);
    w.programming([stored("a")!]);
    w.programmed();
    w.routerState("web", []);
    w.changed();
    await w.idle();
    expect(w.stats.passes).toBeGreaterThan(0);
    expect(stored("a")?.status).toBeUndefined();
    w.routerState("web", ["IPv4"]);
    await w.idle();
    const s = stored("a")!;
    expect(s.status).toMatchObject({ active: 2, observedGeneration: 1 });
    expect(s.status?.realServers?.map((r) => `${r.address}:${r.port}=${r.healthy}`)).toEqual([
      "198.18.0.11:8080=true",
      "198.18.0.12:8080=true",
    ]);
    expect(ready("a")).toMatchObject({ status: "True", reason: "Serving", observedGeneration: 1 });
    expect(s.metadata.managedFields?.find((m) => m.subresource === "status")?.manager).toBe(
      "vipkeeper-agent",
    );
    w.stop();
  });

  it("a burst of health flips is one write, and a pass with nothing new writes nothing", async () => {
    await create("b");
    const w = writer(["b"]);
    w.programming([stored("b")!]);
    w.programmed();
    w.routerState("web", ["IPv4"]);
    await w.idle();
    const before = w.stats.writes;
    w.health("shop/b", "198.18.0.11:8080", false);
    w.health("shop/b", "198.18.0.12:8080", false);
    w.health("shop/b", "198.18.0.12:8080", true);
    w.health("shop/b", "198.18.0.12:8080", false);
    await w.idle();
    expect(w.stats.writes).toBe(before + 1);
    expect(stored("b")?.status?.realServers?.every((r) => !r.healthy)).toBe(true);
    expect(ready("b")).toMatchObject({ status: "False", reason: "QuorumLost" });
    w.changed();
    w.health("shop/b", "198.18.0.12:8080", false); // no change
    await w.idle();
    expect(w.stats.writes).toBe(before + 1);
    w.stop();
  });

  it("when mastership moves the new master's view replaces the entry, and the old master stays quiet", async () => {
    await create("c");
    const n1 = writer(["c"]);
    const n2 = writer(["c"]);
    for (const w of [n1, n2]) {
      w.programming([stored("c")!]);
      w.programmed();
    }
    n1.health("shop/c", "198.18.0.11:8080", false); // only n1's checks see it fail
    n1.routerState("web", ["IPv4"]);
    await n1.idle();
    expect(stored("c")?.status?.active).toBe(1);
    n1.routerState("web", []);
    n2.routerState("web", ["IPv4"]);
    await n2.idle();
    expect(stored("c")?.status?.active).toBe(2);
    expect(stored("c")?.status?.realServers?.[0]?.healthy).toBe(true);
    const written = n1.stats.writes;
    n1.health("shop/c", "198.18.0.12:8080", false);
    await n1.idle();
    expect(n1.stats.writes).toBe(written);
    // n1 master again: it compares with the object (n2's), not with what it wrote long ago.
    n2.routerState("web", []);
    n1.health("shop/c", "198.18.0.12:8080", true);
    n1.routerState("web", ["IPv4"]);
    await n1.idle();
    expect(stored("c")?.status?.active).toBe(1);
    n1.stop();
    n2.stop();
  });

  it("an invalid object gets Invalid True naming the fields; a refused dataplane NotProgrammed", async () => {
    await create("d", { realServers: [{ address: "2001:db8::1", port: 80 }] });
    await create("e");
    const w = writer(["d", "e"]);
    w.programming([stored("e")!]);
    w.programmed(
      "VirtualServer e: spec.fwmark: the nftables backend selects traffic by address and port; fwmark needs the IPVS backend",
    );
    w.routerState("web", ["IPv4"]);
    await w.idle();
    const invalid = stored("d")?.status?.conditions?.find((c) => c.type === "Invalid");
    expect(invalid).toMatchObject({ status: "True", reason: "InvalidSpec" });
    expect(invalid?.message).toContain("spec.realServers[0].address: IPv6, but the virtual address is IPv4");
    expect(ready("e")).toMatchObject({ status: "False", reason: "NotProgrammed" });
    expect(ready("e")?.message).toBe(
      "the load balancer cannot run it: VirtualServer e: spec.fwmark: the nftables backend selects traffic by address and port; fwmark needs the IPVS backend",
    );
    w.stop();
  });

  it("an object its router does not grant gets NotPermitted, and loses it once granted", async () => {
    await create("refused");
    const w = writer(["refused"]);
    w.programming([]);
    w.programmed();
    const refusal = {
      rule: "NamespaceNotAllowed",
      message:
        "spec.routerRef: VirtualRouter web grants no VirtualServers to namespace shop (spec.virtualServers.from)",
    } as const;
    w.refusals(new Map([["shop/refused", refusal]]));
    w.routerState("web", ["IPv4"]);
    await w.idle();
    expect(ready("refused")).toMatchObject({
      status: "False",
      reason: "NotPermitted",
      message: `not programmed: ${refusal.message}`,
    });
    // Granted now: in the dataplane, no refusal.
    w.programming([stored("refused")!]);
    w.programmed();
    w.refusals(new Map());
    await w.idle();
    expect(ready("refused")).toMatchObject({ status: "True", reason: "Serving" });
    w.stop();
  });

  it("with a dual-stack router, each VirtualServer follows the master of its own family", async () => {
    await create("v4");
    await create("v6", {
      address: "2001:db8::50",
      realServers: [{ address: "2001:db8::11", port: 8080 }],
    });
    const w = writer(["v4", "v6"]);
    w.programming([stored("v4")!, stored("v6")!]);
    w.programmed();
    w.routerState("web", ["IPv6"]);
    await w.idle();
    expect(stored("v4")?.status).toBeUndefined();
    expect(stored("v6")?.status?.realServers?.[0]).toMatchObject({ address: "2001:db8::11", healthy: true });
    w.routerState("web", ["IPv4", "IPv6"]);
    await w.idle();
    expect(stored("v4")?.status?.active).toBe(2);
    w.stop();
  });

  it("masterObject names the objects it writes: those of routers (and families) this node is master of", async () => {
    await create("m4");
    await create("m6", { address: "2001:db8::50", realServers: [{ address: "2001:db8::11", port: 8080 }] });
    await create("mdb", { routerRef: "db" });
    const w = writer(["m4", "m6", "mdb"]);
    w.programming([stored("m4")!, stored("m6")!, stored("mdb")!]);
    w.programmed();
    const masterOf = () =>
      ["m4", "m6", "mdb", "nope"].filter((n) => w.masterObject(`shop/${n}`) !== undefined);
    expect(masterOf()).toEqual([]);
    w.routerState("web", ["IPv6"]);
    await w.idle();
    expect(masterOf()).toEqual(["m6"]);
    expect(["m4", "m6", "mdb"].filter((n) => stored(n)?.status)).toEqual(["m6"]);
    // The object as the cache has it, uid and all (the Event's involvedObject).
    const m6 = w.masterObject("shop/m6") as { metadata: { name: string; uid?: string } };
    expect(m6.metadata.name).toBe("m6");
    expect(m6.metadata.uid).toBe((stored("m6")!.metadata as { uid?: string }).uid);
    expect(m6.metadata.uid).toBeTruthy();
    w.routerState("web", ["IPv4", "IPv6"]);
    w.routerState("db", ["IPv4"]);
    await w.idle();
    expect(masterOf()).toEqual(["m4", "m6", "mdb"]);
    expect(["m4", "m6", "mdb"].filter((n) => stored(n)?.status)).toEqual(["m4", "m6", "mdb"]);
    w.routerState("web", []);
    expect(masterOf()).toEqual(["mdb"]);
    w.stop();
  });

  it("retries while the API server is away, and writes once it returns", async () => {
    await create("f");
    const w = writer(["f"]);
    w.programming([stored("f")!]);
    w.programmed();
    w.routerState("web", ["IPv4"]);
    await w.idle();
    api.setUnavailable(true);
    try {
      w.health("shop/f", "198.18.0.11:8080", false);
      await waitUntil(() => w.stats.failures >= 2, 10_000, "two failed attempts");
    } finally {
      api.setUnavailable(false);
    }
    await waitUntil(
      () => stored("f")?.status?.realServers?.[0]?.healthy === false,
      35_000,
      "the write after the outage",
    );
    expect(stored("f")?.status?.active).toBe(1);
    w.stop();
  }, 40_000);

  it("an object deleted meanwhile is no failure", async () => {
    await create("g");
    const obj = stored("g")!;
    const w = new VirtualServerStatusWriter({
      apply: applyVirtualServerStatus(api.rest(), "vipkeeper-agent"),
      log,
      virtualServers: () => [obj], // the cache has not heard of the delete yet
      delayMs: 20,
    });
    writers.push(w);
    await custom.deleteNamespacedCustomObject({ ...VS, name: "g" });
    w.programming([obj]);
    w.programmed();
    w.routerState("web", ["IPv4"]);
    await w.idle();
    expect(w.stats).toMatchObject({ writes: 0, failures: 0, gone: 1 });
    w.stop();
  });
});
