// From VirtualRouter objects to the VRRP instances one node runs: pure, so the same plan comes
// from a file or from the API server.
import { parseCidr } from "../base/ip.ts";
import { ruleFamily } from "../api/rule-family.ts";
import { parseDuration } from "../api/duration.ts";
import { KEEPALIVED_INSTANCE_ANNOTATION } from "../api/annotations.ts";
import type { VirtualRouter } from "../api/virtual-router.ts";
import { canonicalAddress, familyOf, type IpFamily } from "../base/ip.ts";
import type { ChecksumForm, V2Auth, VrrpVersion } from "../vrrp/packet.ts";
import { RT_TABLE_MAIN, type RouteRequest, type RuleRequest } from "../net/routes.ts";
import type { VirtualRoute, VirtualRule } from "../api/routes.ts";
import { instanceKey } from "./instance-key.ts";
import type { SyncGroupScripts as KeepalivedSyncGroupScripts } from "../keepalived/convert.ts";

export interface PlannedAddress {
  address: string;
  prefixLength: number;
  family: IpFamily;
  dev: string;
  label?: string;
}

export interface ScriptPlan {
  name: string;
  command: string;
  intervalMs: number;
  /** 0: no limit but the interval. */
  timeoutMs: number;
  rise: number;
  fall: number;
  weight: number;
}

export interface TrackPlan {
  interfaces: { name: string; weight: number }[];
  files: { path: string; weight: number }[];
  scripts: ScriptPlan[];
  /** Services with ready endpoints on this node (cluster mode; the agent reports them). */
  endpoints: { namespace: string; service: string; weight: number }[];
  /** Ready pods on this node (cluster mode; the agent reports them). */
  pods: { namespace: string; matchLabels: Record<string, string>; minReady: number; weight: number }[];
}

/** keepalived's vrrp_sync_group notify scripts (`any` gets GROUP <name> <STATE>), as the import reads them. */
export type SyncGroupScripts = Omit<KeepalivedSyncGroupScripts, "syncGroup">;

export interface NotifyPlan {
  master?: string;
  backup?: string;
  fault?: string;
  stop?: string;
  any?: string;
  webhooks?: { url: string; timeoutMs: number; retries: number }[];
  mail?: {
    to: string[];
    from: string;
    host: string;
    port: number;
    connectTimeoutMs: number;
    routerId?: string;
  };
}

export interface GarpPlan {
  delayMs: number;
  repeat: number;
  intervalMs: number;
  refreshMs: number;
  refreshRepeat: number;
}

/**
 * RFC 5798's virtual MAC on a macvlan of the instance's interface (keepalived's use_vmac): the
 * addresses without a dev of their own are bound there, so their MAC moves with the master.
 */
export interface VirtualMacPlan {
  /** The macvlan's name (keepalived's default vrrp.VRID; vrrp6.VRID for IPv6 beside IPv4). */
  name: string;
  /** 00:00:5e:00:01:VRID (IPv4) or 00:00:5e:00:02:VRID (IPv6). */
  mac: string;
  /** Adverts are sent and heard on the parent interface instead (keepalived's vmac_xmit_base). */
  advertsOnParent: boolean;
}

/** RFC 5798 7.3: the virtual router MAC of a VRID and family. */
export function virtualMac(vrid: number, family: IpFamily): string {
  return `00:00:5e:00:0${family === 4 ? 1 : 2}:${vrid.toString(16).padStart(2, "0")}`;
}

/** The interface an instance's adverts leave from and arrive on: the virtual MAC's, unless it says otherwise. */
export function vrrpDevice(plan: InstancePlan): string {
  return plan.vmac && !plan.vmac.advertsOnParent ? plan.vmac.name : plan.interfaceName;
}

/** The interfaces whose link state an instance follows: its own, its virtual MAC's, those it tracks. */
export function linksOf(plan: InstancePlan): string[] {
  return [
    plan.interfaceName,
    ...(plan.vmac ? [plan.vmac.name] : []),
    ...plan.track.interfaces.map((t) => t.name),
  ];
}

/** A route the master adds (VirtualRouter spec.routes); `dev` is resolved to its index on the host. */
export type PlannedRoute = Omit<RouteRequest, "ifindex"> & { dev?: string };
export type PlannedRule = RuleRequest;

