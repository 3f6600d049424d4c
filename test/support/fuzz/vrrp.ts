// The VRRP receive path as a raw socket feeds it: an IPv4 datagram (header and VRRP message) or
// an IPv6 payload with its hop limit, through parseIpv4Packet and checkReceived (which decodes).
// Inputs are valid adverts (v2 with and without a password, v3 over IPv4 and IPv6, both IPv4
// checksum forms), then mostly mutated: blind byte changes, or a named field set to another value
// with the checksum made right again, so the checks behind the checksum are reached too.
import { addressToBytes, bytesToAddress, canonicalAddress, type IpFamily } from "../../../src/base/ip.ts";
import { internetChecksum } from "../../../src/vrrp/checksum.ts";
import { parseIpv4Packet } from "../../../src/vrrp/ip-header.ts";
import {
  encodeAdvert,
  vrrpChecksum,
  type Advert,
  type ChecksumForm,
  type PacketPath,
  type VrrpVersion,
} from "../../../src/vrrp/packet.ts";
import { checkReceived, type ReceivePolicy } from "../../../src/vrrp/receive.ts";
import { mutateBytes } from "./bytes.ts";
import type { Random } from "./random.ts";
import type { FuzzTarget, Outcome } from "./run.ts";

// Never the policy's own primary address (below), which would make a valid advert "own-advert".
const ipv4 = (rng: Random) => `198.${18 + rng.below(2)}.${rng.below(256)}.${rng.int(1, 254)}`;
const ipv6 = (rng: Random, prefix = "2001:db8:") =>
  canonicalAddress(`${prefix}${rng.below(0x10000).toString(16)}::${rng.below(0x10000).toString(16)}`);

interface Case {
  family: IpFamily;
  advert: Advert;
  path: PacketPath;
  form: ChecksumForm;
  ttl: number;
}

function validCase(rng: Random): Case {
  const family: IpFamily = rng.chance(0.6) ? 4 : 6;
  const version: VrrpVersion = family === 6 || rng.chance(0.5) ? 3 : 2;
  const addresses = [
    ...new Set(Array.from({ length: rng.int(1, 8) }, () => (family === 4 ? ipv4(rng) : ipv6(rng)))),
  ];
  const advert: Advert = {
    version,
    vrid: rng.int(1, 255),
    priority: rng.int(0, 254),
    intervalCs: version === 3 ? rng.int(1, 4095) : rng.int(1, 255) * 100,
    addresses,
  };
  if (version === 2)
    advert.auth = rng.chance(0.5)
      ? { type: "none" }
      : { type: "pass", password: rng.bytes(rng.int(1, 8)).toString("hex").slice(0, rng.int(1, 8)) };
  const multicast = rng.chance(0.7);
  const path: PacketPath =
    family === 4
      ? { family, source: ipv4(rng), destination: multicast ? "224.0.0.18" : ipv4(rng) }
      : { family, source: ipv6(rng, "fe80:"), destination: multicast ? "ff02::12" : ipv6(rng) };
  const form: ChecksumForm = version === 3 && family === 4 && rng.chance(0.5) ? "plain" : "pseudo-header";
  return { family, advert, path, form, ttl: 255 };
}

/** The IPv4 header a raw socket delivers in front of the message (sometimes with options). */
function ipv4Datagram(c: Case, payload: Buffer, rng: Random): Buffer {
  const options = rng.chance(0.1) ? 4 * rng.int(1, 10) : 0;
  const h = Buffer.alloc(20 + options);
  h[0] = 0x40 | ((20 + options) / 4);
  h.writeUInt16BE(h.length + payload.length, 2);
  h[8] = c.ttl;
  h[9] = 112;
  Buffer.from(c.path.source.split(".").map(Number)).copy(h, 12);
  Buffer.from(c.path.destination.split(".").map(Number)).copy(h, 16);
  h.writeUInt16BE(internetChecksum(h), 10);
  return Buffer.concat([h, payload]);
}

/** The VRRP message with its checksum made right for `c`'s path (v2: no pseudo-header). */
function fixChecksum(msg: Buffer, c: Case): void {
  if (msg.length < 8) return;
  msg.writeUInt16BE(0, 6);
  const version = msg[0]! >> 4 === 2 ? 2 : 3;
  msg.writeUInt16BE(vrrpChecksum(msg, version, c.path, c.form), 6);
}

type FieldMutation = (rng: Random, msg: Buffer, c: Case) => Buffer;

