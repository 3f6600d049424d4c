// What a namespace may attach to a VirtualRouter (pure). VirtualServers are namespaced, and every
// node of their router programs them as root: the router, written by the admin, is the only thing
// that grants a namespace an address, a port, a firewall mark, an exec check, or real servers on
// node-local addresses (spec.virtualServers.from). Nothing here applies to file mode: the file is
// the admin's.
import { effectiveAddress, inCidr, parseCidr, rangeOf } from "../base/ip.ts";
import { selects } from "../api/label-selector.ts";
import type { VirtualRouterSpec } from "../api/virtual-router.ts";
import { servedEndpoints, type VirtualServer } from "../api/virtual-server.ts";

type Grant = NonNullable<VirtualRouterSpec["virtualServers"]>["from"][number];

/** Why a VirtualServer is not programmed: the rule (a condition reason) and a message naming fields. */
export interface Refusal {
  rule:
    | "RouterNotFound"
    | "NamespaceNotAllowed"
    | "AddressNotAllowed"
    | "PortNotAllowed"
    | "FwmarkNotAllowed"
    | "ExecNotAllowed"
    | "RealServerNotAllowed"
    | "EndpointInUse";
  message: string;
}

export interface GrantContext {
  /** The router that spec.routerRef names, if it exists. */
  router: { metadata: { name: string }; spec: VirtualRouterSpec } | undefined;
  /** The labels of the VirtualServer's namespace (undefined: not known, so nothing is granted). */
  namespaceLabels: Readonly<Record<string, string>> | undefined;
  /** The agent runs with --allow-scripts (the node admin's say). */
  allowScripts: boolean;
  /**
   * Addresses of the nodes: this host's own, every Node object's, and every virtual address, in
   * canonical text. A real server there reaches a node-local port from the host network.
   */
  nodeAddresses: ReadonlySet<string>;
}

/** The kinds of address that are the node itself whatever the node: loopback, link-local, ... */
const NODE_LOCAL_RANGES = new Set(["loopback", "linkLocal", "unspecified", "multicast", "broadcast"]);

/** Why an address is node-local, or undefined. IPv4-mapped IPv6 addresses count as their IPv4 one. */
export function nodeLocalKind(address: string, nodeAddresses: ReadonlySet<string>): string | undefined {
  const ip = effectiveAddress(address);
  if (ip === undefined) return undefined; // not an address: the validator says so
  const range = rangeOf(ip)!;
  if (NODE_LOCAL_RANGES.has(range)) return range === "linkLocal" ? "link-local" : range;
  if (nodeAddresses.has(ip)) return "an address of a node";
  return undefined;
}

/** The label the API server puts on every Namespace: its name. */
const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";

/** The selector of one namespace, by name (what generated and imported grants name). */
export const namespaceByName = (namespace: string) => ({
  matchLabels: { [NAMESPACE_NAME_LABEL]: namespace },
});

/** An address (or CIDR's address) in canonical text, or the text as it is when it is none. */
const canonical = (text: string) => parseCidr(text)?.address ?? text;

/** The router's own virtual addresses, canonical: what a grant without `addresses` allows. */
const ownAddresses = (router: { spec: VirtualRouterSpec }) =>
  new Set(router.spec.addresses.map((a) => canonical(a.address)));

const portAllowed = (g: Grant, port: number, protocol: string) =>
  !g.ports ||
  g.ports.some(
    (p) =>
      port >= p.port &&
      port <= (p.endPort ?? p.port) &&
      (p.protocol === undefined || p.protocol === protocol),
  );

/** Every address the node sends traffic or checks to: real servers, their check targets, the sorry server. */
function contactedAddresses(spec: VirtualServer["spec"]): { field: string; address: string }[] {
  return [
    ...spec.realServers.map((r, i) => ({ field: `spec.realServers[${i}].address`, address: r.address })),
    // A check target is probed like a real server.
    ...spec.realServers.flatMap((r, i) =>
      (r.checkTargets ?? []).map((t, j) => ({
        field: `spec.realServers[${i}].checkTargets[${j}].address`,
        address: t.address,
      })),
    ),
    ...(spec.sorryServer ? [{ field: "spec.sorryServer.address", address: spec.sorryServer.address }] : []),
  ];
}

