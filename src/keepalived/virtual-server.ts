// keepalived's virtual_server blocks to VirtualServer objects. keepalived checks each real server
// with its own checker blocks; a VirtualServer has one check for all its real servers, so the first
// checker is taken and every real server whose checker differs is reported. Every keyword maps or
// is reported with file, line and why.
import { API_VERSION, type VirtualRouter } from "../api/virtual-router.ts";
import { servedEndpoints, validateVirtualServer, type VirtualServer } from "../api/virtual-server.ts";
import { parseCidr } from "../base/ip.ts";
import { familyOf } from "../base/ip.ts";
import type { Statement } from "./syntax.ts";

type Note = (s: Statement, kind: "unmapped" | "changed", message: string) => void;
type Spec = VirtualServer["spec"];
type HealthCheck = NonNullable<Spec["healthCheck"]>;
type CheckTarget = NonNullable<Spec["realServers"][number]["checkTargets"]>[number];

/** keepalived's quorum_up / quorum_down of one virtual_server: run by the agent from keepalived.conf. */
export interface QuorumScripts {
  /** The VirtualServer's key (namespace/name). */
  service: string;
  up?: string;
  down?: string;
  /** keepalived's omega: on the agent's shutdown, notify_down of each up real server and quorum_down run. */
  omega?: true;
}

/** keepalived's notify_up / notify_down of one real server: run by the agent from keepalived.conf. */
export interface RealServerScripts {
  /** The VirtualServer's key (namespace/name), as the load balancer names services. */
  service: string;
  /** The real server's key (address:port). */
  server: string;
  up?: string;
  down?: string;
}

const SCHEDULERS = new Set(["rr", "wrr", "lc", "wlc", "sh", "mh"]);
const FORWARDING: Record<string, Spec["forwarding"]> = { NAT: "NAT", DR: "DR", TUN: "TUN" };

/** keepalived's defaults where vipkeeper's differ: delay_loop 60 s, connect_timeout 5 s. */
const KEEPALIVED_INTERVAL = "60s";
const KEEPALIVED_TIMEOUT = "5s";

const seconds = (text: string | undefined): string | undefined => {
  const n = Number(text);
  if (text === undefined || !Number.isFinite(n) || n < 0) return undefined;
  const ms = Math.round(n * 1000);
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
};

const int = (text: string | undefined): number | undefined =>
  text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;

/** A dotted netmask (255.255.255.0) or a number to a prefix length. */
function prefixLength(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text);
  const parts = text.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  const bits = parts.map((p) => p.toString(2).padStart(8, "0")).join("");
  return /^1*0*$/.test(bits) ? (bits.indexOf("0") === -1 ? 32 : bits.indexOf("0")) : undefined;
}

export function virtualServerName(selector: string, protocol: string): string {
  const base = `vs-${selector}${protocol === "TCP" ? "" : `-${protocol}`}`;
  return base
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-+/g, "-")
    .replace(/-$/, "")
    .slice(0, 63);
}

/** One checker block as a VirtualServer check, plus the port it aims at (undefined: the server's). */
interface Check {
  at: Statement;
  check: Omit<HealthCheck, "interval" | "timeout" | "retries" | "delayBeforeRetry" | "rise" | "fall">;
  timeout?: string;
  retries?: number;
  delayBeforeRetry?: string;
  interval?: string;
  /** connect_ip, or SMTP_CHECK's host blocks: what this real server's check aims at instead of it. */
  targets?: CheckTarget[];
}

const CHECKERS = new Set([
  "HTTP_GET",
  "SSL_GET",
  "TCP_CHECK",
  "MISC_CHECK",
  "DNS_CHECK",
  "UDP_CHECK",
  "SMTP_CHECK",
  "PING_CHECK",
  "FILE_CHECK",
  "BFD_CHECK",
]);