/** Named fields set to other values; the checksum is made right after most of them. */
const FIELDS: Record<string, FieldMutation> = {
  version: (rng, m) => ((m[0] = (rng.below(16) << 4) | (m[0]! & 0x0f)), m),
  type: (rng, m) => ((m[0] = (m[0]! & 0xf0) | rng.below(16)), m),
  vrid: (rng, m) => ((m[1] = rng.pick([0, rng.below(256)])), m),
  priority: (rng, m) => ((m[2] = rng.below(256)), m),
  // The count of addresses against the length the message has.
  count: (rng, m) => ((m[3] = rng.pick([0, 255, m[3]! + 1, m[3]! - 1, rng.below(256)]) & 0xff), m),
  "auth-type": (rng, m) => ((m[4] = rng.pick([0, 1, 2, 3, rng.below(256)])), m),
  interval: (rng, m) => (m.writeUInt16BE(rng.pick([0, 0xf000, rng.below(0x10000)]), 4), m),
  checksum: (rng, m) => (m.writeUInt16BE(rng.below(0x10000), 6), m),
  "add-address": (rng, m, c) => Buffer.concat([m, rng.bytes(c.family === 4 ? 4 : 16)]),
  "drop-address": (_rng, m, c) => m.subarray(0, Math.max(8, m.length - (c.family === 4 ? 4 : 16))),
  "auth-data": (rng, m, c) => (c.advert.version === 2 ? rng.bytes(8).copy(m, m.length - 8) : 0, m),
};
const FIELD_NAMES = Object.keys(FIELDS);

/** Mutations of what travels beside the message: TTL / hop limit, the path, the IPv4 header. */
function mutatePath(rng: Random, c: Case): Case {
  const which = rng.below(3);
  if (which === 0) return { ...c, ttl: rng.pick([0, 1, 64, 254, rng.below(256)]) };
  if (which === 1)
    return {
      ...c,
      path: { ...c.path, source: c.family === 4 ? ipv4(rng) : ipv6(rng, rng.pick(["fe80:", "2001:db8:"])) },
    };
  return { ...c, path: { ...c.path, destination: c.family === 4 ? ipv4(rng) : ipv6(rng) } };
}

function mutateIpv4Header(rng: Random, d: Buffer): Buffer {
  const out = Buffer.from(d);
  switch (rng.below(5)) {
    case 0:
      out[0] = rng.below(256); // version and header length
      break;
    case 1:
      out.writeUInt16BE(rng.pick([0, 19, out.length - 1, out.length + 1, rng.below(0x10000)]), 2);
      break;
    case 2:
      out.writeUInt16BE(rng.pick([0x2000, 0x0001, 0x4000, rng.below(0x10000)]), 6); // flags, offset
      break;
    case 3:
      out[9] = rng.pick([6, 17, 0, rng.below(256)]);
      break;
    default:
      return out.subarray(0, rng.below(24));
  }
  return out;
}

/** The receive policy of an instance that would accept `c` as it was made. */
function policyFor(c: Case, rng: Random): ReceivePolicy {
  const p: ReceivePolicy = {
    version: c.advert.version,
    family: c.family,
    vrid: c.advert.vrid,
    priority: rng.int(1, 254),
    intervalCs: c.advert.intervalCs,
    addresses: c.advert.addresses,
    primaryAddress: c.family === 4 ? "198.19.255.255" : "fe80::1:2:3:4",
    requireMaxTtl: rng.chance(0.9),
  };
  if (c.advert.auth) p.auth = c.advert.auth;
  if (rng.chance(0.3)) p.allowedSources = new Set([c.path.source]);
  else if (c.family === 6 && rng.chance(0.5)) p.linkLocalSourcesOnly = true; // cluster mode, IPv6 multicast
  return p;
}

/**
 * What the accepted message's bytes say, read without the codec: the fields must agree, and the
 * message must be what an advert is (type 1, its exact length, a checksum that holds in the form
 * the decoder reports, computed here from RFC 1071's sum over the pseudo-header and message).
 */
