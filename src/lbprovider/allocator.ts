// Address allocation for LoadBalancer Services from IPPools. The allocator is the one place that
// decides who holds which address; it is rebuilt from the Services' own status at every start, so
// a restart, a leader change or a re-list never moves an address (adopt first, allocate after).
import { canonicalAddress, familyOf, type IpFamily } from "../base/ip.ts";
import { contains, fromBig, isBuggy, type AddressRange } from "../api/ranges.ts";

export interface Pool {
  name: string;
  ranges: readonly AddressRange[];
  autoAssign: boolean;
  avoidBuggyIPs: boolean;
  /** May this Service draw from the pool (namespace and Service selectors, evaluated by the caller)? */
  allows(service: ServiceRequest): boolean;
  /** May Services of different namespaces share an address of the pool (when both allow it)? */
  crossNamespaceSharing: boolean;
}

export interface Port {
  port: number;
  protocol: string;
}

export interface ServiceRequest {
  /** namespace/name */
  key: string;
  families: readonly IpFamily[];
  /** Addresses asked for by annotation (or the deprecated spec.loadBalancerIP). */
  requested?: readonly string[];
  /** A pool asked for by annotation. */
  pool?: string;
  /** Services with the same key may share an address when their ports do not clash. */
  sharingKey?: string;
  /**
   * Other namespaces whose Services this one may share with ("*": any); a Service of another
   * namespace shares only when each names the other's namespace.
   */
  sharingNamespaces?: readonly string[];
  ports: readonly Port[];
  /** The Service's labels (for the pools' serviceSelector). */
  labels?: Readonly<Record<string, string>>;
}

export interface Assignment {
  addresses: string[];
  pool: string;
}

export type AssignResult =
  { ok: true; assignment: Assignment } | { ok: false; reason: string; message: string };

type Holder = Pick<ServiceRequest, "key" | "sharingKey" | "sharingNamespaces" | "ports">;

const namespaceOf = (key: string) => key.split("/")[0]!;
const welcomes = (s: Holder, namespace: string) =>
  (s.sharingNamespaces ?? []).some((n) => n === "*" || n === namespace);

/**
 * May two Services hold one address? The same sharing key and no common port; across namespaces,
 * also each side's consent and the pool's.
 */
function mayShare(a: Holder, b: Holder, pool: Pool | undefined): boolean {
  if (!a.sharingKey || a.sharingKey !== b.sharingKey) return false;
  if (a.ports.some((p) => b.ports.some((q) => p.port === q.port && p.protocol === q.protocol))) return false;
  const na = namespaceOf(a.key);
  const nb = namespaceOf(b.key);
  return na === nb || (!!pool?.crossNamespaceSharing && welcomes(a, nb) && welcomes(b, na));
}

export class Allocator {
  private pools: Pool[];
  /** address → the Services on it (several only when they share). */
  private readonly holders = new Map<string, Holder[]>();
  private readonly assigned = new Map<string, Assignment>();
  /** Where each pool's search for a free address resumes (a cursor per pool and family). */
  private readonly cursors = new Map<string, bigint>();

  constructor(pools: readonly Pool[]) {
    this.pools = [...pools];
  }

  setPools(pools: readonly Pool[]): void {
    this.pools = [...pools];
  }

  assignmentOf(key: string): Assignment | undefined {
    return this.assigned.get(key);
  }

  /** Every Service holding an address, for tests and metrics. */
  holdersOf(address: string): string[] {
    return (this.holders.get(canonicalAddress(address)) ?? []).map((h) => h.key);
  }

  /**
   * Gives the Service addresses: the ones it holds when they are still valid (never moved), those
   * it asks for when free, else new ones from a pool it may use.
   */
  assign(svc: ServiceRequest, current: readonly string[] = []): AssignResult {
    const held = this.assigned.get(svc.key);
    if (held && this.stillValid(svc, held)) return { ok: true, assignment: held };
    if (held) this.release(svc.key);

    const wanted = svc.requested?.length ? svc.requested : current;
    if (wanted.length > 0) {
      const result = this.take(svc, wanted, !svc.requested?.length);
      if (result.ok || svc.requested?.length) return result;
    }
    const pools = this.candidatePools(svc);
    if (pools.length === 0)
      return {
        ok: false,
        reason: "NoPool",
        message: svc.pool
          ? `IPPool ${svc.pool} does not exist or does not admit this Service`
          : "no IPPool with autoAssign admits this Service",
      };
    for (const pool of pools) {
      const addresses: string[] = [];
      for (const family of svc.families) {
        const a = this.findFree(pool, family, svc);
        if (a === undefined) break;
        addresses.push(a);
      }
      if (addresses.length === svc.families.length) {
        this.hold(svc, { addresses, pool: pool.name });
        return { ok: true, assignment: this.assigned.get(svc.key)! };
      }
    }
    return {
      ok: false,
      reason: "PoolExhausted",
      message: `no free ${svc.families.map((f) => `IPv${f}`).join("+")} address in IPPool ${pools.map((p) => p.name).join(", ")}`,
    };
  }

