// Samples for every CEL rule in the CRDs: a spec each rule accepts and one it rejects, and the field
// the API server names then. test/api/cel-rules.test.ts evaluates them with the in-process CEL;
// the invalid-object table (test/api/invalid-objects.ts) sends the bad ones to the API servers.
export type Json = Record<string, unknown>;
export interface Sample {
  good: Json;
  bad: Json;
  /** The field the API server names when it rejects `bad` (the rule's place, or its fieldPath). */
  field: string;
}

const router = (spec: Json): Json => ({ addresses: [{ address: "198.18.0.50/24" }], ...spec });
const server = (spec: Json): Json => ({
  address: "198.18.0.50",
  port: 80,
  realServers: [{ address: "198.18.0.13", port: 8080 }],
  ...spec,
});
const marked = (spec: Json): Json => {
  const s = server(spec);
  delete s.address;
  delete s.port;
  return s;
};

/** Specs per rule, keyed by where the rule sits and the rule's text. */
export const SAMPLES: Record<string, Sample> = {
  "VirtualRouter.spec !has(self.authentication) || self.version == 2": {
    good: router({ version: 2, authentication: { type: "PASS", password: "secret" } }),
    bad: router({ authentication: { type: "PASS", password: "secret" } }),
    field: "spec.authentication",
  },
  "VirtualRouter.spec self.version == 3 || self.addresses.all(a, !a.address.contains(':'))": {
    good: router({ version: 2 }),
    bad: router({ version: 2, addresses: [{ address: "2001:db8::50/64" }] }),
    field: "spec.version",
  },
  "VirtualRouter.spec self.addresses.all(a, self.addresses.exists_one(b, b.address == a.address))": {
    good: router({ addresses: [{ address: "198.18.0.50/24" }, { address: "198.18.0.51/24" }] }),
    bad: router({ addresses: [{ address: "198.18.0.50/24" }, { address: "198.18.0.50/24" }] }),
    field: "spec.addresses",
  },
  "VirtualRouter.spec !has(self.virtualMAC) || !has(self.virtualMAC.interface) || self.addresses.all(a, a.address.contains(':')) || self.addresses.all(a, !a.address.contains(':'))":
    {
      good: router({ virtualMAC: { interface: "vmac50" } }),
      bad: router({
        virtualMAC: { interface: "vmac50" },
        addresses: [{ address: "198.18.0.50/24" }, { address: "2001:db8::50/64" }],
      }),
      field: "spec.virtualMAC.interface",
    },
  "VirtualRouter.spec !has(self.notify) || !has(self.notify.syncGroupScripts) || has(self.syncGroup)": {
    good: router({ syncGroup: "pair", notify: { syncGroupScripts: { master: "/bin/true" } } }),
    bad: router({ notify: { syncGroupScripts: { master: "/bin/true" } } }),
    field: "spec.notify.syncGroupScripts",
  },
  "VirtualRouter.spec.routes[].to isCIDR(self)": {
    good: router({ routes: [{ to: "198.18.5.0/24", via: "198.18.0.1" }] }),
    bad: router({ routes: [{ to: "198.18.5.0/33", via: "198.18.0.1" }] }),
    field: "spec.routes[0].to",
  },
  "VirtualRouter.spec.routes[].via isIP(self)": {
    good: router({ routes: [{ to: "198.18.5.0/24", via: "198.18.0.1" }] }),
    bad: router({ routes: [{ to: "198.18.5.0/24", via: "198.18.0.0/24" }] }),
    field: "spec.routes[0].via",
  },
  "VirtualRouter.spec.routes[].src isIP(self)": {
    good: router({ routes: [{ to: "198.18.5.0/24", dev: "eth0", src: "198.18.0.50" }] }),
    bad: router({ routes: [{ to: "198.18.5.0/24", dev: "eth0", src: "gateway" }] }),
    field: "spec.routes[0].src",
  },
  "VirtualRouter.spec.routes[].table self != 255": {
    good: router({ routes: [{ to: "198.18.5.0/24", dev: "eth0", table: 100 }] }),
    bad: router({ routes: [{ to: "198.18.5.0/24", dev: "eth0", table: 255 }] }),
    field: "spec.routes[0].table",
  },
  "VirtualRouter.spec.rules[].from isIP(self) || isCIDR(self)": {
    good: router({ rules: [{ from: "198.18.0.50", table: 100 }] }),
    bad: router({ rules: [{ from: "198.18.0./24", table: 100 }] }),
    field: "spec.rules[0].from",
  },
  "VirtualRouter.spec.rules[].to isIP(self) || isCIDR(self)": {
    good: router({ rules: [{ to: "198.18.5.0/24", table: 100 }] }),
    bad: router({ rules: [{ to: "198.18.5.0/240", table: 100 }] }),
    field: "spec.rules[0].to",
  },
  "VirtualRouter.spec.rules[].table self != 255": {
    good: router({ rules: [{ from: "198.18.0.50", table: 100 }] }),
    bad: router({ rules: [{ from: "198.18.0.50", table: 255 }] }),
    field: "spec.rules[0].table",
  },
  "VirtualRouter.spec.addresses[].address isIP(self) || isCIDR(self)": {
    good: router({ addresses: [{ address: "198.18.0.50" }, { address: "2001:db8::50/64" }] }),
    bad: router({ addresses: [{ address: "198.18.0.256/24" }] }),
    field: "spec.addresses[0].address",
  },
  "VirtualRouter.spec.virtualServers.from[].addresses[] isIP(self) || isCIDR(self)": {
    good: router({
      virtualServers: { from: [{ namespaceSelector: {}, addresses: ["198.18.0.50", "2001:db8:5::/64"] }] },
    }),
    bad: router({ virtualServers: { from: [{ namespaceSelector: {}, addresses: ["198.18.0.0/33"] }] } }),
    field: "spec.virtualServers.from[0].addresses[0]",
  },
  "VirtualRouter.spec.virtualServers.from[].ports[] !has(self.endPort) || self.endPort >= self.port": {
    good: router({
      virtualServers: {
        from: [{ namespaceSelector: {}, ports: [{ port: 80 }, { port: 8000, endPort: 8080 }] }],
      },
    }),
    bad: router({
      virtualServers: { from: [{ namespaceSelector: {}, ports: [{ port: 8080, endPort: 8000 }] }] },
    }),
    field: "spec.virtualServers.from[0].ports[0]",
  },
  "VirtualRouter.spec.priorities self.filter(p, p.priority == 255).size() <= 1": {
    good: router({
      priorities: [
        { node: "a", priority: 255 },
        { node: "b", priority: 254 },
      ],
    }),
    bad: router({
      priorities: [
        { node: "a", priority: 255 },
        { node: "b", priority: 255 },
      ],
    }),
    field: "spec.priorities",
  },
  "VirtualRouter.spec.unicast.peers[] isIP(self)": {
    good: router({ unicast: { peers: ["198.18.0.2", "198.18.0.3"] } }),
    bad: router({ unicast: { peers: ["node-b"] } }),
    field: "spec.unicast.peers[0]",
  },
  "VirtualServer.spec has(self.group) ? !has(self.fwmark) && !has(self.address) && !has(self.port) : has(self.fwmark) ? !has(self.address) && !has(self.port) : has(self.address) && has(self.port)":
    { good: marked({ fwmark: 7 }), bad: server({ fwmark: 7 }), field: "spec.fwmark" },
  "VirtualServer.spec self.realServers.all(r, has(r.port)) || (has(self.group) ? self.group.all(g, has(g.fwmark)) : has(self.fwmark))":
    {
      good: marked({ group: [{ fwmark: 7 }, { fwmark: 8 }], realServers: [{ address: "198.18.0.13" }] }),
      bad: marked({
        group: [{ fwmark: 7 }, { address: "198.18.0.50", port: 80 }],
        realServers: [{ address: "198.18.0.13" }],
      }),
      field: "spec.realServers",
    },
  "VirtualServer.spec.group[] has(self.fwmark) ? !has(self.address) && !has(self.port) : has(self.address) && has(self.port)":
    {
      good: marked({ group: [{ address: "198.18.0.50-198.18.0.52", port: 80 }, { fwmark: 7 }] }),
      bad: marked({ group: [{ address: "198.18.0.50" }] }),
      field: "spec.group[0]",
    },
  "VirtualServer.spec.realServers[].checkTargets[].address isIP(self)": {
    good: server({
      realServers: [{ address: "198.18.0.13", port: 25, checkTargets: [{ address: "198.18.0.14" }] }],
    }),
    bad: server({ realServers: [{ address: "198.18.0.13", port: 25, checkTargets: [{ address: "mx" }] }] }),
    field: "spec.realServers[0].checkTargets[0].address",
  },
  "VirtualServer.spec.address isIP(self)": {
    good: server({ address: "2001:db8::50", realServers: [{ address: "2001:db8::13", port: 80 }] }),
    bad: server({ address: "198.18.0.50/24" }),
    field: "spec.address",
  },
  "VirtualServer.spec.realServers[].address isIP(self)": {
    good: server({}),
    bad: server({ realServers: [{ address: "web-1", port: 80 }] }),
    field: "spec.realServers[0].address",
  },
  "VirtualServer.spec.sorryServer.address isIP(self)": {
    good: server({ sorryServer: { address: "198.18.0.99", port: 80 } }),
    bad: server({ sorryServer: { address: "198.18.0.999", port: 80 } }),
    field: "spec.sorryServer.address",
  },
  "IPPool.spec.addresses[] isCIDR(self) || isIP(self) || self.matches('^[0-9a-fA-F:.]+ *- *[0-9a-fA-F:.]+$')":
    {
      good: { addresses: ["198.18.10.0/24", "198.18.11.1", "198.18.12.1 - 198.18.12.9", "2001:db8:10::/64"] },
      bad: { addresses: ["198.18.10.0/24, 198.18.11.0/24"] },
      field: "spec.addresses[0]",
    },
};