function disagreement(
  msg: Uint8Array,
  advert: Advert,
  path: PacketPath,
  form: ChecksumForm,
): string | undefined {
  const family = path.family;
  const alen = family === 4 ? 4 : 16;
  if ((msg[0]! & 0x0f) !== 1) return `accepted type ${msg[0]! & 0x0f}`;
  const length = 8 + msg[3]! * alen + (advert.version === 2 ? 8 : 0);
  if (msg.length !== length) return `accepted ${msg.length} bytes for ${msg[3]} addresses`;
  const pseudo = Buffer.alloc(family === 4 ? 12 : 40);
  if (advert.version === 3 && (family === 6 || form === "pseudo-header")) {
    const a = addressToBytes(path.source);
    const b = addressToBytes(path.destination);
    pseudo.set(a, 0);
    pseudo.set(b, a.length);
    // IPv4 (RFC 768 form): zero, protocol, length; IPv6 (RFC 8200 8.1): 32-bit length, next header.
    if (family === 4) {
      pseudo[9] = 112;
      pseudo.writeUInt16BE(msg.length, 10);
    } else {
      pseudo.writeUInt32BE(msg.length, 32);
      pseudo[39] = 112;
    }
  }
  const sum =
    advert.version === 3 && (family === 6 || form === "pseudo-header")
      ? internetChecksum(pseudo, msg)
      : internetChecksum(msg);
  if (sum !== 0) return `accepted with a checksum that does not hold (${form})`;
  const interval = advert.version === 3 ? ((msg[4]! << 8) | msg[5]!) & 0x0fff : msg[5]! * 100;
  const want = {
    version: msg[0]! >> 4,
    vrid: msg[1],
    priority: msg[2],
    intervalCs: interval,
    addresses: Array.from({ length: msg[3]! }, (_, i) =>
      bytesToAddress(msg.subarray(8 + i * alen, 8 + (i + 1) * alen)),
    ),
  };
  const got = {
    version: advert.version,
    vrid: advert.vrid,
    priority: advert.priority,
    intervalCs: advert.intervalCs,
    addresses: advert.addresses,
  };
  return JSON.stringify(want) === JSON.stringify(got)
    ? undefined
    : `bytes say ${JSON.stringify(want)}, decoded ${JSON.stringify(got)}`;
}

export const vrrpTarget: FuzzTarget = {
  name: "vrrp",
  one(rng) {
    const made = validCase(rng);
    const policy = policyFor(made, rng);
    let c = made;
    let msg = encodeAdvert(made.advert, made.path, made.form);
    // A tenth go through as made: they must be accepted with the fields they were made with.
    const mutated = !rng.chance(0.1);
    let headerMutation: "none" | "blind" | "field" = "none";
    if (mutated) {
      for (let n = rng.int(1, 3); n > 0; n--) {
        const kind = rng.below(10);
        if (kind < 4) msg = mutateBytes(rng, msg);
        else if (kind < 8) {
          // Fields sit in the 8-byte header (and the auth data): an earlier cut may have taken them.
          if (msg.length >= 16) msg = FIELDS[rng.pick(FIELD_NAMES)]!(rng, Buffer.from(msg), c);
          if (rng.chance(0.8)) fixChecksum(msg, c);
        } else if (kind < 9) c = mutatePath(rng, c);
        else headerMutation = rng.chance(0.5) ? "blind" : "field";
      }
    }
    let packet;
    // What follows is the decoder's part: anything it throws is a crash.
    if (c.family === 4) {
      let datagram = ipv4Datagram(c, msg, rng);
      if (headerMutation === "blind") datagram = mutateBytes(rng, datagram);
      else if (headerMutation === "field") datagram = mutateIpv4Header(rng, datagram);
      const ip = parseIpv4Packet(datagram);
      if (!ip.ok) return rejected(ip.reason, ip.detail);
      packet = {
        payload: ip.packet.payload,
        source: ip.packet.source,
        destination: ip.packet.destination,
        ttl: ip.packet.ttl,
      };
    } else packet = { payload: msg, source: c.path.source, destination: c.path.destination, ttl: c.ttl };
    const result = checkReceived(packet, policy);
    if (!mutated && !result.ok)
      return wrong(`a valid advert was refused: ${result.reason} (${result.detail})`);
    if (!result.ok) return rejected(result.reason, result.detail);
    if (!mutated && JSON.stringify(result.advert) !== JSON.stringify(made.advert))
      return wrong(
        `round trip: sent ${JSON.stringify(made.advert)}, decoded ${JSON.stringify(result.advert)}`,
      );
    const off = disagreement(
      packet.payload,
      result.advert,
      { family: c.family, source: packet.source, destination: packet.destination },
      result.checksumForm,
    );
    if (off) return wrong(off);
    if (policy.requireMaxTtl && packet.ttl !== 255) return wrong(`accepted with TTL ${packet.ttl}`);
    if (policy.allowedSources && !policy.allowedSources.has(packet.source))
      return wrong(`accepted from ${packet.source}, not an allowed source`);
    if (policy.linkLocalSourcesOnly && !packet.source.startsWith("fe80:"))
      return wrong(`accepted from ${packet.source}, not link-local`);
    return { kind: "accepted" };
  },
};

function rejected(reason: string, detail: string): Outcome {
  if (!reason || !detail) return wrong(`a rejection without a reason or detail: '${reason}' '${detail}'`);
  return { kind: "rejected", reason };
}

const wrong = (detail: string): Outcome => ({ kind: "wrong", detail });
