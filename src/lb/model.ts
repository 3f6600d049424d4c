// The desired state of virtual services, independent of the dataplane (IPVS or nftables): which
// real servers take traffic now, after health, inhibit-on-failure, quorum with hysteresis, and the
// sorry server. Pure.
import type { IpFamily } from "../base/ip.ts";

export type Protocol = "tcp" | "udp" | "sctp";
export type Scheduler = "rr" | "wrr" | "lc" | "wlc" | "sh" | "mh";
export type Forwarding = "nat" | "dr" | "tun";

export interface RealServer {
  address: string;
  port: number;
  weight: number;
}

/** keepalived's persistence_timeout + persistence_granularity, IPVS's persistent + netmask. */
export interface Persistence {
  /** A client (subnet) stays with its real server this long after its last packet. */
  timeoutMs: number;
  ipv4PrefixLength: number;
  ipv6PrefixLength: number;
}

export interface VirtualService {
  /** Stable name (namespace/name of the VirtualServer, or keepalived's address:port). */
  key: string;
  family: IpFamily;
  /** Firewall-mark services (IPVS only) have no address and port: address "" and port 0. */
  address: string;
  port: number;
  protocol: Protocol;
  /** keepalived's `virtual_server fwmark N`: the traffic marked N (by the admin's rules), any address and port. */
  fwmark?: number;
  scheduler: Scheduler;
  forwarding: Forwarding;
  realServers: RealServer[];
  sorryServer?: RealServer;
  /** Keep a failed server with weight 0 instead of removing it (keepalived's inhibit_on_failure). */
  inhibitOnFailure: boolean;
  /** Minimum total weight of healthy servers; below it the service is down (sorry server). */
  quorum: number;
  hysteresis: number;
  persistence?: Persistence;
  /** DR: the interface on the real servers' segment (the virtual address's), where packets come in and go out. */
  device?: string;
}

/** A real server as the dataplane should have it. */
export interface Destination extends RealServer {
  sorry?: boolean;
}

/** Health by `address:port` (absent: healthy until a check says otherwise). */
export type Health = ReadonlyMap<string, boolean>;

export const serverKey = (s: { address: string; port: number }): string =>
  s.address.includes(":") ? `[${s.address}]:${s.port}` : `${s.address}:${s.port}`;

/**
 * The destinations a service should have now. `quorumUp` is the previous quorum state, for
 * hysteresis: the service goes down below quorum - hysteresis and up again at quorum + hysteresis.
 */
export function desiredDestinations(
  svc: VirtualService,
  health: Health,
  quorumUp = true,
): { destinations: Destination[]; quorumUp: boolean } {
  const healthy = (s: RealServer) => health.get(serverKey(s)) !== false;
  const aliveWeight = svc.realServers.filter(healthy).reduce((sum, s) => sum + s.weight, 0);
  const up = quorumUp
    ? aliveWeight >= svc.quorum - svc.hysteresis
    : aliveWeight >= svc.quorum + svc.hysteresis;
  const live = svc.realServers.flatMap((s): Destination[] => {
    if (healthy(s)) return [{ ...s }];
    return svc.inhibitOnFailure ? [{ ...s, weight: 0 }] : [];
  });
  const serving = live.some((d) => d.weight > 0);
  if (up && serving) return { destinations: live, quorumUp: true };
  // Down: the sorry server alone, if there is one (keepalived keeps inhibited servers at 0 too).
  const sorry: Destination[] = svc.sorryServer ? [{ ...svc.sorryServer, sorry: true }] : [];
  return {
    destinations: [...live.filter((d) => d.weight === 0 && svc.inhibitOnFailure), ...sorry],
    quorumUp: up,
  };
}
