// Defaults live once, in the schemas (the API server applies them in a cluster; withDefaults in file
// mode). The agent's planners still fall back on a value where a field is absent (a nested object's
// defaults apply only where it is present); these tests hold those fallbacks to the schema: an
// object plans the same with and without its defaults filled in.
import { describe, expect, it } from "vitest";
import { planForNode } from "../../src/plan/plan.ts";
import { withDefaults } from "../../src/api/defaults.ts";
import { validateVirtualRouter, type VirtualRouter } from "../../src/api/virtual-router.ts";
import { validateVirtualServer, type VirtualServer } from "../../src/api/virtual-server.ts";
import { checkJobs, toVirtualService } from "../../src/lb/from-api.ts";

const router = (spec: Partial<VirtualRouter["spec"]>): VirtualRouter => ({
  apiVersion: "vipkeeper.io/v1alpha1",
  kind: "VirtualRouter",
  metadata: { name: "web" },
  spec: { vrid: 7, interface: "eth0", addresses: [{ address: "198.18.0.50/24" }], ...spec },
});

const server = (spec: Partial<VirtualServer["spec"]>): VirtualServer => ({
  apiVersion: "vipkeeper.io/v1alpha1",
  kind: "VirtualServer",
  metadata: { name: "web", namespace: "default" },
  spec: {
    address: "198.18.0.50",
    port: 80,
    realServers: [{ address: "198.18.0.11", port: 8080 }],
    ...spec,
  },
});

describe("the planners' fallbacks are the schemas' defaults", () => {
  const routers: [string, VirtualRouter][] = [
    ["a minimal router", router({})],
    ["a v2 router", router({ version: 2 })],
    [
      "every nested object present with only its required fields",
      router({
        garp: {},
        track: {
          interfaces: [{ name: "eth1" }],
          files: [{ path: "/run/down" }],
          pods: [{ namespace: "default", matchLabels: { app: "web" } }],
          endpoints: [{ namespace: "default", service: "web" }],
          scripts: [{ name: "chk", command: "true" }],
        },
        notify: {
          webhooks: [{ url: "http://198.18.0.9/hook" }],
          mail: { to: ["root@localhost"], from: "vipkeeper@localhost", server: "198.18.0.9" },
        },
      }),
    ],
  ];
  it.each(routers)("%s plans the same with its defaults filled", (_, r) => {
    expect(validateVirtualRouter(r)).toEqual([]);
    const filled = withDefaults(r);
    expect(filled).not.toEqual(r); // the schema did fill something in
    expect(planForNode([filled], "n1")).toEqual(planForNode([r], "n1"));
  });

  const checks: VirtualServer["spec"]["healthCheck"][] = [
    { httpGet: {} },
    { httpsGet: {} },
    { tcp: {} },
    { udp: {} },
    { dns: { name: "example.test" } },
  ];
  const servers: [string, VirtualServer][] = [
    ["a minimal virtual server", server({})],
    ["with persistence", server({ persistence: { timeout: "50s" } })],
    ...checks.map((healthCheck): [string, VirtualServer] => [
      `with the check ${Object.keys(healthCheck!)[0]}`,
      server({ healthCheck }),
    ]),
  ];
  it.each(servers)("%s programs and checks the same with its defaults filled", (_, vs) => {
    expect(validateVirtualServer(vs)).toEqual([]);
    const filled = withDefaults(vs);
    expect(filled).not.toEqual(vs);
    expect(toVirtualService(filled)).toEqual(toVirtualService(vs));
    expect(checkJobs(filled)).toEqual(checkJobs(vs));
  });
});