export interface InstancePlan {
  /** router/ipv4 or router/ipv6: one VRRP instance per family of the router's addresses. */
  key: string;
  router: string;
  /** The vrrp_instance name the router was imported from (VI_1), for scripts and mail. */
  keepalivedName?: string;
  /** VirtualRouter spec.syncGroup: instances of one group move together (in one engine). */
  syncGroup?: string;
  /**
   * The sync group's own notify scripts (spec.notify.syncGroupScripts, keepalived.conf's
   * vrrp_sync_group notify_*), run when the group's state changes.
   */
  syncGroupNotify?: SyncGroupScripts;
  family: IpFamily;
  version: VrrpVersion;
  vrid: number;
  priority: number;
  interfaceName: string;
  vmac?: VirtualMacPlan;
  advertIntervalMs: number;
  preempt: boolean;
  preemptDelayMs: number;
  accept: boolean;
  addresses: PlannedAddress[];
  /** Routes and rules of this family added while master (absent: none). */
  routes?: PlannedRoute[];
  rules?: PlannedRule[];
  /** Empty: multicast. */
  unicastPeers: string[];
  /**
   * Whom a multicast instance obeys; absent: any source on the segment (file mode, as keepalived).
   * With unicast peers it is not used: the peers are the only sources obeyed.
   */
  sources?: SourceFilter;
  auth?: V2Auth;
  checksumForm: ChecksumForm;
  track: TrackPlan;
  notify: NotifyPlan;
  garp: GarpPlan;
}

/**
 * Cluster mode's sources for multicast: "nodes", the cluster's Node addresses of the instance's
 * family (IPv4); "link-local", any IPv6 link-local source (IPv6 adverts come from link-local
 * addresses, which Node objects do not list: only unicast peers filter IPv6 to the nodes).
 */
export type SourceFilter = { kind: "nodes"; addresses: string[] } | { kind: "link-local" };

export interface NodePlan {
  instances: InstancePlan[];
  /** Routers this node does not run, and why (for the log). */
  skipped: { router: string; reason: string }[];
}

/** File mode's default when a router lists no priorities at all: every node takes part at 100. */
export const DEFAULT_PRIORITY = 100;

const ms = (text: string | undefined, fallback: string) => parseDuration(text ?? fallback) ?? 0;

/** Plans the instances `node` runs. Routers must have passed validateVirtualRouter. */
export function planForNode(routers: readonly VirtualRouter[], node: string): NodePlan {
  const plan: NodePlan = { instances: [], skipped: [] };
  for (const router of routers) {
    const name = router.metadata.name;
    const { spec } = router;
    const listed = spec.priorities?.find((p) => p.node === node);
    const priority = listed?.priority ?? (spec.priorities?.length ? undefined : DEFAULT_PRIORITY);
    if (priority === undefined) {
      plan.skipped.push({ router: name, reason: `node ${node} is not in spec.priorities` });
      continue;
    }
    if (spec.vrid === undefined) {
      plan.skipped.push({
        router: name,
        reason: "spec.vrid is not set (the controller allocates it in a cluster)",
      });
      continue;
    }
    if (spec.interface === undefined) {
      plan.skipped.push({ router: name, reason: "spec.interface is not set" });
      continue;
    }
    const iface = spec.interface;
    const vrid = spec.vrid;
    const keepalivedName = router.metadata.annotations?.[KEEPALIVED_INSTANCE_ANNOTATION];
    const dualStack = new Set(spec.addresses.map((a) => familyOf(a.address.split("/")[0]!))).size > 1;
    const vmacOf = (family: IpFamily): VirtualMacPlan | undefined =>
      spec.virtualMAC && {
        // keepalived's name, vrrp.VRID, for either family; a router with both needs two.
        name: spec.virtualMAC.interface ?? `vrrp${family === 6 && dualStack ? "6" : ""}.${vrid}`,
        mac: virtualMac(vrid, family),
        advertsOnParent: spec.virtualMAC.advertsOnParent ?? false,
      };
    const addresses = spec.addresses.map((a): PlannedAddress => {
      const cidr = parseCidr(a.address)!;
      const planned: PlannedAddress = {
        address: cidr.address,
        prefixLength: cidr.prefixLength,
        family: cidr.family,
        dev: a.dev ?? vmacOf(cidr.family)?.name ?? iface,
      };
      if (a.label !== undefined) planned.label = a.label;
      return planned;
    });
    const version = spec.version ?? 3;
    for (const family of [4, 6] as const) {
      const own = addresses.filter((a) => a.family === family);
      if (own.length === 0) continue;
      const routes = (spec.routes ?? []).map(plannedRoute).filter((r) => r.family === family);
      const rules = (spec.rules ?? []).flatMap((r) => plannedRules(r, family));
      const instance: InstancePlan = {
        key: instanceKey(name, family),
        router: name,
        ...(keepalivedName ? { keepalivedName } : {}),
        ...(spec.syncGroup ? { syncGroup: spec.syncGroup } : {}),
        ...(spec.syncGroup && spec.notify?.syncGroupScripts
          ? { syncGroupNotify: { group: spec.syncGroup, ...spec.notify.syncGroupScripts } }
          : {}),
        family,
        version,
        vrid: spec.vrid,
        priority,
        interfaceName: iface,
        ...(spec.virtualMAC ? { vmac: vmacOf(family)! } : {}),
        advertIntervalMs: ms(spec.advertInterval, "1s"),
        preempt: spec.preempt ?? true,
        preemptDelayMs: ms(spec.preemptDelay, "0s"),
        accept: spec.accept ?? true,
        addresses: own,
        ...(routes.length > 0 ? { routes } : {}),
        ...(rules.length > 0 ? { rules } : {}),
        unicastPeers: (spec.unicast?.peers ?? []).filter((p) => familyOf(p) === family).map(canonicalAddress),
        checksumForm: spec.v3Ipv4Checksum === "Plain" ? "plain" : "pseudo-header",
        track: {
          interfaces: (spec.track?.interfaces ?? []).map((t) => ({ name: t.name, weight: t.weight ?? 0 })),
          files: (spec.track?.files ?? []).map((t) => ({ path: t.path, weight: t.weight ?? 0 })),
          pods: (spec.track?.pods ?? []).map((t) => ({
            namespace: t.namespace,
            matchLabels: t.matchLabels,
            minReady: t.minReady ?? 1,
            weight: t.weight ?? 0,
          })),
          endpoints: (spec.track?.endpoints ?? []).map((t) => ({
            namespace: t.namespace,
            service: t.service,
            weight: t.weight ?? 0,
          })),
          scripts: (spec.track?.scripts ?? []).map((t) => ({
            name: t.name,
            command: t.command,
            intervalMs: ms(t.interval, "1s"),
            timeoutMs: ms(t.timeout, "0s"),
            rise: t.rise ?? 1,
            fall: t.fall ?? 1,
            weight: t.weight ?? 0,
          })),
        },
        notify: notifyPlan(spec.notify),
        garp: {
          delayMs: ms(spec.garp?.delay, "5s"),
          repeat: spec.garp?.repeat ?? 5,
          intervalMs: ms(spec.garp?.interval, "0s"),
          refreshMs: ms(spec.garp?.refresh, "0s"),
          refreshRepeat: spec.garp?.refreshRepeat ?? 1,
        },
      };
      if (version === 2)
        instance.auth = spec.authentication?.password
          ? { type: "pass", password: spec.authentication.password }
          : { type: "none" };
      plan.instances.push(instance);
    }
  }
  return plan;
}