function convertChecker(
  c: Statement,
  serverAddress: string,
  serverPort: number | undefined,
  defaultHost: string | undefined,
  note: Note,
): Check | undefined {
  const out: Check = { at: c, check: {} };
  let port: number | undefined;
  let host = defaultHost;
  let connectIp: string | undefined;
  const common = (k: Statement): boolean => {
    const v = k.args[0];
    switch (k.keyword) {
      case "connect_port":
        port = int(v);
        if (port === undefined) note(k, "unmapped", `'${v ?? ""}' is not a port`);
        return true;
      case "connect_timeout":
        if ((out.timeout = seconds(v)) === undefined) note(k, "unmapped", `'${v ?? ""}' is not seconds`);
        return true;
      case "retry":
      case "nb_get_retry":
        out.retries = int(v);
        if (out.retries === undefined) note(k, "unmapped", `'${v ?? ""}' is not a count`);
        else if (k.keyword === "nb_get_retry")
          note(k, "changed", "nb_get_retry is keepalived's old spelling of retry; read as retry");
        return true;
      case "delay_before_retry":
        if ((out.delayBeforeRetry = seconds(v)) === undefined)
          note(k, "unmapped", `'${v ?? ""}' is not seconds`);
        return true;
      case "delay_loop":
        if ((out.interval = seconds(v)) === undefined) note(k, "unmapped", `'${v ?? ""}' is not seconds`);
        return true;
      case "connect_ip":
        if (v && familyOf(v)) connectIp = v;
        else note(k, "unmapped", `'${v ?? ""}' is not an address`);
        return true;
      case "bindto":
      case "bind_port":
      case "bind_if":
        note(k, "unmapped", "checks leave from the address the kernel chooses");
        return true;
      case "warmup":
        note(k, "unmapped", "first checks are spread over the interval instead of a random warmup");
        return true;
      case "fwmark":
        note(k, "unmapped", "checker packets are not marked");
        return true;
      case "alpha":
        note(k, "changed", "real servers start healthy until a check fails (no per-checker alpha)");
        return true;
      default:
        return false;
    }
  };
  const body = c.children ?? [];
  if (c.keyword === "HTTP_GET" || c.keyword === "SSL_GET") {
    const http: NonNullable<HealthCheck["httpGet"]> = {};
    const urls: NonNullable<NonNullable<HealthCheck["httpGet"]>["urls"]> = [];
    for (const k of body) {
      if (common(k)) continue;
      if (k.keyword === "url") {
        const url: { path?: string; statusCodes?: number[]; digest?: string } = {};
        for (const u of k.children ?? []) {
          const v = u.args[0];
          if (u.keyword === "path" && v) url.path = v;
          else if (u.keyword === "digest" && v && /^[0-9a-fA-F]{32}$/.test(v)) url.digest = v.toLowerCase();
          else if (u.keyword === "status_code") {
            const codes: number[] = [];
            for (const a of u.args) {
              const m = /^(\d{3})(?:-(\d{3}))?$/.exec(a);
              if (!m) continue;
              for (let x = Number(m[1]); x <= Number(m[2] ?? m[1]); x++) codes.push(x);
            }
            if (codes.length > 0) url.statusCodes = codes;
            else note(u, "unmapped", `'${u.args.join(" ")}' is not a status code`);
          } else if (u.keyword === "virtualhost" && v) {
            if (urls.length > 0 || http.path !== undefined)
              note(
                u,
                "changed",
                "one Host for every url of a check: the first url's virtualhost is sent for all",
              );
            else host = v;
          } else
            note(
              u,
              "unmapped",
              u.keyword === "digest" ? "a digest is 32 hex digits" : "no equivalent in httpGet",
            );
        }
        if (http.path === undefined && urls.length === 0) {
          http.path = url.path ?? "/";
          if (url.statusCodes) http.statusCodes = url.statusCodes;
          if (url.digest) http.digest = url.digest;
        } else urls.push({ ...url, path: url.path ?? "/" });
      } else if (k.keyword === "virtualhost" && k.args[0]) host = k.args[0];
      else if (k.keyword === "enable_sni" || k.keyword === "tls_compliant")
        note(k, "changed", "HTTPS checks always send SNI (the Host) and speak standard TLS");
      else
        note(
          k,
          "unmapped",
          `no equivalent in a VirtualServer's ${c.keyword === "SSL_GET" ? "httpsGet" : "httpGet"}`,
        );
    }
    if (urls.length > 0) http.urls = urls;
    if (host) http.host = host;
    if (port !== undefined && port !== serverPort) http.port = port;
    // keepalived's SSL_GET does not verify the server's certificate either.
    out.check =
      c.keyword === "SSL_GET" ? { httpsGet: { ...http, insecureSkipVerify: true } } : { httpGet: http };
  } else if (c.keyword === "TCP_CHECK") {
    for (const k of body) {
      if (common(k)) continue;
      if (k.keyword === "tcp_port") {
        port = int(k.args[0]);
        note(
          k,
          "changed",
          "keepalived 2.2.7 rejects tcp_port as an unknown keyword (and checks the real server's port); read as connect_port",
        );
      } else note(k, "unmapped", "no equivalent in a VirtualServer's tcp check");
    }
    out.check = { tcp: port !== undefined && port !== serverPort ? { port } : {} };
  } else if (c.keyword === "UDP_CHECK") {
    for (const k of body) {
      if (common(k)) continue;
      note(k, "unmapped", "no equivalent in a VirtualServer's udp check");
    }
    out.check = { udp: port !== undefined && port !== serverPort ? { port } : {} };
  } else if (c.keyword === "MISC_CHECK") {
    let command: string | undefined;
    for (const k of body) {
      if (k.keyword === "misc_path") command = k.args.join(" ");
      else if (k.keyword === "misc_timeout") {
        if ((out.timeout = seconds(k.args[0])) === undefined) note(k, "unmapped", "not seconds");
      } else if (k.keyword === "misc_dynamic")
        note(
          k,
          "unmapped",
          "weights from the script's exit code are not supported; exit 0 is healthy, else down",
        );
      else if (k.keyword === "user") note(k, "unmapped", "scripts run as the agent's user");
      else if (!common(k)) note(k, "unmapped", "no equivalent in a VirtualServer's exec check");
    }
    if (!command) {
      note(c, "unmapped", "MISC_CHECK without misc_path");
      return undefined;
    }
    out.check = { exec: { command } };
  } else if (c.keyword === "DNS_CHECK") {
    let name: string | undefined;
    let type: "A" | "AAAA" | undefined;
    for (const k of body) {
      if (common(k)) continue;
      if (k.keyword === "name" && k.args[0]) name = k.args[0];
      else if (k.keyword === "type" && (k.args[0] === "A" || k.args[0] === "AAAA")) type = k.args[0];
      else if (k.keyword === "type") note(k, "unmapped", `DNS type ${k.args[0] ?? ""}: only A and AAAA`);
      else note(k, "unmapped", "no equivalent in a VirtualServer's dns check");
    }
    // keepalived's DNS_CHECK asks for "." by default and aims at port 53.
    out.check = {
      dns: {
        name: name ?? ".",
        ...(type ? { type } : {}),
        ...((port ?? 53) !== serverPort ? { port: port ?? 53 } : {}),
      },
    };
  } else if (c.keyword === "SMTP_CHECK") {
    let helo: string | undefined;
    for (const k of body) {
      if (common(k)) continue;
      if (k.keyword === "helo_name" && k.args[0]) helo = k.args[0];
      else if (k.keyword === "host") {
        // keepalived 2.x still reads the old host blocks: each is a check of its own, all must pass.
        let address: string | undefined;
        let hostPort: number | undefined;
        for (const h of k.children ?? []) {
          if (h.keyword === "connect_ip" && h.args[0] && familyOf(h.args[0])) address = h.args[0];
          else if (h.keyword === "connect_port" && int(h.args[0]) !== undefined) hostPort = int(h.args[0]);
          else if (h.keyword === "bindto" || h.keyword === "bind_port" || h.keyword === "bind_if")
            note(
              h,
              "unmapped",
              "out of scope: a source address belongs to one node, and an object runs on every node; checks leave from the address the kernel chooses",
            );
          else note(h, "unmapped", "no equivalent in a check target");
        }
        (out.targets ??= []).push({
          address: address ?? "",
          ...(hostPort !== undefined ? { port: hostPort } : {}),
        });
      } else note(k, "unmapped", "no equivalent in a VirtualServer's smtp check");
    }
    out.check = {
      smtp: { ...(helo ? { helo } : {}), ...(port !== undefined && port !== serverPort ? { port } : {}) },
    };
    // A host block without connect_ip checks the real server itself.
    if (out.targets) for (const t of out.targets) if (!t.address) t.address = connectIp ?? serverAddress;
  } else if (c.keyword === "PING_CHECK") {
    for (const k of body) {
      if (common(k)) continue;
      note(k, "unmapped", "no equivalent in a VirtualServer's ping check");
    }
    out.check = { ping: {} };
  } else {
    note(c, "unmapped", `${c.keyword}: this check kind does not exist in vipkeeper`);
    return undefined;
  }
  if (connectIp && !out.targets) out.targets = [{ address: connectIp }];
  return out;
}

