// The provider's loop against fake caches: the order of its router writes when a Local Service
// moves between node sets, the pool's VRID status, and the Events of Services left without a VRID.
import type { V1EndpointSlice, V1Service } from "@kubernetes/client-node";
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { IPPoolStatus } from "../../src/api/status.ts";
import type { RouterObject } from "../../src/cluster/routers.ts";
import { LbProviderLoop } from "../../src/controller/lb-loop.ts";
import type { PoolObject } from "../../src/lbprovider/pools.ts";
import { localRouterName } from "../../src/lbprovider/services.ts";
import type { RouterSeen } from "../../src/lbprovider/vrids.ts";

const service = (name: string, i: number): V1Service => ({
  metadata: { name, namespace: "ns", creationTimestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i)) },
  spec: {
    type: "LoadBalancer",
    loadBalancerClass: "vipkeeper.io/vrrp",
    externalTrafficPolicy: "Local",
    ports: [{ port: 80 }],
  },
});
const slice = (service: string, node: string): V1EndpointSlice => ({
  metadata: { name: `${service}-x`, namespace: "ns", labels: { "kubernetes.io/service-name": service } },
  addressType: "IPv4",
  endpoints: [{ addresses: ["10.0.0.1"], nodeName: node, conditions: { ready: true } }],
});

function world() {
  const services = [service("a", 0), service("b", 1)];
  const slices = new Map<string, V1EndpointSlice>();
  const routers = new Map<string, RouterSeen>();
  const pool: PoolObject = {
    metadata: { name: "p" },
    spec: { addresses: ["198.18.10.0/24"], announce: { routers: 1, interface: "eth0" } },
  };
  const log: string[] = [];
  const events: string[] = [];
  const poolStatus: IPPoolStatus[] = [];
  const loop = new LbProviderLoop(
    {
      services: { list: () => services },
      pools: { list: () => [pool] },
      namespaces: { list: () => [] },
      routers: { list: () => [...routers.values()] },
      slices: { list: () => [...slices.values()] },
      writeServiceStatus: (_namespace, name, status) => {
        const s = services.find((x) => x.metadata!.name === name)!;
        s.status = status;
        return Promise.resolve();
      },
      applyRouter: (r: RouterObject) => {
        log.push(`apply ${r.metadata.name} ${r.spec.addresses.map((a) => a.address).join(",")}`);
        routers.set(r.metadata.name, structuredClone(r));
        return Promise.resolve();
      },
      deleteRouter: (name) => {
        log.push(`delete ${name}`);
        routers.delete(name);
        return Promise.resolve();
      },
      writePoolStatus: (_name, status) => {
        poolStatus.push(status);
        pool.status = { conditions: status.conditions };
        return Promise.resolve();
      },
      event: (s, type, reason, message) => events.push(`${s.metadata!.name} ${type} ${reason}: ${message}`),
      now: () => Date.UTC(2026, 1, 1),
    },
    pino({ level: "silent" }),
    false,
  );
  return { loop, slices, routers, log, events, poolStatus };
}

describe("LoadBalancer provider loop", () => {
  it("moves an address off its old router before the new one takes it, and deletes the empty router first", async () => {
    const w = world();
    const n1 = localRouterName("p", ["n1"]);
    const n2 = localRouterName("p", ["n2"]);
    w.slices.set("a", slice("a", "n1"));
    w.slices.set("b", slice("b", "n1"));
    await w.loop.reconcile();
    expect(w.log).toEqual([`apply ${n1} 198.18.10.0,198.18.10.1`]);

    w.log.length = 0;
    w.slices.set("b", slice("b", "n2"));
    await w.loop.reconcile();
    expect(w.log).toEqual([`apply ${n1} 198.18.10.0`, `apply ${n2} 198.18.10.1`]);

    w.log.length = 0;
    w.slices.set("a", slice("a", "n2"));
    await w.loop.reconcile();
    expect(w.log).toEqual([`delete ${n1}`, `apply ${n2} 198.18.10.0,198.18.10.1`]);
    expect(w.routers.get(n2)!.spec.track?.endpoints?.map((e) => e.service)).toEqual(["a", "b"]);
  });

  it("reports VRIDs per segment in the pool's status, and tells each Service once when its router has none", async () => {
    const w = world();
    const n1 = localRouterName("p", ["n1"]);
    w.slices.set("a", slice("a", "n1"));
    w.slices.set("b", slice("b", "n1"));
    await w.loop.reconcile();
    // The router controller gave the router a VRID.
    w.routers.get(n1)!.status = { vrid: 1 };
    await w.loop.reconcile();
    expect(w.poolStatus.at(-1)).toEqual({
      allocated: { ipv4: 2, ipv6: 0 },
      vrids: [{ segment: "198.18.10.0/24 on eth0", used: 1, free: 254, routers: 1, waiting: 0 }],
      conditions: [
        {
          type: "VRIDsExhausted",
          status: "False",
          reason: "VRIDsAvailable",
          message: "no generated router of the pool is short of a VRID",
          lastTransitionTime: "2026-02-01T00:00:00Z",
        },
      ],
    });
    expect(w.events.filter((e) => e.includes("VRIDsExhausted"))).toEqual([]);

    // It had none: the segment is full.
    const why = "every VRID (1-255) is in use on 198.18.10.0/24 on eth0; this router does not run";
    w.routers.get(n1)!.status = {
      conditions: [{ type: "VRIDConflict", reason: "VRIDsExhausted", message: why }],
    };
    await w.loop.reconcile();
    const told = [
      `a Warning VRIDsExhausted: its address is not announced: VirtualRouter ${n1} has no VRID (${why})`,
      `b Warning VRIDsExhausted: its address is not announced: VirtualRouter ${n1} has no VRID (${why})`,
    ];
    expect(w.events.filter((e) => e.includes("VRIDsExhausted"))).toEqual(told);
    expect(w.poolStatus.at(-1)!.conditions![0]).toMatchObject({
      type: "VRIDsExhausted",
      status: "True",
      reason: "NoVRIDLeft",
      message: `198.18.10.0/24 on eth0: all 255 VRIDs are in use and 1 more generated router needs one (${n1}); their Services' addresses are not announced`,
    });
    expect(w.poolStatus.at(-1)!.vrids).toEqual([
      { segment: "198.18.10.0/24 on eth0", used: 0, free: 255, routers: 1, waiting: 1 },
    ]);
    const writes = w.poolStatus.length;
    await w.loop.reconcile();
    expect(w.events.filter((e) => e.includes("VRIDsExhausted"))).toEqual(told);
    expect(w.poolStatus.length).toBe(writes); // nothing changed, nothing written
  });
});
