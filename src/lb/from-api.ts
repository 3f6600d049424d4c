// VirtualServer objects to the dataplane model and the health-check jobs (pure).
import { parseDuration } from "../api/duration.ts";
import type { VirtualServer } from "../api/virtual-server.ts";
import { familyOf } from "../vrrp/address.ts";
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
  if (vs.spec.fwmark !== undefined)
    out.push(
      `VirtualServer ${vs.metadata.name}: spec.fwmark: the nftables backend selects traffic by address and port; fwmark needs the IPVS backend`,
    );
  if (vs.spec.persistence && vs.spec.address?.includes(":"))
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

/** For DR the caller sets `device` on the result: the virtual address's (its VirtualRouter's) interface. */
export function toVirtualService(vs: VirtualServer): VirtualService {
  const s = vs.spec;
  // A fwmark service's family is its real servers' (the validator made them all one family).
  const family = familyOf(s.address ?? s.realServers[0]?.address ?? "") ?? 4;
  const svc: VirtualService = {
    key: serviceKey(vs),
    family,
    address: s.address ?? "",
    port: s.port ?? 0,
    ...(s.fwmark !== undefined ? { fwmark: s.fwmark } : {}),
    protocol: (s.protocol ?? "TCP").toLowerCase() as Protocol,
    scheduler: s.scheduler ?? "wrr",
    forwarding: (s.forwarding ?? "NAT").toLowerCase() as Forwarding,
    realServers: s.realServers.map((r) => ({ address: r.address, port: r.port, weight: r.weight ?? 1 })),
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
    let port = r.port;
    if (hc.httpGet || hc.httpsGet) {
      const h = (hc.httpGet ?? hc.httpsGet)!;
      port = h.port ?? r.port;
      spec = {
        type: hc.httpGet ? "http" : "https",
        path: h.path ?? "/",
        statusCodes: h.statusCodes ?? [200],
        ...(h.digest ? { digest: h.digest } : {}),
        ...(h.host ? { host: h.host } : {}),
        ...(hc.httpsGet?.insecureSkipVerify ? { insecure: true } : {}),
      };
    } else if (hc.tcp) {
      port = hc.tcp.port ?? r.port;
      spec = { type: "tcp" };
    } else if (hc.udp) {
      port = hc.udp.port ?? r.port;
      spec = { type: "udp", ...(hc.udp.payload !== undefined ? { payload: hc.udp.payload } : {}) };
    } else if (hc.dns) {
      port = hc.dns.port ?? r.port;
      spec = { type: "dns", name: hc.dns.name, recordType: hc.dns.type ?? "A" };
    } else spec = { type: "exec", command: hc.exec!.command };
    return {
      service: serviceKey(vs),
      server: serverKey(r),
      target: { address: r.address, port },
      spec,
      intervalMs: ms(hc.interval, "5s"),
      timeoutMs: ms(hc.timeout, "3s"),
      retries: hc.retries ?? 1,
      delayBeforeRetryMs: ms(hc.delayBeforeRetry, "1s"),
      rise: hc.rise ?? 1,
      fall: hc.fall ?? 1,
    };
  });
}
