// keepalived.conf (one node's file, parsed by syntax.ts) to VirtualRouter objects. A keepalived
// file describes one node, so each router carries that node's priority only; several nodes' files
// merge into one set of routers (mergeRouters). Every keyword that cannot be carried over is
// reported with file, line and why, never dropped in silence.
import {
  API_VERSION,
  KEEPALIVED_INSTANCE_ANNOTATION,
  type VirtualRouter,
  type VirtualRouterSpec,
} from "../api/virtual-router.ts";
import { parseCidr } from "../base/ip.ts";
import { familyOf } from "../base/ip.ts";
import type { VirtualServer } from "../api/virtual-server.ts";
import type { Statement } from "./syntax.ts";
import { convertRoute, convertRule } from "./routes.ts";
import { ruleFamily, type VirtualRoute, type VirtualRule } from "../api/routes.ts";
import { convertVirtualServer, type QuorumScripts, type RealServerScripts } from "./virtual-server.ts";

/** A vrrp_sync_group's own notify scripts, run by the agent reading the keepalived.conf. */
export interface SyncGroupScripts {
  /** spec.syncGroup of the members. */
  syncGroup: string;
  /** The group's name in keepalived.conf (G1), which `notify` receives. */
  group: string;
  master?: string;
  backup?: string;
  fault?: string;
  stop?: string;
  any?: string;
}

export interface Finding {
  file: string;
  line: number;
  keyword: string;
  /** unmapped: left out of the result; changed: carried over with a different behaviour. */
  kind: "unmapped" | "changed";
  message: string;
}

/** A static_ipaddress line: always with its interface (there is no instance to default to). */
export type StaticAddress = VirtualRouterSpec["addresses"][number] & {
  dev: string;
  scope?: "Global" | "Site" | "Link" | "Host";
};
const STATIC_SCOPES: Record<string, StaticAddress["scope"]> = {
  global: "Global",
  site: "Site",
  link: "Link",
  host: "Host",
};

export interface HostStatics {
  addresses: StaticAddress[];
  routes: VirtualRoute[];
  rules: VirtualRule[];
}

export interface Conversion {
  routers: VirtualRouter[];
  virtualServers: VirtualServer[];
  /** notify_up / notify_down per real server, which the VirtualServer API does not carry. */
  realServerScripts: RealServerScripts[];
  /** quorum_up / quorum_down per virtual_server, which the VirtualServer API does not carry. */
  quorumScripts: QuorumScripts[];
  /** notify scripts of each vrrp_sync_group, which the VirtualRouter API does not carry. */
  syncGroupScripts: SyncGroupScripts[];
  /** static_ipaddress / static_routes / static_rules: the host's own, kept whatever the state (file mode). */
  statics: HostStatics;
  findings: Finding[];
  /** global_defs router_id, when set: the node name a caller may default to. */
  routerId?: string;
}

type Script = {
  command: string;
  interval?: number;
  timeout?: number;
  rise?: number;
  fall?: number;
  weight?: number;
};

/** Seconds as keepalived writes them (1, 0.1, 2.5) to an API duration ("1s", "100ms", "2500ms"). */
export function secondsToDuration(text: string): string | undefined {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) return undefined;
  const ms = Math.round(n * 1000);
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** A Kubernetes object name from a keepalived instance name: VI_1 -> vi-1. */
export function objectName(instance: string): string {
  const name = instance
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return name.slice(0, 63) || "router";
}

const GLOBAL_NOTES: Record<string, string> = {
  enable_script_security: "vipkeeper runs scripts only from the agent's own configuration",
  script_user: "scripts run as the agent's user",
  max_auto_priority: "not needed: the VRRP engine is a process of its own",
  vrrp_priority:
    "the VRRP engine's priority is the agent's --engine-nice (default -10); vrrp_rt_priority has no equivalent",
  checker_priority: "the health checks run in the agent's main process, at the priority it is started with",
  vrrp_strict:
    "out of scope: vipkeeper follows the RFC without a strict mode (no firewall rules for the addresses; unicast and PASS stay allowed)",
  lvs_sync_daemon:
    "out of scope: the LVS sync daemon (connection state is not synchronised between directors)",
  vrrp_skip_check_adv_addr:
    "out of scope: every advert's address list is checked as the RFC says (VRRPv2 drops a mismatch, v3 logs it)",
};

