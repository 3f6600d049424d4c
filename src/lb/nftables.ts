// The nftables dataplane, as text for nft: tables of vipkeeper's own (inet vipkeeper_lb for NAT,
// netdev vipkeeper_dr for DR), never another. A verdict map sends each virtual service (address .
// protocol . port) to a chain of its own, whose rule picks one of a fixed number of slots by numgen
// (rr, wrr) or jhash of the client address (sh, mh) and looks the destination up in the service's
// *named* map of slots. A health change replaces only the slots that change (delete + add elements,
// one transaction, so the flip is atomic): nft then loads no rules, and the update's cost follows
// the change, not the table. Persistent services look the client up in a timeout map first; DR
// services forward at their device's ingress. Start-up replaces the tables atomically. Pure: this
// module renders; nft-apply.ts runs nft.
import { createHash } from "node:crypto";
import {
  desiredDestinations,
  serverKey,
  type Destination,
  type Health,
  type VirtualService,
} from "./model.ts";
import { NftError } from "./nft-apply.ts";
import { slotCount, stableSlots } from "./slots.ts";

export const TABLE = "vipkeeper_lb";
/** Direct routing happens at ingress, before conntrack and routing: a netdev table of its own. */
export const DR_TABLE = "vipkeeper_dr";

const isDr = (svc: VirtualService) => svc.forwarding === "dr";
/** The table holding the service's slots, as nft names it. */
const tableOf = (svc: VirtualService) => (isDr(svc) ? `netdev ${DR_TABLE}` : `inet ${TABLE}`);

const hash = (key: string) => createHash("sha256").update(key).digest("hex").slice(0, 12);

/** The service's chain name: stable for its key, within nftables' name rules. */
export function chainName(svc: Pick<VirtualService, "key">): string {
  return `svc_${hash(svc.key)}`;
}

// A map's name hashes what its definition depends on as well as the service: a replacement keeps
// a map whose definition is the same (renderTable) and makes a new one where it changed.

/** The service's named map of slots (slot number : destination address . port). */
export function slotMapName(svc: Pick<VirtualService, "key" | "family" | "protocol">): string {
  return `slots_${hash(`${svc.key} ${svc.family} ${svc.protocol}`)}`;
}

/** The service's persistence map (client address, masked : the real server it was sent to). */
export function persistMapName(
  svc: Pick<VirtualService, "key" | "family" | "protocol" | "persistence">,
): string {
  return `persist_${hash(`${svc.key} ${svc.family} ${svc.protocol} ${svc.persistence?.timeoutMs}`)}`;
}

/**
 * A persistent service's live destinations (address . port of each server in its slots): only a
 * packet to one of them renews its client's persistence entry, so that a connection still open to
 * a server that left (the sorry server once real servers are back) cannot put its client back
 * there after the eviction, as IPVS drops a template whose destination is gone.
 */
export function liveSetName(svc: Pick<VirtualService, "key" | "family" | "protocol">): string {
  return `live_${hash(`${svc.key} ${svc.family} ${svc.protocol}`)}`;
}

/** The client address as persistence keys it: masked to the prefix length. */
export function clientKey(svc: VirtualService): string {
  const p = svc.persistence!;
  if (svc.family === 4) {
    if (p.ipv4PrefixLength >= 32) return "ip saddr";
    const m = p.ipv4PrefixLength === 0 ? 0 : (0xffffffff << (32 - p.ipv4PrefixLength)) >>> 0;
    return `ip saddr & ${[24, 16, 8, 0].map((b) => (m >>> b) & 255).join(".")}`;
  }
  if (p.ipv6PrefixLength >= 128) return "ip6 saddr";
  const groups = Array.from({ length: 8 }, (_, g) => {
    const bits = Math.max(0, Math.min(16, p.ipv6PrefixLength - g * 16));
    return ((0xffff << (16 - bits)) & 0xffff).toString(16);
  });
  return `ip6 saddr & ${groups.join(":")}`;
}

const addr = (family: 4 | 6, a: string) => (family === 6 ? `[${a}]` : a);
const ipf = (svc: VirtualService) => (svc.family === 6 ? "ip6" : "ip");