const sameCheck = (a: Check, b: Check) =>
  JSON.stringify([a.check, a.timeout, a.retries, a.delayBeforeRetry, a.interval]) ===
  JSON.stringify([b.check, b.timeout, b.retries, b.delayBeforeRetry, b.interval]);

/**
 * One entry of a virtual_server_group: `ADDR PORT`, `ADDR-LAST PORT` (keepalived's range: the last
 * octet, or the last group of an IPv6 address in hex, runs up to LAST), or `fwmark N`.
 */
function groupEntry(e: Statement, note: Note): NonNullable<Spec["group"]>[number] | undefined {
  if (e.keyword === "fwmark") {
    const mark = int(e.args[0]);
    if (mark === undefined || mark < 1) note(e, "unmapped", `'${e.args[0] ?? ""}' is not a firewall mark`);
    return mark === undefined || mark < 1 ? undefined : { fwmark: mark };
  }
  const port = int(e.args[0]);
  // `s`: a keyword may hold a lone \r or U+2028, which `.` alone would not match.
  const m = /^(.*?)(?:-([0-9a-fA-F]+))?$/s.exec(e.keyword)!;
  const first = m[1]!;
  const family = familyOf(first);
  if (!family || port === undefined) {
    note(e, "unmapped", `'${[e.keyword, ...e.args].join(" ")}' is not ADDRESS[-LAST] PORT or fwmark N`);
    return undefined;
  }
  if (m[2] === undefined) return { address: first, port };
  const sep = family === 4 ? "." : ":";
  const cut = first.lastIndexOf(sep);
  const lastPart = family === 4 ? String(Number(m[2])) : Number.parseInt(m[2], 16).toString(16);
  const last = first.slice(0, cut + 1) + lastPart;
  if (familyOf(last) !== family) {
    note(e, "unmapped", `'${e.keyword}' is not a range keepalived reads`);
    return undefined;
  }
  return { address: `${first}-${last}`, port };
}