  release(key: string): void {
    const a = this.assigned.get(key);
    if (!a) return;
    this.assigned.delete(key);
    for (const addr of a.addresses) {
      const left = (this.holders.get(addr) ?? []).filter((h) => h.key !== key);
      if (left.length > 0) this.holders.set(addr, left);
      else this.holders.delete(addr);
    }
  }

  private take(svc: ServiceRequest, wanted: readonly string[], adopting: boolean): AssignResult {
    const addresses: string[] = [];
    let pool: Pool | undefined;
    for (const text of wanted) {
      const family = familyOf(text);
      if (!family) return { ok: false, reason: "InvalidAddress", message: `'${text}' is not an IP address` };
      const address = canonicalAddress(text);
      const inPool = this.pools.find((p) => p.ranges.some((r) => contains(r, address)));
      if (!inPool) return { ok: false, reason: "NotInPool", message: `${address} is not in any IPPool` };
      if (!inPool.allows(svc) || (svc.pool !== undefined && svc.pool !== inPool.name))
        return {
          ok: false,
          reason: "PoolNotAllowed",
          message: `${address} is in IPPool ${inPool.name}, which this Service may not use`,
        };
      const clash = this.clash(address, svc);
      if (clash)
        return {
          ok: false,
          reason: "AddressInUse",
          message: `${address} is held by ${clash}${adopting ? "" : " and cannot be shared with it"}`,
        };
      addresses.push(address);
      pool ??= inPool;
    }
    this.hold(svc, { addresses, pool: pool!.name });
    return { ok: true, assignment: this.assigned.get(svc.key)! };
  }

  private stillValid(svc: ServiceRequest, held: Assignment): boolean {
    if (held.addresses.length !== svc.families.length) return false;
    if (!svc.families.every((f) => held.addresses.some((a) => familyOf(a) === f))) return false;
    if (svc.requested?.length && !sameSet(svc.requested.map(canonicalAddress), held.addresses)) return false;
    const pool = this.pools.find((p) => p.name === held.pool);
    if (!pool || !pool.allows(svc) || (svc.pool !== undefined && svc.pool !== pool.name)) return false;
    if (!held.addresses.every((a) => pool.ranges.some((r) => contains(r, a)))) return false;
    // Ports or sharing key may have changed since.
    return held.addresses.every((a) => this.clash(a, svc) === undefined);
  }

  /** Who keeps `svc` off `address`, if anyone. */
  private clash(address: string, svc: ServiceRequest): string | undefined {
    const pool = this.pools.find((p) => p.ranges.some((r) => contains(r, address)));
    for (const h of this.holders.get(address) ?? [])
      if (h.key !== svc.key && !mayShare(h, svc, pool)) return h.key;
    return undefined;
  }

  private hold(svc: ServiceRequest, a: Assignment): void {
    this.assigned.set(svc.key, a);
    const holder: Holder = {
      key: svc.key,
      ports: svc.ports,
      ...(svc.sharingKey ? { sharingKey: svc.sharingKey } : {}),
      ...(svc.sharingNamespaces ? { sharingNamespaces: svc.sharingNamespaces } : {}),
    };
    for (const addr of a.addresses)
      this.holders.set(addr, [...(this.holders.get(addr) ?? []).filter((h) => h.key !== svc.key), holder]);
  }

  private candidatePools(svc: ServiceRequest): Pool[] {
    if (svc.pool !== undefined) return this.pools.filter((p) => p.name === svc.pool && p.allows(svc));
    return this.pools.filter((p) => p.autoAssign && p.allows(svc));
  }

  /** A shareable address first (same sharing key, no port clash), else the next free one. */
  private findFree(pool: Pool, family: IpFamily, svc: ServiceRequest): string | undefined {
    if (svc.sharingKey)
      for (const [addr, hs] of this.holders)
        if (
          familyOf(addr) === family &&
          hs.some((h) => h.sharingKey === svc.sharingKey) &&
          pool.ranges.some((r) => contains(r, addr)) &&
          this.clash(addr, svc) === undefined
        )
          return addr;
    const ranges = pool.ranges.filter((r) => r.family === family);
    const cursorKey = `${pool.name}/${family}`;
    const start = this.cursors.get(cursorKey) ?? 0n;
    // From where the last search stopped to the end, then from the beginning: O(1) amortised
    // while the pool fills in order, and never a list of the pool (an IPv6 /64 is walked lazily).
    const scan = (from: bigint, to: bigint): string | undefined => {
      for (const r of ranges) {
        const hi = r.last < to ? r.last : to;
        for (let n = r.first > from ? r.first : from; n <= hi; n++) {
          if (pool.avoidBuggyIPs && isBuggy(n, family)) continue;
          const addr = fromBig(n, family);
          if (this.holders.has(addr)) continue;
          this.cursors.set(cursorKey, n + 1n);
          return addr;
        }
      }
      return undefined;
    };
    return scan(start, 1n << 128n) ?? (start > 0n ? scan(0n, start - 1n) : undefined);
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