/** The service's slots: a fixed count from its configured servers (and sorry server). */
export const slotsOf = (svc: VirtualService): number => slotCount(svc.realServers);

/**
 * The rules of a service's chain: the slot lookup, then drop, which a packet reaches only when its
 * slot is empty (no server to send to: refuse rather than leak to the node).
 */
export function serviceRules(svc: VirtualService): string[] {
  const n = slotsOf(svc);
  const pick =
    svc.scheduler === "sh" || svc.scheduler === "mh"
      ? `jhash ${ipf(svc)} saddr mod ${n}`
      : `numgen inc mod ${n}`;
  const rules = [`meta l4proto ${svc.protocol} dnat ${ipf(svc)} to ${pick} map @${slotMapName(svc)}`, "drop"];
  // Persistence first: a client the map knows goes where it went before; a miss falls through.
  if (svc.persistence)
    rules.unshift(
      `meta l4proto ${svc.protocol} dnat ${ipf(svc)} to ${clientKey(svc)} map @${persistMapName(svc)}`,
    );
  return rules;
}

/**
 * The rule that remembers where a persistent service's client went: in postrouting, after the
 * DNAT, where the packet's destination is the real server chosen, if that server is still live.
 * Every packet of the client's connections refreshes the timeout, so it runs from the client's
 * last packet.
 */
export function persistRule(svc: VirtualService): string {
  const f = ipf(svc);
  return (
    `ct direction original ct status dnat ct original ${f} daddr ${svc.address} meta l4proto ${svc.protocol} ` +
    `ct original proto-dst ${svc.port} ${f} daddr . th dport @${liveSetName(svc)} ` +
    `update @${persistMapName(svc)} { ${clientKey(svc)} : ${f} daddr . th dport }`
  );
}

/** The real servers a service sends to: those in its slots, each once. */
function liveDestinations(slots: readonly (Destination | undefined)[]): Destination[] {
  const byKey = new Map<string, Destination>();
  for (const d of slots) if (d) byKey.set(`${d.address}|${d.port}`, d);
  return [...byKey.values()];
}

/** A persistent service's live destinations as elements of its live set. */
function liveElements(svc: VirtualService, slots: readonly (Destination | undefined)[]): string[] {
  return liveDestinations(slots).map((d) => `${addr(svc.family, d.address)} . ${d.port}`);
}

interface NamedSet {
  kind: "map" | "set";
  name: string;
  definition: string;
}

// The transport port is named by the service's protocol (tcp dport), not th: nft 1.0.6 refuses a
// rule after `meta l4proto tcp` naming a map already in the kernel whose typeof says th dport
// ("conflicting protocols specified: tcp vs. th"), and renderTable keeps the maps.
function mapDefinitions(svc: VirtualService): NamedSet[] {
  const f = ipf(svc);
  const port = `${svc.protocol} dport`;
  const maps: NamedSet[] = [
    { kind: "map", name: slotMapName(svc), definition: `typeof numgen inc mod 2 : ${f} daddr . ${port};` },
  ];
  if (svc.persistence)
    maps.push(
      {
        kind: "map",
        name: persistMapName(svc),
        definition:
          `typeof ${f} saddr : ${f} daddr . ${port}; ` +
          `flags dynamic, timeout; timeout ${Math.max(1000, Math.round(svc.persistence.timeoutMs))}ms;`,
      },
      { kind: "set", name: liveSetName(svc), definition: `typeof ${f} daddr . ${port};` },
    );
  return maps;
}

// DR keeps the destination address and port: a slot names only the real server to send to.
const slotElement = (svc: VirtualService, i: number, d: Destination) =>
  isDr(svc) ? `${i} : ${d.address}` : `${i} : ${addr(svc.family, d.address)} . ${d.port}`;

/**
 * A DR service's rules on its device's ingress: the real server by a hash of the client address and
 * port (no conntrack here, so the pick must be the same for every packet of a connection; sh and mh
 * hash the address alone), sent out the same device to that server's MAC address as the neighbour
 * table has it, the packet otherwise unchanged. An empty slot: drop.
 */