export function convertVirtualServer(
  s: Statement,
  routers: readonly VirtualRouter[],
  note: Note,
  groups: ReadonlyMap<string, Statement> = new Map(),
): { server?: VirtualServer; scripts: RealServerScripts[]; quorum?: QuorumScripts } {
  const scripts: RealServerScripts[] = [];
  const quorumScripts: Omit<QuorumScripts, "service"> = {};
  // Traffic by address and port, or by firewall mark.
  let address: string | undefined;
  let port: number | undefined;
  let fwmark: number | undefined;
  let group: Spec["group"];
  if (s.args[0] === "fwmark") {
    fwmark = int(s.args[1]);
    if (fwmark === undefined || fwmark < 1) {
      note(s, "unmapped", `'${s.args[1] ?? ""}' is not a firewall mark`);
      return { scripts };
    }
  } else if (s.args[0] === "group") {
    const g = groups.get(s.args[1] ?? "");
    if (!g) {
      note(s, "unmapped", `no virtual_server_group named '${s.args[1] ?? ""}'`);
      return { scripts };
    }
    group = (g.children ?? []).flatMap((e) => groupEntry(e, note) ?? []);
    if (group.length === 0) {
      note(s, "unmapped", `virtual_server_group ${s.args[1] ?? ""} has no usable entry`);
      return { scripts };
    }
  } else {
    address = s.args[0];
    port = int(s.args[1]);
    if (!address || !familyOf(address) || port === undefined) {
      note(s, "unmapped", `'${s.args.join(" ")}' is not ADDRESS PORT`);
      return { scripts };
    }
  }
  const spec = (
    group
      ? { group, realServers: [] }
      : fwmark !== undefined
        ? { fwmark, realServers: [] }
        : { address, port, realServers: [] }
  ) as Spec;
  // The address that tells the family, and the router: the service's, else its group's first.
  const firstAddress = address ?? servedEndpoints(spec).find((e) => e.address !== undefined)?.address;
  const marksOnly = !firstAddress;
  let interval: string | undefined;
  let defaultHost: string | undefined;
  let inhibit: boolean | undefined;
  const persistence: {
    timeout?: string;
    ipv4PrefixLength?: number;
    ipv6PrefixLength?: number;
    at?: Statement;
  } = {};
  const realServerBlocks: Statement[] = [];
  for (const k of s.children ?? []) {
    const v = k.args[0];
    switch (k.keyword) {
      case "delay_loop":
        if ((interval = seconds(v)) === undefined) note(k, "unmapped", `'${v ?? ""}' is not seconds`);
        break;
      case "lb_algo":
      case "lvs_sched":
        if (v && SCHEDULERS.has(v)) spec.scheduler = v as unknown as Spec["scheduler"];
        else
          note(
            k,
            "unmapped",
            `scheduler '${v ?? ""}' does not exist in vipkeeper (rr, wrr, lc, wlc, sh, mh); wrr is used`,
          );
        break;
      case "lb_kind":
      case "lvs_method":
        if (v && FORWARDING[v]) spec.forwarding = FORWARDING[v];
        else note(k, "unmapped", `'${v ?? ""}' is not NAT, DR or TUN; NAT is used`);
        break;
      case "protocol":
        if (v === "TCP" || v === "UDP" || v === "SCTP") spec.protocol = v;
        else note(k, "unmapped", `protocol '${v ?? ""}': only TCP, UDP and SCTP`);
        break;
      case "persistence_timeout":
        persistence.timeout = seconds(v);
        persistence.at = k;
        break;
      case "persistence_granularity": {
        const len = v ? prefixLength(v) : undefined;
        if (len === undefined) note(k, "unmapped", `'${v ?? ""}' is not a netmask or prefix length`);
        else if (
          firstAddress
            ? familyOf(firstAddress) === 6
            : s.children?.some((c) => c.keyword === "real_server" && c.args[0]?.includes(":"))
        )
          persistence.ipv6PrefixLength = len;
        else persistence.ipv4PrefixLength = len;
        persistence.at ??= k;
        break;
      }
      case "sorry_server": {
        const sp = int(k.args[1]);
        if (v && familyOf(v) && sp !== undefined) spec.sorryServer = { address: v, port: sp };
        else note(k, "unmapped", `'${k.args.join(" ")}' is not ADDRESS PORT`);
        break;
      }
      case "sorry_server_inhibit":
      case "sorry_server_lvs_method":
        note(k, "unmapped", "the sorry server is forwarded like the real servers");
        break;
      case "quorum":
        if ((spec.quorum = int(v)) === undefined) note(k, "unmapped", `'${v ?? ""}' is not a number`);
        break;
      case "hysteresis":
        if ((spec.hysteresis = int(v)) === undefined) note(k, "unmapped", `'${v ?? ""}' is not a number`);
        break;
      case "inhibit_on_failure":
        inhibit = true;
        break;
      case "virtualhost":
        defaultHost = v;
        break;
      case "real_server":
        realServerBlocks.push(k);
        break;
      case "alpha":
        note(
          k,
          "changed",
          "real servers start healthy and leave on their first failed check (keepalived's alpha starts them down)",
        );
        break;
      case "omega":
        quorumScripts.omega = true;
        note(
          k,
          "changed",
          "run by the agent from this keepalived.conf on its shutdown (notify_down of each up real server, quorum_down while the quorum holds), not when a reload removes a real server; `vipkeeper import` output leaves it out",
        );
        break;
      case "ha_suspend":
        note(
          k,
          "changed",
          "checks run on every node (backups too), so a new master's dataplane is already up to date",
        );
        break;
      case "quorum_up":
      case "quorum_down":
        if (k.args.length === 0) note(k, "unmapped", `${k.keyword} without a script`);
        else {
          quorumScripts[k.keyword === "quorum_up" ? "up" : "down"] = k.args.join(" ");
          note(
            k,
            "changed",
            "run by the agent from this keepalived.conf when the service gains or loses its quorum; the VirtualServer API has no field for it, so `vipkeeper import` output leaves it out",
          );
        }
        break;
      case "smtp_alert":
        note(k, "changed", "mail about real servers goes where the VirtualRouter's notify.mail says");
        break;
      case "ops":
      case "one_packet_scheduling":
        note(k, "unmapped", "no one-packet scheduling");
        break;
      default:
        note(k, "unmapped", "no equivalent in VirtualServer");
    }
  }
  if (spec.protocol === undefined && !marksOnly)
    note(
      s,
      "changed",
      "no protocol: keepalived 2.2.7 defaults to UDP ('no protocol set - defaulting to UDP'); vipkeeper takes TCP. Write the protocol line",
    );
  if (persistence.at) {
    const { at: _at, ...p } = persistence;
    (spec as Record<string, unknown>).persistence = { timeout: p.timeout ?? "360s", ...p };
  }

  const selector = group
    ? `group-${s.args[1] ?? ""}`
    : fwmark !== undefined
      ? `fwmark-${fwmark}`
      : `${address}-${port}`;
  const name = virtualServerName(selector, spec.protocol ?? "TCP");
  // Real servers, and the checks they carry.
  let first: Check | undefined;
  let unchecked: Statement | undefined;
  for (const r of realServerBlocks) {
    const [ra, rpText] = r.args;
    const rp = int(rpText);
    // keepalived lets a fwmark service's real servers leave the port out: the packet's is kept.
    if (!ra || !familyOf(ra) || (rp === undefined && !(marksOnly && rpText === undefined))) {
      note(r, "unmapped", `'${r.args.join(" ")}' is not ADDRESS PORT`);
      continue;
    }
    const server: Spec["realServers"][number] = { address: ra, ...(rp !== undefined ? { port: rp } : {}) };
    const rsScripts: RealServerScripts = {
      service: `default/${name}`,
      server: ra.includes(":") ? `[${ra}]:${rp ?? 0}` : `${ra}:${rp ?? 0}`,
    };
    let checks = 0;
    let checkTargets: CheckTarget[] | undefined;
    for (const k of r.children ?? []) {
      const v = k.args[0];
      if (k.keyword === "weight") {
        if ((server.weight = int(v)) === undefined) note(k, "unmapped", `'${v ?? ""}' is not a weight`);
      } else if (k.keyword === "inhibit_on_failure") {
        if (inhibit === false)
          note(k, "changed", "inhibit_on_failure applies to every real server of a VirtualServer");
        inhibit = true;
      } else if (k.keyword === "notify_up" || k.keyword === "notify_down") {
        rsScripts[k.keyword === "notify_up" ? "up" : "down"] = k.args.join(" ");
        note(
          k,
          "changed",
          "run by the agent from this keepalived.conf; the VirtualServer API has no field for it, so `vipkeeper import` output leaves it out",
        );
      } else if (CHECKERS.has(k.keyword)) {
        const c = convertChecker(k, ra, rp, defaultHost, note);
        if (!c) continue;
        if (++checks > 1) {
          note(
            k,
            "unmapped",
            "one check per real server: keepalived needs every checker to pass; only the first is run",
          );
          continue;
        }
        if (c.targets) checkTargets = c.targets;
        if (!first) first = c;
        else if (!sameCheck(first, c))
          note(
            k,
            "changed",
            `a VirtualServer checks all its real servers alike: the check of line ${first.at.line} is run instead`,
          );
      } else if (k.keyword === "uthreshold" || k.keyword === "lthreshold")
        note(k, "unmapped", "no connection thresholds");
      else if (k.keyword === "smtp_alert")
        note(k, "changed", "mail about real servers goes where the VirtualRouter's notify.mail says");
      else if (k.keyword === "delay_loop") {
        if ((interval ??= seconds(v)) === undefined) note(k, "unmapped", "not seconds");
      } else note(k, "unmapped", "no equivalent in a VirtualServer's real server");
    }
    if (checks === 0) unchecked ??= r;
    if (checkTargets) server.checkTargets = checkTargets;
    if (rsScripts.up !== undefined || rsScripts.down !== undefined) scripts.push(rsScripts);
    spec.realServers.push(server);
  }
  if (first && unchecked)
    note(
      unchecked,
      "changed",
      `no checker here, but a VirtualServer checks all its real servers (line ${first.at.line})`,
    );
  if (inhibit) spec.inhibitOnFailure = true;
  if (first) {
    spec.healthCheck = {
      ...first.check,
      interval: first.interval ?? interval ?? KEEPALIVED_INTERVAL,
      timeout: first.timeout ?? KEEPALIVED_TIMEOUT,
      ...(first.retries !== undefined ? { retries: first.retries } : {}),
      ...(first.delayBeforeRetry !== undefined ? { delayBeforeRetry: first.delayBeforeRetry } : {}),
    };
  }

  // The router whose virtual addresses hold ours keeps the service's address alive.
  const served = servedEndpoints(spec).flatMap((e) => (e.address !== undefined ? [e.address] : []));
  const router = routers.find((r) =>
    r.spec.addresses.some((a) => served.includes(parseCidr(a.address)?.address ?? "")),
  );
  if (router) spec.routerRef = router.metadata.name;
  else if (marksOnly)
    note(s, "changed", "a fwmark service has no address to find its vrrp_instance by: no routerRef");
  else
    note(
      s,
      "changed",
      `no vrrp_instance holds ${group ? "an address of the group" : address}: the VirtualServer has no routerRef`,
    );

  const server: VirtualServer = {
    apiVersion: API_VERSION,
    kind: "VirtualServer",
    metadata: { name },
    spec,
  };
  if (spec.realServers.length === 0) {
    note(s, "unmapped", "virtual_server without usable real_server blocks");
    return { scripts };
  }
  const errors = validateVirtualServer(server);
  for (const e of errors) note(s, "unmapped", `${e.field}: ${e.message}`);
  if (errors.length > 0) return { scripts };
  return {
    server,
    scripts,
    ...(Object.keys(quorumScripts).length > 0
      ? { quorum: { service: `default/${name}`, ...quorumScripts } }
      : {}),
  };
}
