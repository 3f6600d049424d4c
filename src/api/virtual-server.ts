// The VirtualServer object (vipkeeper.io/v1alpha1, namespaced): keepalived's virtual_server; what
// it serves, and its validation, of structure (the code generated from schema/virtual-server.ts)
// and of meaning, like VirtualRouter's.
import { familyOf, type IpFamily } from "../base/ip.ts";
import { parseDuration } from "./duration.ts";
import { fromBig, toBig } from "./ranges.ts";
import type { FieldError } from "./field-errors.ts";
import type { VirtualServer, VirtualServerSpec } from "./schema/virtual-server.ts";
import { structuralErrors } from "./structural.ts";

export type { VirtualServer, VirtualServerSpec } from "./schema/virtual-server.ts";

/** Most addresses a VirtualServer serves once its group's ranges are expanded. */
export const MAX_SERVED = 1024;

const CHECK_KINDS = ["httpGet", "httpsGet", "tcp", "udp", "dns", "exec", "smtp", "ping"] as const;

type Protocol = NonNullable<VirtualServerSpec["protocol"]>;
/** One thing a VirtualServer serves: an address and port, or a firewall mark. */
export type ServedEndpoint =
  | { address: string; port: number; protocol: Protocol; fwmark?: undefined }
  | { fwmark: number; protocol: Protocol; address?: undefined; port?: undefined };

/** A group entry's address: one address, or first-last. Undefined when it is neither. */
export function groupAddresses(
  text: string,
): { first: string; family: IpFamily; count: number; all(): string[] } | undefined {
  const dash = text.indexOf("-");
  const a = dash < 0 ? text : text.slice(0, dash).trim();
  const b = dash < 0 ? text : text.slice(dash + 1).trim();
  const fa = familyOf(a);
  if (!fa || familyOf(b) !== fa) return undefined;
  const first = toBig(a);
  const last = toBig(b);
  if (last < first) return undefined;
  const n = last - first + 1n;
  const count = n > BigInt(MAX_SERVED + 1) ? MAX_SERVED + 1 : Number(n);
  return {
    first: a,
    family: fa,
    count,
    all: () => Array.from({ length: Math.min(count, MAX_SERVED) }, (_, i) => fromBig(first + BigInt(i), fa)),
  };
}

/**
 * Everything a VirtualServer serves: its address and port, its fwmark, or every entry of its group
 * (ranges expanded). The one answer for the dataplane, the importer and admission checks.
 */
export function servedEndpoints(spec: VirtualServerSpec): ServedEndpoint[] {
  const protocol = spec.protocol ?? "TCP";
  if (spec.group) {
    return spec.group.flatMap((g): ServedEndpoint[] => {
      if (g.fwmark !== undefined) return [{ fwmark: g.fwmark, protocol }];
      if (g.address === undefined || g.port === undefined) return [];
      const port = g.port;
      return (groupAddresses(g.address)?.all() ?? []).map((address) => ({ address, port, protocol }));
    });
  }
  if (spec.fwmark !== undefined) return [{ fwmark: spec.fwmark, protocol }];
  if (spec.address !== undefined && spec.port !== undefined)
    return [{ address: spec.address, port: spec.port, protocol }];
  return [];
}

/** A VirtualServer that selects its traffic by firewall marks only (its real servers may leave out the port). */
export function marksOnly(spec: VirtualServerSpec): boolean {
  return spec.group ? spec.group.every((g) => g.fwmark !== undefined) : spec.fwmark !== undefined;
}