export function drRules(svc: VirtualService): string[] {
  const f = ipf(svc);
  const n = slotsOf(svc);
  const match = `${f} daddr ${svc.address} meta l4proto ${svc.protocol} th dport ${svc.port}`;
  const key = svc.scheduler === "sh" || svc.scheduler === "mh" ? `${f} saddr` : `${f} saddr . th sport`;
  return [
    `${match} fwd ${f} to jhash ${key} mod ${n} map @${slotMapName(svc)} device "${svc.device}"`,
    `${match} drop`,
  ];
}

function renderDrTable(
  services: readonly VirtualService[],
  slots: (svc: VirtualService) => readonly (Destination | undefined)[],
): string[] {
  const lines = [`add table netdev ${DR_TABLE}`, `delete table netdev ${DR_TABLE}`];
  if (services.length === 0) return lines;
  lines.push(`table netdev ${DR_TABLE} {`, `  comment "vipkeeper direct routing: managed by the agent"`);
  for (const svc of services)
    lines.push(`  map ${slotMapName(svc)} { typeof numgen inc mod 2 : ${ipf(svc)} daddr; }`);
  for (const device of new Set(services.map((s) => s.device!))) {
    lines.push(
      `  chain ingress_${hash(device)} {`,
      `    type filter hook ingress device "${device}" priority 0; policy accept;`,
      ...services.filter((s) => s.device === device).flatMap((s) => drRules(s).map((r) => `    ${r}`)),
      "  }",
    );
  }
  lines.push("}");
  for (const svc of services) {
    const elements = slotElements(svc, slots(svc));
    if (elements.length)
      lines.push(`add element netdev ${DR_TABLE} ${slotMapName(svc)} { ${elements.join(", ")} }`);
  }
  return lines;
}

function slotElements(svc: VirtualService, slots: readonly (Destination | undefined)[]): string[] {
  return slots.flatMap((d, i) => (d ? [slotElement(svc, i, d)] : []));
}

function element(svc: VirtualService): string {
  return `${svc.address} . ${svc.protocol} . ${svc.port} : jump ${chainName(svc)}`;
}

const mapOf = (svc: VirtualService) => (svc.family === 6 ? "services6" : "services4");

/** The chains, maps and sets a listing of our table shows, by name (`listTable`). */
export interface TableObjects {
  chains: string[];
  maps: string[];
  sets: string[];
}
const NONE: TableObjects = { chains: [], maps: [], sets: [] };

/** The names in `nft -t list table` output ("" when there is no table). */
export function tableObjects(listing: string): TableObjects {
  const names = (kind: string) =>
    [...listing.matchAll(new RegExp(`^\\s*${kind} (\\S+) \\{`, "gm"))].map((m) => m[1]!);
  return { chains: names("chain"), maps: names("map"), sets: names("set") };
}

const BASE_CHAINS: Record<string, string> = {
  prerouting: "type nat hook prerouting priority dstnat; policy accept;",
  // dstnat names prerouting only.
  output: "type nat hook output priority -100; policy accept;",
  persist: "type filter hook postrouting priority srcnat - 10; policy accept;",
};
const SERVICE_MAPS: NamedSet[] = [
  { kind: "map", name: "services4", definition: "type ipv4_addr . inet_proto . inet_service : verdict;" },
  { kind: "map", name: "services6", definition: "type ipv6_addr . inet_proto . inet_service : verdict;" },
];
const VMAP_RULES = [
  "ip daddr . meta l4proto . th dport vmap @services4",
  "ip6 daddr . meta l4proto . th dport vmap @services6",
];

/**
 * The whole table in one transaction, whatever was there before (`existing`: what a listing of it
 * holds). The base chains and the maps and sets still wanted are kept, emptied and filled again,
 * never deleted and made anew: a packet the kernel is walking through the old rules as the
 * transaction commits looks their maps up in the new generation, where a deleted map holds nothing,
 * and the packet went on un-NATed (refused) or was dropped (~1 new connection in 500 replacements
 * under load). What the services gone left (chains, maps, sets) is emptied, then deleted. Without
 * a listing the table is deleted and made anew, in the same transaction.
 */