/** The first thing this grant does not allow the VirtualServer, or undefined when it allows all. */
function checkGrant(
  vs: VirtualServer,
  g: Grant,
  where: string,
  ctx: GrantContext & { router: NonNullable<GrantContext["router"]> },
): Refusal | undefined {
  const { spec } = vs;
  const ns = vs.metadata.namespace ?? "default";
  const router = ctx.router.metadata.name;
  // Everything the object serves (address and port, fwmark, or every entry of its group).
  const field = spec.group ? "spec.group" : undefined;
  const own = ownAddresses(ctx.router);
  for (const e of servedEndpoints(spec)) {
    if (e.fwmark !== undefined) {
      if (!(g.fwmarks ?? []).includes(e.fwmark))
        return {
          rule: "FwmarkNotAllowed",
          message: `${field ?? "spec.fwmark"} ${e.fwmark}: VirtualRouter ${router} does not grant it to namespace ${ns} (${where}.fwmarks)`,
        };
      continue;
    }
    const address = canonical(e.address);
    const granted = g.addresses ? g.addresses.some((c) => inCidr(address, c)) : own.has(address);
    if (!granted)
      return {
        rule: "AddressNotAllowed",
        message: `${field ? `${field} address` : "spec.address"} ${e.address}: VirtualRouter ${router} does not grant it to namespace ${ns} (${where}.addresses${g.addresses ? "" : ": the router's own addresses"})`,
      };
    if (!portAllowed(g, e.port, e.protocol))
      return {
        rule: "PortNotAllowed",
        message: `${field ? `${field} port` : "spec.port"} ${e.port}/${e.protocol}: VirtualRouter ${router} does not grant it to namespace ${ns} (${where}.ports)`,
      };
  }
  if (spec.healthCheck?.exec) {
    if (!g.allowExec)
      return {
        rule: "ExecNotAllowed",
        message: `spec.healthCheck.exec: VirtualRouter ${router} does not allow exec checks to namespace ${ns} (${where}.allowExec); the command was not run`,
      };
    if (!ctx.allowScripts)
      return {
        rule: "ExecNotAllowed",
        message: `spec.healthCheck.exec: the agent runs without --allow-scripts; the command was not run`,
      };
  }
  if (!g.allowNodeLocal) {
    for (const s of contactedAddresses(spec)) {
      const kind = nodeLocalKind(s.address, ctx.nodeAddresses);
      if (kind)
        return {
          rule: "RealServerNotAllowed",
          message: `${s.field} ${s.address} is ${kind}: VirtualRouter ${router} does not allow node-local real servers to namespace ${ns} (${where}.allowNodeLocal)`,
        };
    }
  }
  return undefined;
}

/**
 * Why the VirtualServer may not be programmed on its router, or undefined when a grant of the router
 * allows all of it. With several grants for the namespace, any one that allows everything will do;
 * otherwise the first one's refusal is told.
 */
export function refusal(vs: VirtualServer, ctx: GrantContext): Refusal | undefined {
  const ns = vs.metadata.namespace ?? "default";
  const routerRef = vs.spec.routerRef;
  const router = ctx.router;
  if (!router || router.metadata.name !== routerRef)
    return { rule: "RouterNotFound", message: `spec.routerRef: no VirtualRouter ${routerRef ?? "(none)"}` };
  const grants = (router.spec.virtualServers?.from ?? [])
    .map((g, i) => ({ g, where: `spec.virtualServers.from[${i}]` }))
    .filter(
      ({ g }) => ctx.namespaceLabels !== undefined && selects(g.namespaceSelector, ctx.namespaceLabels),
    );
  if (grants.length === 0)
    return {
      rule: "NamespaceNotAllowed",
      message: `spec.routerRef: VirtualRouter ${router.metadata.name} grants no VirtualServers to namespace ${ns} (spec.virtualServers.from)`,
    };
  let first: Refusal | undefined;
  for (const { g, where } of grants) {
    const r = checkGrant(vs, g, where, { ...ctx, router });
    if (!r) return undefined;
    first ??= r;
  }
  return first;
}

