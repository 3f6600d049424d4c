// The nftables dataplane, as text for `nft -f`: one table of vipkeeper's own (inet vipkeeper_lb),
// never another. A verdict map sends each virtual service (address . protocol . port) to a chain
// of its own, whose single rule picks a destination by numgen (rr, wrr) or jhash of the client
// address (sh, mh) over weighted slots. Start-up replaces the table atomically; afterwards a change
// rewrites only the chains of the services it touches, so its cost follows the change, not the
// table. Pure: this module renders; nft-apply.ts runs nft.
import { createHash } from "node:crypto";
import {
  desiredDestinations,
  serverKey,
  type Destination,
  type Health,
  type VirtualService,
} from "./model.ts";
import { weightedSlots } from "./slots.ts";

export const TABLE = "vipkeeper_lb";

/** The service's chain name: stable for its key, within nftables' name rules. */
export function chainName(svc: Pick<VirtualService, "key">): string {
  return `svc_${createHash("sha256").update(svc.key).digest("hex").slice(0, 12)}`;
}

const addr = (family: 4 | 6, a: string) => (family === 6 ? `[${a}]` : a);

/** The one rule of a service's chain, for the destinations it has now. */
export function serviceRule(svc: VirtualService, destinations: readonly Destination[]): string {
  const slots = weightedSlots(destinations);
  if (slots.length === 0) return "drop"; // nothing to send to: refuse rather than leak to the node
  const ipf = svc.family === 6 ? "ip6" : "ip";
  const pick =
    svc.scheduler === "sh" || svc.scheduler === "mh"
      ? `jhash ${ipf} saddr mod ${slots.length}`
      : `numgen inc mod ${slots.length}`;
  const map = slots.map((d, i) => `${i} : ${addr(svc.family, d.address)} . ${d.port}`).join(", ");
  return `meta l4proto ${svc.protocol} dnat ${ipf} to ${pick} map { ${map} }`;
}

function element(svc: VirtualService): string {
  return `${svc.address} . ${svc.protocol} . ${svc.port} : jump ${chainName(svc)}`;
}

const mapOf = (svc: VirtualService) => (svc.family === 6 ? "services6" : "services4");

/** The whole table, replacing any earlier one of ours in the same transaction. */
export function renderTable(
  services: readonly VirtualService[],
  destinations: (svc: VirtualService) => Destination[],
): string {
  const lines = [
    `add table inet ${TABLE}`,
    `delete table inet ${TABLE}`,
    `table inet ${TABLE} {`,
    `  comment "vipkeeper virtual services: managed by the agent, replaced on start"`,
    "  map services4 { type ipv4_addr . inet_proto . inet_service : verdict; }",
    "  map services6 { type ipv6_addr . inet_proto . inet_service : verdict; }",
    "  set acks { type inet_service; }",
  ];
  for (const svc of services)
    lines.push(`  chain ${chainName(svc)} {`, `    ${serviceRule(svc, destinations(svc))}`, "  }");
  lines.push(
    "  chain prerouting {",
    "    type nat hook prerouting priority dstnat; policy accept;",
    "    ip daddr . meta l4proto . th dport vmap @services4",
    "    ip6 daddr . meta l4proto . th dport vmap @services6",
    "  }",
    "  chain output {",
    "    type nat hook output priority -100; policy accept; # dstnat names prerouting only",
    "    ip daddr . meta l4proto . th dport vmap @services4",
    "    ip6 daddr . meta l4proto . th dport vmap @services6",
    "  }",
    "}",
  );
  for (const svc of services) lines.push(`add element inet ${TABLE} ${mapOf(svc)} { ${element(svc)} }`);
  return `${lines.join("\n")}\n`;
}

/** A change as one transaction: added, changed (new destinations) and removed services only. */
export function renderChanges(change: {
  added?: { svc: VirtualService; destinations: Destination[] }[];
  changed?: { svc: VirtualService; destinations: Destination[] }[];
  removed?: VirtualService[];
}): string {
  const lines: string[] = [];
  for (const { svc, destinations } of change.added ?? [])
    lines.push(
      `add chain inet ${TABLE} ${chainName(svc)}`,
      `add rule inet ${TABLE} ${chainName(svc)} ${serviceRule(svc, destinations)}`,
      `add element inet ${TABLE} ${mapOf(svc)} { ${element(svc)} }`,
    );
  for (const { svc, destinations } of change.changed ?? [])
    lines.push(
      `flush chain inet ${TABLE} ${chainName(svc)}`,
      `add rule inet ${TABLE} ${chainName(svc)} ${serviceRule(svc, destinations)}`,
    );
  for (const svc of change.removed ?? [])
    lines.push(
      `delete element inet ${TABLE} ${mapOf(svc)} { ${svc.address} . ${svc.protocol} . ${svc.port} }`,
      `flush chain inet ${TABLE} ${chainName(svc)}`,
      `delete chain inet ${TABLE} ${chainName(svc)}`,
    );
  return lines.length ? `${lines.join("\n")}\n` : "";
}

/**
 * The services' dataplane state, kept in step with health: the first apply renders the table, each
 * health change re-renders the one service it touches (when its destinations really changed).
 */
export class NftablesPlan {
  private readonly services = new Map<string, VirtualService>();
  private readonly current = new Map<string, { destinations: Destination[]; quorumUp: boolean }>();
  private readonly health = new Map<string, boolean>();

  constructor(services: readonly VirtualService[]) {
    for (const s of services) this.services.set(s.key, s);
  }

  /** The whole table for start-up. */
  initial(): string {
    const list = [...this.services.values()];
    for (const s of list) this.current.set(s.key, desiredDestinations(s, this.health));
    return renderTable(list, (s) => this.current.get(s.key)!.destinations);
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
    this.current.set(serviceKey, next);
    if (JSON.stringify(next.destinations) === JSON.stringify(before.destinations)) return "";
    return renderChanges({ changed: [{ svc, destinations: next.destinations }] });
  }

  destinations(serviceKey: string): Destination[] {
    return this.current.get(serviceKey)?.destinations ?? [];
  }
}