export function renderTable(
  all: readonly VirtualService[],
  slots: (svc: VirtualService) => readonly (Destination | undefined)[],
  existing?: TableObjects,
): string {
  for (const svc of all)
    if (isDr(svc) && !svc.device)
      throw new NftError(
        `${svc.key}: spec.forwarding: DR needs the device (the VIP's interface) in the model`,
      );
  const services = all.filter((s) => !isDr(s));
  const t = `inet ${TABLE}`;
  const sets = [...SERVICE_MAPS, ...services.flatMap(mapDefinitions)];
  const chains = [...Object.keys(BASE_CHAINS), ...services.map(chainName)];
  const there = existing ?? NONE;
  const staleChains = there.chains.filter((c) => !chains.includes(c));
  const stale = [
    ...there.maps.map((name) => ({ kind: "map", name })),
    ...there.sets.map((name) => ({ kind: "set", name })),
  ].filter((o) => !sets.some((w) => w.name === o.name));
  const lines = existing ? [] : [`add table ${t}`, `delete table ${t}`];
  lines.push(`add table ${t} { comment "vipkeeper virtual services: managed by the agent"; }`);
  for (const [name, hook] of Object.entries(BASE_CHAINS))
    lines.push(`add chain ${t} ${name} { ${hook} }`, `flush chain ${t} ${name}`);
  for (const svc of services)
    lines.push(`add chain ${t} ${chainName(svc)}`, `flush chain ${t} ${chainName(svc)}`);
  for (const m of sets)
    lines.push(`add ${m.kind} ${t} ${m.name} { ${m.definition} }`, `flush ${m.kind} ${t} ${m.name}`);
  // Emptied first, as rules name maps and the services maps name chains: then nothing uses them.
  for (const c of staleChains) lines.push(`flush chain ${t} ${c}`);
  for (const o of stale) lines.push(`flush ${o.kind} ${t} ${o.name}`);
  for (const c of staleChains) lines.push(`delete chain ${t} ${c}`);
  for (const o of stale) lines.push(`delete ${o.kind} ${t} ${o.name}`);
  for (const svc of services)
    for (const rule of serviceRules(svc)) lines.push(`add rule ${t} ${chainName(svc)} ${rule}`);
  for (const chain of ["prerouting", "output"])
    for (const rule of VMAP_RULES) lines.push(`add rule ${t} ${chain} ${rule}`);
  for (const svc of services.filter((s) => s.persistence))
    lines.push(`add rule ${t} persist ${persistRule(svc)}`);
  for (const svc of services) {
    lines.push(`add element inet ${TABLE} ${mapOf(svc)} { ${element(svc)} }`);
    const elements = slotElements(svc, slots(svc));
    if (elements.length)
      lines.push(`add element inet ${TABLE} ${slotMapName(svc)} { ${elements.join(", ")} }`);
    const live = svc.persistence ? liveElements(svc, slots(svc)) : [];
    if (live.length) lines.push(`add element inet ${TABLE} ${liveSetName(svc)} { ${live.join(", ")} }`);
  }
  lines.push(...renderDrTable(all.filter(isDr), slots));
  return `${lines.join("\n")}\n`;
}

/**
 * One service's slots from `before` to `after` as one transaction: the changed slots deleted and
 * added again (the kernel commits both at once, so no packet sees a slot empty), nothing else.
 */