export function validateVirtualServer(obj: unknown): FieldError[] {
  const structural = structuralErrors("VirtualServer", obj);
  if (structural.length > 0) return structural;
  const { spec } = obj as VirtualServer;
  const errors: FieldError[] = [];
  const err = (field: string, message: string) => errors.push({ field: `spec.${field}`, message });
  // Traffic is selected by address and port, by fwmark, or by a group of them; with marks only
  // the family is the real servers'.
  let family: IpFamily | undefined;
  if (spec.group !== undefined) {
    if (spec.fwmark !== undefined || spec.address !== undefined || spec.port !== undefined)
      err("group", "give group, or fwmark, or address and port: one of them");
    let total = 0;
    spec.group.forEach((g, i) => {
      if (g.fwmark !== undefined) {
        if (g.address !== undefined || g.port !== undefined)
          err(`group[${i}]`, "give fwmark, or address and port, not both");
        return;
      }
      if (g.address === undefined || g.port === undefined) {
        err(`group[${i}]`, "needs address and port, or fwmark");
        return;
      }
      const range = groupAddresses(g.address);
      if (!range) {
        err(`group[${i}].address`, `'${g.address}' is not an address or a range first-last of one family`);
        return;
      }
      total += range.count;
      if (family && range.family !== family)
        err(`group[${i}].address`, `IPv${range.family}, but the group's first address is IPv${family}`);
      family ??= range.family;
    });
    if (total > MAX_SERVED) err("group", `serves more than ${MAX_SERVED} addresses`);
    const seen = new Map<string, number>();
    servedEndpoints(spec).forEach((e) => {
      const key = e.fwmark !== undefined ? `fwmark ${e.fwmark}` : `${e.address} ${e.port}`;
      if (seen.has(key)) err("group", `${key} is served twice`);
      seen.set(key, 1);
    });
  } else if (spec.fwmark !== undefined) {
    if (spec.address !== undefined || spec.port !== undefined)
      err("fwmark", "give fwmark, or address and port, not both");
  } else {
    if (spec.address === undefined)
      err("address", "is required (or spec.fwmark or spec.group instead of address and port)");
    if (spec.port === undefined) err("port", "is required with spec.address");
  }
  const fromAddress = spec.address !== undefined || family !== undefined;
  if (spec.address !== undefined) {
    family = familyOf(spec.address);
    if (!family) err("address", `'${spec.address}' is not an IPv4 or IPv6 address`);
  }
  if (!fromAddress) family = familyOf(spec.realServers[0]!.address);
  const marks = marksOnly(spec);
  const whose = fromAddress ? "the virtual address" : "spec.realServers[0]";
  const hc = spec.healthCheck;
  const checkPort =
    hc?.tcp?.port ??
    hc?.udp?.port ??
    hc?.dns?.port ??
    hc?.smtp?.port ??
    hc?.httpGet?.port ??
    hc?.httpsGet?.port;
  const portless =
    hc !== undefined && hc.ping === undefined && hc.exec === undefined && checkPort === undefined;
  const seen = new Map<string, number>();
  spec.realServers.forEach((s, i) => {
    const f = familyOf(s.address);
    if (!f) err(`realServers[${i}].address`, `'${s.address}' is not an IP address`);
    else if (family && f !== family)
      err(`realServers[${i}].address`, `IPv${f}, but ${whose} is IPv${family}`);
    if (s.port === undefined && !marks)
      err(`realServers[${i}].port`, "is required unless the service is selected by firewall marks only");
    else if (s.port === undefined && portless && !s.checkTargets?.every((t) => t.port !== undefined))
      err(`realServers[${i}].port`, "a real server without a port needs a port in its health check");
    s.checkTargets?.forEach((t, j) => {
      if (!familyOf(t.address))
        err(`realServers[${i}].checkTargets[${j}].address`, `'${t.address}' is not an IP address`);
    });
    const key = `${s.address}|${s.port ?? 0}`;
    const first = seen.get(key);
    if (first !== undefined) err(`realServers[${i}]`, `the same server as spec.realServers[${first}]`);
    else seen.set(key, i);
  });
  if (spec.sorryServer && familyOf(spec.sorryServer.address) !== family)
    err("sorryServer.address", `'${spec.sorryServer.address}' is not an address of ${whose}'s family`);
  const persistMs = spec.persistence ? parseDuration(spec.persistence.timeout) : undefined;
  if (persistMs !== undefined && persistMs < 1000)
    err(
      "persistence.timeout",
      `'${spec.persistence!.timeout}' is under 1s (IPVS counts persistence in seconds)`,
    );
  const kinds = CHECK_KINDS.filter((k) => spec.healthCheck?.[k] !== undefined);
  if (spec.healthCheck && kinds.length !== 1)
    err(
      "healthCheck",
      `needs exactly one of ${CHECK_KINDS.join(", ")}; has ${kinds.length ? kinds.join(", ") : "none"}`,
    );
  return errors;
}