/**
 * One file lists every node's address as a peer; a node does not send to itself. `local` holds
 * this host's addresses in canonical form.
 */
export function withoutOwnAddresses(
  plans: readonly InstancePlan[],
  local: ReadonlySet<string>,
): InstancePlan[] {
  return plans.map((p) => ({ ...p, unicastPeers: p.unicastPeers.filter((peer) => !local.has(peer)) }));
}

export function plannedRoute(r: VirtualRoute): PlannedRoute {
  const to = parseCidr(r.to)!;
  const type = r.type ?? "Unicast";
  return {
    family: to.family,
    to: { address: to.address, prefixLength: to.prefixLength },
    ...(r.via !== undefined ? { via: canonicalAddress(r.via) } : {}),
    ...(r.dev !== undefined ? { dev: r.dev } : {}),
    ...(r.src !== undefined ? { src: canonicalAddress(r.src) } : {}),
    table: r.table ?? RT_TABLE_MAIN,
    ...(r.metric !== undefined ? { metric: r.metric } : {}),
    type,
    // As `ip route` chooses: a route straight onto a link has link scope.
    scope: r.scope ?? (type === "Unicast" && r.via === undefined ? "Link" : "Global"),
  };
}

/** The rule as `family`'s instance adds it: a rule without prefixes is added in every family. */
export function plannedRules(r: VirtualRule, family: IpFamily): PlannedRule[] {
  const own = ruleFamily(r);
  if (own !== undefined && own !== family) return [];
  const prefix = (text: string | undefined) => {
    const c = text === undefined ? undefined : parseCidr(text);
    return c && { address: c.address, prefixLength: c.prefixLength };
  };
  const from = prefix(r.from);
  const to = prefix(r.to);
  return [
    {
      family,
      ...(from ? { from } : {}),
      ...(to ? { to } : {}),
      ...(r.fwmark !== undefined ? { fwmark: r.fwmark } : {}),
      ...(r.fwmask !== undefined ? { fwmask: r.fwmask } : {}),
      ...(r.iif !== undefined ? { iif: r.iif } : {}),
      ...(r.oif !== undefined ? { oif: r.oif } : {}),
      ...(r.priority !== undefined ? { priority: r.priority } : {}),
      table: r.table,
    },
  ];
}

function notifyPlan(n: VirtualRouter["spec"]["notify"]): NotifyPlan {
  const plan: NotifyPlan = { ...n?.scripts };
  if (n?.webhooks?.length)
    plan.webhooks = n.webhooks.map((w) => ({
      url: w.url,
      timeoutMs: ms(w.timeout, "5s"),
      retries: w.retries ?? 3,
    }));
  if (n?.mail) {
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(n.mail.server);
    plan.mail = {
      to: n.mail.to,
      from: n.mail.from,
      host: (m?.[1] ?? n.mail.server).replace(/^\[|\]$/g, ""),
      port: m?.[2] ? Number(m[2]) : 25,
      connectTimeoutMs: ms(n.mail.connectTimeout, "30s"),
      ...(n.mail.routerId !== undefined ? { routerId: n.mail.routerId } : {}),
    };
  }
  return plan;
}