export function convertKeepalived(statements: readonly Statement[], node: string): Conversion {
  const findings: Finding[] = [];
  const note = (s: Statement, kind: Finding["kind"], message: string) =>
    findings.push({ file: s.file, line: s.line, keyword: s.keyword, kind, message });
  const scripts = new Map<string, Script>();
  const garpDefaults: NonNullable<VirtualRouterSpec["garp"]> = {};
  let defaultVersion: 2 | 3 = 2; // keepalived's default
  let routerId: string | undefined;
  const mail: {
    to: string[];
    from?: string;
    server?: string;
    timeout?: string;
    alert: boolean;
    at?: Statement;
  } = {
    to: [],
    alert: false,
  };

  // Pass 1: global_defs and vrrp_script, which instances refer to.
  for (const s of statements) {
    if (s.keyword === "global_defs") {
      for (const g of s.children ?? []) {
        if (g.keyword === "router_id") routerId = g.args[0];
        else if (g.keyword === "vrrp_version" && (g.args[0] === "2" || g.args[0] === "3"))
          defaultVersion = Number(g.args[0]) as 2 | 3;
        else if (g.keyword === "vrrp_garp_master_delay") setDuration(garpDefaults, "delay", g, note);
        else if (g.keyword === "vrrp_garp_master_repeat") garpDefaults.repeat = Number(g.args[0]);
        else if (g.keyword === "vrrp_garp_master_refresh") setDuration(garpDefaults, "refresh", g, note);
        else if (g.keyword === "vrrp_garp_master_refresh_repeat")
          garpDefaults.refreshRepeat = Number(g.args[0]);
        else if (
          (g.keyword === "vrrp_garp_interval" || g.keyword === "vrrp_gna_interval") &&
          Number(g.args[0]) === 0
        )
          note(
            g,
            "changed",
            `keepalived rejects 0 ("'0' is invalid") and ignores the line; so does the import`,
          );
        else if (g.keyword === "vrrp_garp_interval" || g.keyword === "vrrp_gna_interval")
          setDuration(garpDefaults, "interval", g, note);
        else if (g.keyword === "notification_email") {
          mail.to.push(...(g.children ?? []).map((c) => c.keyword));
          mail.at = g;
        } else if (g.keyword === "notification_email_from") mail.from = g.args[0];
        else if (g.keyword === "smtp_server")
          mail.server = g.args[1] ? `${g.args[0] ?? ""}:${g.args[1]}` : g.args[0];
        else if (g.keyword === "smtp_connect_timeout") mail.timeout = secondsToDuration(g.args[0] ?? "");
        else if (g.keyword === "smtp_alert") mail.alert = true;
        else if (GLOBAL_NOTES[g.keyword]) note(g, "unmapped", GLOBAL_NOTES[g.keyword]!);
        else if (!g.keyword.startsWith("vrrp_garp_"))
          note(g, "unmapped", "global setting without an equivalent");
      }
    } else if (s.keyword === "vrrp_script") {
      const name = s.args[0];
      if (!name) {
        note(s, "unmapped", "vrrp_script without a name");
        continue;
      }
      const script: Script = { command: "" };
      for (const k of s.children ?? []) {
        const v = k.args[0];
        if (k.keyword === "script" && v !== undefined) script.command = k.args.join(" ");
        else if (k.keyword === "interval" && v !== undefined) script.interval = Number(v);
        else if (k.keyword === "timeout" && v !== undefined) script.timeout = Number(v);
        else if (k.keyword === "rise" && v !== undefined) script.rise = Number(v);
        else if (k.keyword === "fall" && v !== undefined) script.fall = Number(v);
        else if (k.keyword === "weight" && v !== undefined) {
          script.weight = Number(v);
          if (k.args[1] === "reverse")
            note(k, "unmapped", "reverse weights are not supported; the sign is kept");
        } else if (k.keyword === "user") note(k, "unmapped", "scripts run as the agent's user");
        else if (k.keyword === "init_fail") note(k, "unmapped", "scripts start healthy");
        else note(k, "unmapped", "unknown vrrp_script keyword");
      }
      if (!script.command) note(s, "unmapped", `vrrp_script ${name} has no script line`);
      else {
        if (/\[\[|\]\]|&&|\|\||[;|<>$`]/.test(script.command))
          note(
            s,
            "changed",
            `${name}: keepalived runs scripts without a shell (so it disables this one); vipkeeper runs it with bash -c`,
          );
        scripts.set(name, script);
      }
    }
  }

  // keepalived mails only with smtp_alert (global, or per instance below).
  const mailSettings =
    mail.to.length > 0 && mail.server
      ? {
          global: mail.alert,
          spec: {
            to: mail.to,
            from: mail.from ?? `keepalived@${routerId ?? "localhost"}`,
            server: mail.server,
            ...(mail.timeout ? { connectTimeout: mail.timeout } : {}),
            ...(routerId ? { routerId } : {}),
          },
        }
      : undefined;
  let mailed = mailSettings?.global ?? false;
  // Pass 2: the instances.
  const routers: VirtualRouter[] = [];
  const virtualServerBlocks: Statement[] = [];
  const syncGroups: Statement[] = [];
  const groups = new Map<string, Statement>();
  const statics: HostStatics = { addresses: [], routes: [], rules: [] };
  for (const s of statements) {
    if (s.keyword === "global_defs" || s.keyword === "vrrp_script") continue;
    if (s.keyword === "vrrp_instance") {
      const r = convertInstance(s, node, scripts, garpDefaults, defaultVersion, note, mailSettings);
      if (r) routers.push(r);
    } else if (s.keyword === "virtual_server") virtualServerBlocks.push(s);
    else if (s.keyword === "virtual_server_group") {
      if (s.args[0]) groups.set(s.args[0], s);
      else note(s, "unmapped", "virtual_server_group without a name");
    } else if (s.keyword === "vrrp_sync_group") syncGroups.push(s);
    else if (s.keyword === "static_ipaddress")
      for (const line of s.children ?? []) {
        const a = convertAddress(line, note, true);
        if (!a) continue;
        if (a.dev === undefined)
          note(line, "unmapped", "a static address needs dev: there is no instance interface to default to");
        else statics.addresses.push(a as StaticAddress);
      }
    else if (s.keyword === "static_routes")
      for (const line of s.children ?? []) {
        const r = convertRoute(line);
        if ("problem" in r) note(line, "unmapped", r.problem);
        else statics.routes.push(r.value);
      }
    else if (s.keyword === "static_rules")
      for (const line of s.children ?? []) {
        const r = convertRule(line);
        if ("problem" in r) note(line, "unmapped", r.problem);
        else statics.rules.push(r.value);
      }
    else note(s, "unmapped", "unknown top-level keyword");
  }
  const syncGroupScripts: SyncGroupScripts[] = [];
  for (const g of syncGroups) {
    const scripts = mapSyncGroup(g, routers, note);
    if (scripts) syncGroupScripts.push(scripts);
  }
  mailed ||= routers.some((r) => r.spec.notify?.mail);
  if (mailSettings && !mailed && mail.at)
    note(
      mail.at,
      "changed",
      "no smtp_alert (global or in an instance): keepalived sends no mail, and neither does vipkeeper; add smtp_alert for mail",
    );
  // Pass 3: virtual servers, which refer to the routers holding their addresses.
  const virtualServers: VirtualServer[] = [];
  const realServerScripts: RealServerScripts[] = [];
  const quorumScripts: QuorumScripts[] = [];
  for (const s of virtualServerBlocks) {
    const { server, scripts, quorum } = convertVirtualServer(s, routers, note, groups);
    if (server) virtualServers.push(server);
    realServerScripts.push(...scripts);
    if (quorum) quorumScripts.push(quorum);
  }
  const used = new Set(virtualServerBlocks.filter((s) => s.args[0] === "group").map((s) => s.args[1]));
  for (const [name, g] of groups)
    if (!used.has(name))
      note(
        g,
        "changed",
        `virtual_server_group ${name} is used by no virtual_server: nothing to import (keepalived ignores it too)`,
      );
  const result: Conversion = {
    routers,
    virtualServers,
    realServerScripts,
    quorumScripts,
    syncGroupScripts,
    statics,
    findings,
  };
  if (routerId !== undefined) result.routerId = routerId;
  return result;
}

function setDuration(
  target: Record<string, unknown>,
  field: string,
  s: Statement,
  note: (s: Statement, kind: Finding["kind"], message: string) => void,
): void {
  const d = secondsToDuration(s.args[0] ?? "");
  if (d === undefined) note(s, "unmapped", `'${s.args[0] ?? ""}' is not a number of seconds`);
  else target[field] = d;
}

function convertInstance(
  s: Statement,
  node: string,
  scripts: ReadonlyMap<string, Script>,
  garpDefaults: NonNullable<VirtualRouterSpec["garp"]>,
  defaultVersion: 2 | 3,
  note: (s: Statement, kind: Finding["kind"], message: string) => void,
  mail: { global: boolean; spec: NonNullable<NonNullable<VirtualRouterSpec["notify"]>["mail"]> } | undefined,
): VirtualRouter | undefined {
  const name = s.args[0] ?? "router";
  const spec: Partial<VirtualRouterSpec> & { addresses: VirtualRouterSpec["addresses"] } = { addresses: [] };
  const garp: NonNullable<VirtualRouterSpec["garp"]> = { ...garpDefaults };
  const track: NonNullable<VirtualRouterSpec["track"]> = {};
  const notify: Record<string, string> = {};
  const peers: string[] = [];
  const addressLines: Statement[] = [];
  let version: 2 | 3 | undefined;
  let priority = 100; // keepalived's default
  let sourceIp: string | undefined;
  let trackInterfaces: Statement | undefined;
  let useVmac: Statement | undefined;
  let xmitBase: Statement | undefined;
  let smtpAlert = mail?.global ?? false;
  for (const k of s.children ?? []) {
    const v = k.args[0];
    switch (k.keyword) {
      case "interface":
        if (v) spec.interface = v;
        break;
      case "state":
        note(k, "changed", "vipkeeper starts every instance as Backup and lets priorities elect (RFC 9568)");
        break;
      case "priority":
        priority = Number(v);
        break;
      case "virtual_router_id":
        spec.vrid = Number(v);
        break;
      case "version":
        if (v === "2" || v === "3") version = Number(v) as 2 | 3;
        break;
      case "advert_int": {
        const d = secondsToDuration(v ?? "");
        if (d) spec.advertInterval = d;
        else note(k, "unmapped", `'${v ?? ""}' is not a number of seconds`);
        break;
      }
      case "nopreempt":
        spec.preempt = false;
        break;
      case "preempt":
        spec.preempt = true;
        break;
      case "preempt_delay": {
        const d = secondsToDuration(v ?? "");
        if (d) spec.preemptDelay = d;
        break;
      }
      case "accept":
        spec.accept = true;
        break;
      case "no_accept":
        spec.accept = false;
        break;
      case "garp_master_delay":
        setDuration(garp, "delay", k, note);
        break;
      case "garp_master_repeat":
        garp.repeat = Number(v);
        break;
      case "garp_master_refresh":
        setDuration(garp, "refresh", k, note);
        break;
      case "garp_master_refresh_repeat":
        garp.refreshRepeat = Number(v);
        break;
      case "garp_interval":
      case "gna_interval":
        setDuration(garp, "interval", k, note);
        break;
      case "authentication": {
        const type = k.children?.find((c) => c.keyword === "auth_type")?.args[0];
        const pass = k.children?.find((c) => c.keyword === "auth_pass")?.args[0];
        if (type !== "PASS")
          note(
            k,
            "unmapped",
            type === "AH"
              ? "auth_type AH: out of scope (RFC 5798 dropped AH); use PASS or none"
              : `auth_type ${type ?? "(none)"}: only PASS exists in vipkeeper`,
          );
        else if (pass !== undefined) {
          // keepalived uses the first 8 characters of a longer password.
          if (pass.length > 8)
            note(k, "changed", "the password is cut to its first 8 characters, as keepalived does");
          spec.authentication = { type: "PASS", password: pass.slice(0, 8) };
        }
        break;
      }
      case "track_interface":
        trackInterfaces = k;
        break;
      case "track_script":
        for (const t of k.children ?? []) {
          const script = scripts.get(t.keyword);
          if (!script) {
            note(t, "unmapped", `no vrrp_script named ${t.keyword} (or it could not be used)`);
            continue;
          }
          const weight = t.args[0] === "weight" ? Number(t.args[1]) : script.weight;
          (track.scripts ??= []).push({
            name: t.keyword,
            command: script.command,
            ...(script.interval !== undefined
              ? { interval: secondsToDuration(String(script.interval))! }
              : {}),
            ...(script.timeout !== undefined ? { timeout: secondsToDuration(String(script.timeout))! } : {}),
            ...(script.rise !== undefined ? { rise: script.rise } : {}),
            ...(script.fall !== undefined ? { fall: script.fall } : {}),
            ...(weight !== undefined && weight !== 0 ? { weight } : {}),
          });
        }
        break;
      case "virtual_ipaddress":
        for (const a of k.children ?? []) {
          const address = convertAddress(a, note);
          if (!address) continue;
          // keepalived takes the same address twice (one of them only is added); one entry here.
          const ip = parseCidr(address.address)?.address;
          const i = spec.addresses.findIndex((b) => parseCidr(b.address)?.address === ip);
          if (i < 0) {
            spec.addresses.push(address);
            addressLines.push(a);
            continue;
          }
          const before = addressLines[i]!;
          const dropped = a.args.length > 0 ? ` (its ${a.args.join(" ")} is not applied)` : "";
          note(
            a,
            "changed",
            `${ip ?? a.keyword} is listed twice (lines ${before.line} and ${a.line}): one address, as line ${before.line} writes it; keepalived too keeps the first and ignores the repeat${dropped}`,
          );
        }
        break;
      case "unicast_src_ip":
        if (v) sourceIp = v;
        break;
      case "unicast_peer":
        for (const p of k.children ?? []) peers.push(p.keyword);
        break;
      case "notify_master":
      case "notify_backup":
      case "notify_fault":
      case "notify_stop":
        notify[k.keyword.slice("notify_".length)] = k.args.join(" ");
        break;
      case "notify":
        notify.any = k.args.join(" ");
        break;
      case "smtp_alert":
        if (k.args[0] === "false" || k.args[0] === "no") smtpAlert = false;
        else if (mail) smtpAlert = true;
        else
          note(
            k,
            "changed",
            "no notification_email and smtp_server in global_defs: keepalived has nowhere to send mail, and neither has vipkeeper",
          );
        break;
      case "virtual_ipaddress_excluded":
        note(k, "unmapped", "addresses left out of adverts are not supported; list them in another router");
        break;
      case "lvs_sync_daemon_interface":
        note(
          k,
          "unmapped",
          "out of scope: the LVS sync daemon (connection state is not synchronised between directors)",
        );
        break;
      case "use_vmac":
        useVmac = k;
        break;
      case "vmac_xmit_base":
        xmitBase = k;
        break;
      case "virtual_routes":
        for (const line of k.children ?? []) {
          const r = convertRoute(line);
          if ("problem" in r) note(line, "unmapped", r.problem);
          else (spec.routes ??= []).push(r.value);
        }
        break;
      case "virtual_rules":
        for (const line of k.children ?? []) {
          const r = convertRule(line);
          if ("problem" in r) note(line, "unmapped", r.problem);
          else (spec.rules ??= []).push(r.value);
        }
        break;
      default:
        note(k, "unmapped", "no equivalent in VirtualRouter");
    }
  }
  if (trackInterfaces) {
    for (const t of trackInterfaces.children ?? []) {
      if (t.keyword === spec.interface) {
        note(
          t,
          "changed",
          "the instance's own interface is always tracked (Fault while down); keepalived ignores this line too",
        );
        continue;
      }
      const weight = t.args[0] === "weight" ? Number(t.args[1]) : 0;
      (track.interfaces ??= []).push({ name: t.keyword, ...(weight ? { weight } : {}) });
    }
  }
  const hasIpv6 = spec.addresses.some((a) => familyOf(parseCidr(a.address)?.address ?? "") === 6);
  spec.version = version ?? (hasIpv6 ? 3 : defaultVersion);
  if (version === undefined && hasIpv6 && defaultVersion === 2)
    note(s, "changed", "IPv6 addresses: VRRPv3, as keepalived uses for IPv6");
  spec.priorities = [{ node, priority }];
  if (peers.length > 0) {
    // One file for every node: the peer list holds them all and each node leaves out its own.
    spec.unicast = { peers: [...new Set([...(sourceIp ? [sourceIp] : []), ...peers])] };
  }
  // A route or rule of a family with no virtual address: no instance of this router would add it.
  const families = new Set(spec.addresses.map((a) => parseCidr(a.address)?.family));
  const [routes, rules] = [spec.routes, spec.rules];
  if (routes) spec.routes = routes.filter((r) => keepFamily(parseCidr(r.to)?.family, r.to, "route"));
  if (rules) spec.rules = rules.filter((r) => keepFamily(ruleFamily(r), r.from ?? r.to ?? "", "rule"));
  function keepFamily(family: number | undefined, text: string, what: string): boolean {
    if (family === undefined || families.has(family as 4 | 6)) return true;
    note(
      s,
      "unmapped",
      `${what} ${text} is IPv${family} and the instance has no IPv${family} address: no instance would add it`,
    );
    return false;
  }
  if (spec.routes?.length === 0) delete spec.routes;
  if (spec.rules?.length === 0) delete spec.rules;
  if (useVmac) {
    const vmacName = useVmac.args[0];
    spec.virtualMAC = {
      ...(vmacName !== undefined ? { interface: vmacName } : {}),
      ...(xmitBase ? { advertsOnParent: true } : {}),
    };
  } else if (xmitBase) note(xmitBase, "unmapped", "vmac_xmit_base without use_vmac has no effect");
  if (Object.keys(garp).length > 0) spec.garp = garp;
  if (Object.keys(track).length > 0) spec.track = track;
  if (Object.keys(notify).length > 0 || (smtpAlert && mail))
    spec.notify = {
      ...(Object.keys(notify).length > 0 ? { scripts: notify } : {}),
      ...(smtpAlert && mail ? { mail: mail.spec } : {}),
    };
  if (spec.vrid === undefined) note(s, "unmapped", `${name} has no virtual_router_id`);
  return {
    apiVersion: API_VERSION,
    kind: "VirtualRouter",
    metadata: { name: objectName(name), annotations: { [KEEPALIVED_INSTANCE_ANNOTATION]: name } },
    spec,
  };
}

/** `ADDR[/LEN] [dev D] [label L] [brd B] [scope S] ...` */
function convertAddress(
  a: Statement,
  note: (s: Statement, kind: Finding["kind"], message: string) => void,
  withScope = false,
): (VirtualRouterSpec["addresses"][number] & { scope?: StaticAddress["scope"] }) | undefined {
  const cidr = parseCidr(a.keyword);
  if (!cidr) {
    note(a, "unmapped", `'${a.keyword}' is not an address`);
    return undefined;
  }
  // keepalived's default prefix is a host route.
  const address = a.keyword.includes("/") ? a.keyword : `${a.keyword}/${cidr.family === 4 ? 32 : 128}`;
  const out: VirtualRouterSpec["addresses"][number] & { scope?: StaticAddress["scope"] } = { address };
  for (let i = 0; i < a.args.length; i += 2) {
    const key = a.args[i]!;
    const value = a.args[i + 1];
    if (key === "dev" && value) out.dev = value;
    else if (key === "label" && value) out.label = value;
    else if (key === "scope" && withScope && value && STATIC_SCOPES[value]) out.scope = STATIC_SCOPES[value];
    else note(a, "unmapped", `address option '${key}' is not supported`);
  }
  return out;
}

/**
 * Several nodes' routers into one set: priorities and unicast peers add up; every other field
 * must agree, and a disagreement is reported (the first file's value is kept).
 */
export function mergeRouters(perNode: { file: string; routers: VirtualRouter[] }[]): {
  routers: VirtualRouter[];
  conflicts: string[];
} {
  const merged = new Map<string, VirtualRouter>();
  const conflicts: string[] = [];
  const comparable = (r: VirtualRouter) => {
    const { priorities: _p, unicast: _u, ...rest } = r.spec;
    return JSON.stringify(rest);
  };
  for (const { file, routers } of perNode) {
    for (const r of routers) {
      const have = merged.get(r.metadata.name);
      if (!have) {
        merged.set(r.metadata.name, structuredClone(r));
        continue;
      }
      if (comparable(have) !== comparable(r))
        conflicts.push(
          `${r.metadata.name}: ${file} differs from the first file in more than priority and peers; the first is kept`,
        );
      have.spec.priorities = [...(have.spec.priorities ?? []), ...(r.spec.priorities ?? [])];
      const peers = [...(have.spec.unicast?.peers ?? []), ...(r.spec.unicast?.peers ?? [])];
      if (peers.length > 0) have.spec.unicast = { peers: [...new Set(peers)] };
    }
  }
  return { routers: [...merged.values()], conflicts };
}

/**
 * vrrp_sync_group: its members become VirtualRouters with the same spec.syncGroup, which the agent's
 * engine moves together as keepalived does (Fault, leaving Master, becoming Master only together).
 */
function mapSyncGroup(
  g: Statement,
  routers: VirtualRouter[],
  note: (s: Statement, kind: Finding["kind"], message: string) => void,
): SyncGroupScripts | undefined {
  const name = g.args[0] ?? "group";
  const group = g.children?.find((c) => c.keyword === "group");
  const members = (group?.children ?? []).map((c) => c.keyword);
  const found = members
    .map((m) => routers.find((r) => r.metadata.name === objectName(m)))
    .filter((r): r is VirtualRouter => r !== undefined);
  const scripts: Omit<SyncGroupScripts, "syncGroup"> = { group: name };
  const NOTIFY: Record<string, "master" | "backup" | "fault" | "stop" | "any"> = {
    notify_master: "master",
    notify_backup: "backup",
    notify_fault: "fault",
    notify_stop: "stop",
    notify: "any",
  };
  const first = [...found].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))[0];
  for (const c of g.children ?? [])
    if (NOTIFY[c.keyword] && c.args.length > 0) {
      scripts[NOTIFY[c.keyword]!] = c.args.join(" ");
      note(
        c,
        "changed",
        `vrrp_sync_group ${name}: on ${first?.metadata.name ?? "its first member"}'s spec.notify.syncGroupScripts, run when the group's state changes${objectName(name) !== name ? ` (\`notify\` gets GROUP ${objectName(name)}, the syncGroup, where the agent reading this file passes ${name})` : ""}`,
      );
    } else if (c.keyword !== "group")
      note(
        c,
        "unmapped",
        routers.some((r) => r.metadata.annotations?.[KEEPALIVED_INSTANCE_ANNOTATION] === c.keyword)
          ? `vrrp_sync_group ${name}: an instance outside a group { } block (keepalived 2.2.7 rejects it as an unknown keyword too)`
          : `vrrp_sync_group ${name}: ${c.keyword} (group-level settings are not carried over)`,
      );
  if (found.length < 2) {
    note(
      g,
      "unmapped",
      `vrrp_sync_group ${name}: fewer than two of its instances (${members.join(", ")}) were converted`,
    );
    return undefined;
  }
  const syncGroup = objectName(name);
  for (const r of found) r.spec.syncGroup = syncGroup;
  const { group: _name, ...commands } = scripts;
  if (first && Object.keys(commands).length > 0)
    first.spec.notify = { ...first.spec.notify, syncGroupScripts: commands };
  note(
    g,
    "changed",
    `vrrp_sync_group ${name}: ${found.map((r) => r.metadata.name).join(", ")} get syncGroup ${syncGroup} and move together, in the agent reading this file as in a cluster (where the controller gives them one preferred master)`,
  );
  return Object.keys(scripts).length > 1 ? { syncGroup, ...scripts } : undefined;
}
