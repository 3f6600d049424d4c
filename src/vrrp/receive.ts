// The receive checks of RFC 9568 7.1 / RFC 3768 7.1 that sit between the codec and an instance:
// they decide whether a decoded advert may reach the state machine, and name the reason when not.
import { isLinkLocalV6, type IpFamily } from "../base/ip.ts";
import { OWNER_PRIORITY } from "./instance.ts";
import {
  decodeAdvert,
  type Advert,
  type ChecksumForm,
  type DecodeRejection,
  type V2Auth,
  type VrrpVersion,
} from "./packet.ts";

export interface ReceivePolicy {
  version: VrrpVersion;
  family: IpFamily;
  vrid: number;
  /** Our configured priority: an address owner (255) accepts no adverts (RFC 9568 7.1). */
  priority: number;
  /** Our Advertisement_Interval in centiseconds; v2 drops adverts with another interval. */
  intervalCs: number;
  /** Our virtual addresses, canonical text. */
  addresses: readonly string[];
  auth?: V2Auth;
  /** Our own primary address: our adverts looped back are not news. */
  primaryAddress: string;
  /** When set, only adverts from these sources are obeyed (unicast peers, or cluster nodes). */
  allowedSources?: ReadonlySet<string>;
  /** Only adverts from IPv6 link-local sources are obeyed (cluster mode, IPv6 multicast). */
  linkLocalSourcesOnly?: boolean;
  /** Require TTL / hop limit 255 when the transport can see it. */
  requireMaxTtl: boolean;
}

export type ReceiveRejection =
  | DecodeRejection
  | "bad-ttl"
  | "wrong-vrid"
  | "version-mismatch"
  | "auth-mismatch"
  | "interval-mismatch"
  | "address-mismatch"
  | "we-are-owner"
  | "own-advert"
  | "source-not-allowed";

export interface ReceivedPacket {
  payload: Uint8Array;
  source: string;
  destination: string;
  /** The TTL (IPv4) or hop limit (IPv6), when the transport delivers it. */
  ttl: number | undefined;
}

export type ReceiveResult =
  | {
      ok: true;
      advert: Advert;
      checksumForm: ChecksumForm;
      /** v3: the address list differs from ours; RFC 9568 says log it, not drop it. */
      addressMismatch: boolean;
    }
  | { ok: false; reason: ReceiveRejection; detail: string };

function sameAddresses(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  if (i === a.length) return true; // the same order: every advert of a peer configured alike
  const set = new Set(a);
  return b.every((x) => set.has(x));
}

function sameAuth(a: V2Auth | undefined, b: V2Auth | undefined): boolean {
  const x = a ?? { type: "none" };
  const y = b ?? { type: "none" };
  if (x.type !== y.type) return false;
  // keepalived compares the 8 bytes on the wire; a longer configured password is cut to 8 bytes.
  return (
    x.type === "none" ||
    Buffer.from(x.password)
      .subarray(0, 8)
      .equals(Buffer.from((y as typeof x).password).subarray(0, 8))
  );
}

/** Decodes and checks one received VRRP message against one instance's policy. */
export function checkReceived(packet: ReceivedPacket, policy: ReceivePolicy): ReceiveResult {
  const fail = (reason: ReceiveRejection, detail: string): ReceiveResult => ({ ok: false, reason, detail });
  if (policy.requireMaxTtl && packet.ttl !== undefined && packet.ttl !== 255)
    return fail("bad-ttl", `TTL/hop limit ${packet.ttl}, must be 255`);
  const decoded = decodeAdvert(packet.payload, {
    family: policy.family,
    source: packet.source,
    destination: packet.destination,
  });
  if (!decoded.ok) return decoded;
  const { advert } = decoded;
  if (advert.vrid !== policy.vrid) return fail("wrong-vrid", `vrid ${advert.vrid}, ours is ${policy.vrid}`);
  if (advert.version !== policy.version)
    return fail("version-mismatch", `VRRPv${advert.version}, ours is v${policy.version}`);
  if (packet.source === policy.primaryAddress)
    return fail("own-advert", `from our own address ${packet.source}`);
  if (policy.allowedSources && !policy.allowedSources.has(packet.source))
    return fail("source-not-allowed", `${packet.source} is not a configured peer`);
  if (policy.linkLocalSourcesOnly && !isLinkLocalV6(packet.source))
    return fail("source-not-allowed", `${packet.source} is not a link-local address`);
  if (advert.version === 2) {
    if (!sameAuth(advert.auth, policy.auth))
      return fail("auth-mismatch", `authentication ${advert.auth?.type ?? "none"} does not match ours`);
    // RFC 3768 7.1: the interval MUST match, and a non-owner's address list MUST match.
    if (advert.intervalCs !== policy.intervalCs)
      return fail(
        "interval-mismatch",
        `interval ${advert.intervalCs / 100}s, ours is ${policy.intervalCs / 100}s`,
      );
  }
  const addressMismatch = !sameAddresses(advert.addresses, policy.addresses);
  if (addressMismatch && advert.version === 2 && advert.priority !== OWNER_PRIORITY)
    return fail("address-mismatch", `addresses ${advert.addresses.join(",")} differ from ours`);
  if (policy.priority === OWNER_PRIORITY) return fail("we-are-owner", "the address owner ignores adverts");
  return { ok: true, advert, checksumForm: decoded.checksumForm, addressMismatch };
}

/**
 * checkReceived for one instance, with its last accepted advert remembered: a master sends the
 * same bytes every interval, and what they decode to and whether they pass depends only on them,
 * the packet's addresses and TTL, and the policy. A repeat costs a comparison of its bytes instead
 * of decoding, checksumming and checking (a backup of 255 routers hears ~2,500 a second). A policy
 * is never changed in place: a new one is a new object, and is checked anew.
 */
export class ReceiveCheck {
  private last:
    | {
        policy: ReceivePolicy;
        source: string;
        destination: string;
        ttl: number | undefined;
        bytes: Uint8Array;
        result: ReceiveResult;
      }
    | undefined;

  check(packet: ReceivedPacket, policy: ReceivePolicy): ReceiveResult {
    const last = this.last;
    if (
      last !== undefined &&
      last.policy === policy &&
      last.source === packet.source &&
      last.destination === packet.destination &&
      last.ttl === packet.ttl &&
      sameBytes(last.bytes, packet.payload)
    )
      return last.result;
    const result = checkReceived(packet, policy);
    // A copy: the payload is a view of a read buffer that the next read overwrites.
    this.last = result.ok
      ? {
          policy,
          source: packet.source,
          destination: packet.destination,
          ttl: packet.ttl,
          bytes: Uint8Array.from(packet.payload),
          result,
        }
      : undefined;
    return result;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