/** The addresses of the nodes (see GrantContext.nodeAddresses), canonical. */
export function nodeAddressSet(lists: Iterable<readonly string[]>): Set<string> {
  const out = new Set<string>();
  for (const list of lists)
    for (const text of list) {
      const a = effectiveAddress(parseCidr(text)?.address ?? "");
      if (a !== undefined) out.add(a);
    }
  return out;
}

/** The traffic a VirtualServer selects, as a key: protocol, address and port, or its firewall mark. */
function endpointKeys(vs: VirtualServer): string[] {
  return servedEndpoints(vs.spec).map((e) => {
    if (e.fwmark !== undefined) return `fwmark ${e.fwmark}`;
    const address = canonical(e.address);
    return `${e.protocol} ${address.includes(":") ? `[${address}]` : address}:${e.port}`;
  });
}

const created = (vs: VirtualServer) =>
  (vs.metadata as { creationTimestamp?: string }).creationTimestamp ?? "";

/**
 * VirtualServers that select traffic another one selected first (the same address, port and
 * protocol, or fwmark): the one already programmed keeps it (`incumbent`), else the oldest
 * (creation times are whole seconds: then the name decides), and the others are refused. Without
 * this, a namespace could keep every node's dataplane from starting by duplicating another's
 * service, or take it over.
 */
export function endpointConflicts(
  objects: readonly VirtualServer[],
  incumbent: (vs: VirtualServer) => boolean = () => false,
): Map<VirtualServer, Refusal> {
  const key = (vs: VirtualServer) => `${vs.metadata.namespace ?? "default"}/${vs.metadata.name}`;
  const ordered = [...objects].sort(
    (a, b) =>
      Number(incumbent(b)) - Number(incumbent(a)) ||
      created(a).localeCompare(created(b)) ||
      key(a).localeCompare(key(b)),
  );
  const owners = new Map<string, VirtualServer>();
  const out = new Map<VirtualServer, Refusal>();
  for (const vs of ordered) {
    const keys = endpointKeys(vs);
    const taken = keys.find((k) => owners.has(k));
    if (taken) {
      out.set(vs, {
        rule: "EndpointInUse",
        message: `${vs.spec.group ? "spec.group" : vs.spec.fwmark !== undefined ? "spec.fwmark" : "spec.address"}: ${taken} is already served by VirtualServer ${key(owners.get(taken)!)}`,
      });
      continue;
    }
    for (const k of keys) owners.set(k, vs);
  }
  return out;
}

/**
 * The grant that lets exactly these VirtualServers of one namespace attach to the router, for
 * objects the admin brings (`vipkeeper import` of a keepalived.conf, whose MISC_CHECK and local
 * real servers ran as root on the host): undefined when none of them names the router.
 */
export function grantFor(
  router: { metadata: { name: string }; spec: VirtualRouterSpec },
  servers: readonly VirtualServer[],
  namespace: string,
): Grant | undefined {
  const mine = servers.filter((vs) => vs.spec.routerRef === router.metadata.name);
  if (mine.length === 0) return undefined;
  const own = ownAddresses(router);
  const endpoints = mine.flatMap((vs) => servedEndpoints(vs.spec));
  const addresses = [...new Set(endpoints.flatMap((e) => (e.address ? [canonical(e.address)] : [])))];
  const fwmarks = [...new Set(endpoints.flatMap((e) => (e.fwmark !== undefined ? [e.fwmark] : [])))];
  const nodeLocal = mine.some((vs) =>
    contactedAddresses(vs.spec).some((s) => nodeLocalKind(s.address, new Set()) !== undefined),
  );
  return {
    namespaceSelector: namespaceByName(namespace),
    ...(addresses.some((a) => !own.has(a)) ? { addresses: addresses.sort() } : {}),
    ...(fwmarks.length ? { fwmarks: fwmarks.sort((a, b) => a - b) } : {}),
    ...(mine.some((vs) => vs.spec.healthCheck?.exec) ? { allowExec: true } : {}),
    ...(nodeLocal ? { allowNodeLocal: true } : {}),
  };
}
