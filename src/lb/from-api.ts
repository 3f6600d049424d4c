// VirtualServer objects to the dataplane model and the health-check jobs (pure).
import { parseDuration } from "../api/duration.ts";
import { servedEndpoints, type VirtualServer } from "../api/virtual-server.ts";
import { familyOf } from "../base/ip.ts";
import type { CheckSpec } from "../health/checkers.ts";
import type { CheckJob } from "../health/scheduler.ts";
import { serverKey, type Forwarding, type Protocol, type VirtualService } from "./model.ts";

const ms = (text: string | undefined, fallback: string) => parseDuration(text ?? fallback) ?? 0;

export function serviceKey(vs: VirtualServer): string {
  return `${vs.metadata.namespace ?? "default"}/${vs.metadata.name}`;
}

/** What the nftables backend cannot do yet, per object, naming the field. */
export function nftablesProblems(vs: VirtualServer): string[] {
  const out: string[] = [];
  const served = servedEndpoints(vs.spec);
  if (served.some((e) => e.fwmark !== undefined))
    out.push(
      `VirtualServer ${vs.metadata.name}: spec.${vs.spec.group ? "group" : "fwmark"}: the nftables backend selects traffic by address and port; fwmark needs the IPVS backend`,
    );
  if (vs.spec.persistence && served.some((e) => e.address?.includes(":")))
    out.push(
      `VirtualServer ${vs.metadata.name}: spec.persistence: the nftables backend keeps IPv4 clients only (nft 1.0.6 cannot update an IPv6 map from the packet path); use IPVS`,
    );
  const f = vs.spec.forwarding ?? "NAT";
  if (f !== "NAT" && f !== "DR")
    out.push(
      `VirtualServer ${vs.metadata.name}: spec.forwarding: ${f} needs the IPVS backend; the nftables backend does NAT and DR`,
    );
  if (f === "DR" && vs.spec.persistence)
    out.push(
      `VirtualServer ${vs.metadata.name}: spec.persistence: the nftables backend's DR is stateless (ingress, before conntrack) and cannot keep clients; use NAT or IPVS`,
    );
  return out;
}

/**
 * The dataplane services of a VirtualServer: one per address and port or mark it serves (a group
 * serves several), all with the same real servers. The first is keyed by the object's name alone
 * (status, notifications and health refer to it); the others add `#<n>`. For DR the caller sets
 * `device`: the virtual address's (its VirtualRouter's) interface.
 */
export function toVirtualServices(vs: VirtualServer): VirtualService[] {
  const served = servedEndpoints(vs.spec);
  const base = toVirtualService(vs);
  if (!vs.spec.group) return [base];
  const family = familyOf(served.find((e) => e.address !== undefined)?.address ?? "") ?? base.family;
  return served.map((e, i) => {
    const svc: VirtualService = {
      ...base,
      key: i === 0 ? base.key : `${base.key}#${i}`,
      family,
      address: e.address ?? "",
      port: e.port ?? 0,
    };
    if (e.fwmark !== undefined) svc.fwmark = e.fwmark;
    else delete svc.fwmark;
    return svc;
  });
}

/** The first (or only) dataplane service of a VirtualServer; see toVirtualServices for groups. */
export function toVirtualService(vs: VirtualServer): VirtualService {
  const s = vs.spec;
  const first = servedEndpoints(s)[0];
  // A fwmark service's family is its real servers' (the validator made them all one family).
  const family = familyOf(first?.address ?? s.realServers[0]?.address ?? "") ?? 4;
  const svc: VirtualService = {
    key: serviceKey(vs),
    family,
    address: first?.address ?? "",
    port: first?.port ?? 0,
    ...(first?.fwmark !== undefined ? { fwmark: first.fwmark } : {}),
    protocol: (s.protocol ?? "TCP").toLowerCase() as Protocol,
    scheduler: s.scheduler ?? "wrr",
    forwarding: (s.forwarding ?? "NAT").toLowerCase() as Forwarding,
    // A real server without a port (fwmark services): port 0, the packet's own port.
    realServers: s.realServers.map((r) => ({ address: r.address, port: r.port ?? 0, weight: r.weight ?? 1 })),
    inhibitOnFailure: s.inhibitOnFailure ?? false,
    quorum: s.quorum ?? 1,
    hysteresis: s.hysteresis ?? 0,
  };
  if (s.sorryServer) svc.sorryServer = { ...s.sorryServer, weight: 1 };
  if (s.persistence)
    svc.persistence = {
      timeoutMs: parseDuration(s.persistence.timeout) ?? 0, // required by the schema
      ipv4PrefixLength: s.persistence.ipv4PrefixLength ?? 32,
      ipv6PrefixLength: s.persistence.ipv6PrefixLength ?? 128,
    };
  return svc;
}

export function checkJobs(vs: VirtualServer): CheckJob[] {
  const hc = vs.spec.healthCheck;
  if (!hc) return [];
  return vs.spec.realServers.map((r) => {
    let spec: CheckSpec;
    // The check's own port, else the real server's (the validator made sure one exists).
    let checkPort: number | undefined;
    if (hc.httpGet || hc.httpsGet) {
      const h = (hc.httpGet ?? hc.httpsGet)!;
      checkPort = h.port;
      spec = {
        type: hc.httpGet ? "http" : "https",
        path: h.path ?? "/",
        statusCodes: h.statusCodes ?? [200],
        ...(h.digest ? { digest: h.digest } : {}),
        ...(h.host ? { host: h.host } : {}),
        ...(hc.httpsGet?.insecureSkipVerify ? { insecure: true } : {}),
        ...(h.urls?.length
          ? {
              more: h.urls.map((u) => ({
                path: u.path,
                statusCodes: u.statusCodes ?? [200],
                ...(u.digest ? { digest: u.digest } : {}),
              })),
            }
          : {}),
      };
    } else if (hc.tcp) {
      checkPort = hc.tcp.port;
      spec = { type: "tcp" };
    } else if (hc.udp) {
      checkPort = hc.udp.port;
      spec = { type: "udp", ...(hc.udp.payload !== undefined ? { payload: hc.udp.payload } : {}) };
    } else if (hc.dns) {
      checkPort = hc.dns.port;
      spec = { type: "dns", name: hc.dns.name, recordType: hc.dns.type ?? "A" };
    } else if (hc.smtp) {
      checkPort = hc.smtp.port;
      spec = { type: "smtp", helo: hc.smtp.helo ?? "smtpchecker.keepalived.org" };
    } else if (hc.ping) spec = { type: "ping" };
    else spec = { type: "exec", command: hc.exec!.command };
    const port = checkPort ?? r.port ?? 0;
    const job: CheckJob = {
      service: serviceKey(vs),
      server: serverKey({ address: r.address, port: r.port ?? 0 }),
      target: { address: r.address, port },
      spec,
      intervalMs: ms(hc.interval, "5s"),
      timeoutMs: ms(hc.timeout, "3s"),
      retries: hc.retries ?? 1,
      delayBeforeRetryMs: ms(hc.delayBeforeRetry, "1s"),
      rise: hc.rise ?? 1,
      fall: hc.fall ?? 1,
    };
    if (r.checkTargets)
      job.targets = r.checkTargets.map((t) => ({
        address: t.address,
        port: t.port ?? checkPort ?? r.port ?? 0,
      }));
    return job;
  });
}