export function renderSlotChange(
  svc: VirtualService,
  before: readonly (Destination | undefined)[],
  after: readonly (Destination | undefined)[],
): string {
  const same = (a?: Destination, b?: Destination) =>
    a === b || (!!a && !!b && a.address === b.address && a.port === b.port);
  const removed: number[] = [];
  const added: string[] = [];
  for (let i = 0; i < Math.max(before.length, after.length); i++) {
    if (same(before[i], after[i])) continue;
    if (before[i]) removed.push(i);
    if (after[i]) added.push(slotElement(svc, i, after[i]!));
  }
  const lines: string[] = [];
  if (removed.length)
    lines.push(`delete element ${tableOf(svc)} ${slotMapName(svc)} { ${removed.join(", ")} }`);
  if (added.length) lines.push(`add element ${tableOf(svc)} ${slotMapName(svc)} { ${added.join(", ")} }`);
  if (svc.persistence && !isDr(svc)) {
    // The live destinations follow the slots in the same transaction.
    const was = new Set(liveElements(svc, before));
    const is = new Set(liveElements(svc, after));
    const gone = [...was].filter((e) => !is.has(e));
    const come = [...is].filter((e) => !was.has(e));
    if (gone.length) lines.push(`delete element inet ${TABLE} ${liveSetName(svc)} { ${gone.join(", ")} }`);
    if (come.length) lines.push(`add element inet ${TABLE} ${liveSetName(svc)} { ${come.join(", ")} }`);
  }
  return lines.length ? `${lines.join("\n")}\n` : "";
}

/**
 * The persistence entries (from `nft list map` of the service's persistence map) that point at a
 * real server the service no longer sends to, as one delete; "" when there are none.
 */
export function renderEvictions(
  svc: VirtualService,
  listing: string,
  slots: readonly (Destination | undefined)[],
): string {
  // nft lists addresses unbracketed, as the slots hold them.
  const live = new Set(liveDestinations(slots).map((d) => `${d.address}|${d.port}`));
  const elements = /elements = \{([^}]*)\}/.exec(listing)?.[1] ?? "";
  const stale: string[] = [];
  for (const m of elements.matchAll(
    /([0-9a-f.:]+)(?: timeout \S+)?(?: expires \S+)? : ([0-9a-f.:]+) \. (\d+)/g,
  ))
    if (!live.has(`${m[2]}|${m[3]}`)) stale.push(m[1]!);
  return stale.length ? `delete element inet ${TABLE} ${persistMapName(svc)} { ${stale.join(", ")} }\n` : "";
}

interface ServiceState {
  destinations: Destination[];
  quorumUp: boolean;
  slots: (Destination | undefined)[];
}

/**
 * The services' dataplane state, kept in step with health: the first apply renders the table, each
 * health change re-renders the slots of the one service it touches that really changed.
 */
export class NftablesPlan {
  private readonly services = new Map<string, VirtualService>();
  private readonly current = new Map<string, ServiceState>();
  private readonly health = new Map<string, boolean>();

  constructor(services: readonly VirtualService[]) {
    for (const s of services) this.services.set(s.key, s);
  }

  /** The whole table for start-up, given what the table holds now (`listTable`; see renderTable). */
  initial(existing?: TableObjects): string {
    const list = [...this.services.values()];
    for (const s of list) {
      const d = desiredDestinations(s, this.health);
      this.current.set(s.key, { ...d, slots: stableSlots(slotsOf(s), d.destinations) });
    }
    return renderTable(list, (s) => this.current.get(s.key)!.slots, existing);
  }

  /** One real server's health (server as serverKey gives it): the transaction to apply, or "". */
  setHealth(serviceKey: string, server: string, healthy: boolean): string {
    const svc = this.services.get(serviceKey);
    const before = this.current.get(serviceKey);
    if (!svc || !before) return "";
    this.health.set(`${serviceKey}|${server}`, healthy);
    const perService: Health = new Map(
      svc.realServers.map((r) => [serverKey(r), this.health.get(`${serviceKey}|${serverKey(r)}`) !== false]),
    );
    const next = desiredDestinations(svc, perService, before.quorumUp);
    const slots = stableSlots(slotsOf(svc), next.destinations, before.slots);
    this.current.set(serviceKey, { ...next, slots });
    return renderSlotChange(svc, before.slots, slots);
  }

  service(serviceKey: string): VirtualService | undefined {
    return this.services.get(serviceKey);
  }

  destinations(serviceKey: string): Destination[] {
    return this.current.get(serviceKey)?.destinations ?? [];
  }

  /** The service's slots now (undefined: an empty slot, whose packets are dropped). */
  slots(serviceKey: string): readonly (Destination | undefined)[] {
    return this.current.get(serviceKey)?.slots ?? [];
  }
}
