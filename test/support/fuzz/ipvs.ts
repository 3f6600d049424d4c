// The kernel's answers to IPVS GET_SERVICE / GET_DEST dumps as the socket receives them: one
// datagram of several generic-netlink messages, split by decodeMessages, each decoded by
// decodeService / decodeDest. Inputs are valid dumps (IPv4 and IPv6 services by address or
// fwmark, with statistics, and their destinations), then mostly mutated: blind byte changes, or an
// attribute's length, type or payload changed inside an otherwise sound message.
import type { IpFamily } from "../../../src/base/ip.ts";
import { canonicalAddress } from "../../../src/base/ip.ts";
import {
  decodeDest,
  decodeService,
  destAttr,
  genlMessage,
  IPVS_CMD,
  serviceAttr,
  type IpvsDest,
  type IpvsService,
} from "../../../src/lb/ipvs-netlink.ts";
import { attr, decodeMessages, NLM_F_MULTI } from "../../../src/net/netlink.ts";
import { mutateBytes } from "./bytes.ts";
import type { Random } from "./random.ts";
import type { FuzzTarget, Outcome } from "./run.ts";

const FAMILY_ID = 28;
const NLA_F_NESTED = 0x8000;

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const address = (rng: Random, f: IpFamily) =>
  f === 4
    ? `198.${18 + rng.below(2)}.${rng.below(256)}.${rng.below(256)}`
    : canonicalAddress(`2001:db8:${rng.below(0x10000).toString(16)}::${rng.below(0x10000).toString(16)}`);

function randomService(rng: Random): IpvsService {
  const family: IpFamily = rng.chance(0.6) ? 4 : 6;
  const svc: IpvsService = {
    id: rng.chance(0.2)
      ? { family, fwmark: rng.int(1, 0xffffffff) }
      : {
          family,
          protocol: rng.pick(["tcp", "udp", "sctp"] as const),
          address: address(rng, family),
          port: rng.below(0x10000),
        },
    scheduler: rng.pick(["rr", "wrr", "lc", "wlc", "sh", "mh", "", "fo"]),
    flags: rng.pick([0, 1, 2, 3, rng.u32()]),
    timeout: rng.pick([0, 300, rng.u32()]),
    prefixLength: family === 4 ? rng.int(0, 32) : rng.int(0, 128),
  };
  if (rng.chance(0.7)) {
    svc.connections = rng.u32();
    svc.inPackets = rng.u32();
  }
  return svc;
}

function randomDest(rng: Random, family: IpFamily): IpvsDest {
  const d: IpvsDest = {
    family,
    address: address(rng, family),
    port: rng.below(0x10000),
    forwarding: rng.pick(["nat", "dr", "tun"] as const),
    weight: rng.pick([0, 1, rng.u32()]),
    upperThreshold: rng.u32(),
    lowerThreshold: rng.u32(),
  };
  if (rng.chance(0.7)) {
    d.activeConnections = rng.u32();
    d.inactiveConnections = rng.u32();
  }
  return d;
}

/** `nest` with more attributes inside it (the nested attribute's length grows with them). */
function extendNest(nest: Buffer, more: Buffer[]): Buffer {
  const out = Buffer.concat([nest, ...more]);
  out.writeUInt16LE(out.length, 0);
  return out;
}

/** A dump reply's message for the service, as the kernel answers (statistics inside the nest). */
function serviceMessage(svc: IpvsService, seq: number): Buffer {
  const counts = [
    ...(svc.connections === undefined ? [] : [attr(1, u32(svc.connections))]),
    ...(svc.inPackets === undefined ? [] : [attr(2, u32(svc.inPackets))]),
  ];
  const stats = counts.length === 0 ? [] : [attr(10 | NLA_F_NESTED, Buffer.concat(counts))];
  return genlMessage(FAMILY_ID, NLM_F_MULTI, seq, IPVS_CMD.NEW_SERVICE, [
    extendNest(serviceAttr(svc), stats),
  ]);
}

function destMessage(d: IpvsDest, seq: number): Buffer {
  const counts = [
    ...(d.activeConnections === undefined ? [] : [attr(7, u32(d.activeConnections))]),
    ...(d.inactiveConnections === undefined ? [] : [attr(8, u32(d.inactiveConnections))]),
  ];
  return genlMessage(FAMILY_ID, NLM_F_MULTI, seq, IPVS_CMD.NEW_DEST, [extendNest(destAttr(d), counts)]);
}

/**
 * One attribute of a message changed where it sits: its length (shorter, longer, 0..3), its type,
 * or its payload's bytes; the message header's length is kept right, so the change reaches the
 * attribute reader instead of stopping at decodeMessages.
 */
function mutateAttribute(rng: Random, msg: Buffer): Buffer {
  const out = Buffer.from(msg);
  // Attribute starts: the top-level one at 20, those inside it from 24 on.
  const starts: number[] = [];
  for (let off = 24; off + 4 <= out.length;) {
    starts.push(off);
    const len = out.readUInt16LE(off);
    if (len < 4) break;
    off += (len + 3) & ~3;
  }
  const at = starts.length > 0 && rng.chance(0.9) ? rng.pick(starts) : 20;
  if (at + 4 > out.length) return out;
  switch (rng.below(3)) {
    case 0:
      out.writeUInt16LE(
        rng.pick([0, 1, 3, 4, 5, 6, out.readUInt16LE(at) - 1, out.readUInt16LE(at) + 4, rng.below(0x10000)]) &
          0xffff,
        at,
      );
      break;
    case 1:
      out.writeUInt16LE(rng.below(0x10000), at + 2);
      break;
    default:
      rng.bytes(Math.min(4, out.length - at - 4)).copy(out, at + 4);
  }
  return out;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export const ipvsTarget: FuzzTarget = {
  name: "ipvs",
  one(rng) {
    const services = rng.chance(0.5);
    const family: IpFamily = rng.chance(0.6) ? 4 : 6;
    const made: (IpvsService | IpvsDest)[] = [];
    let parts: Buffer[] = [];
    for (let i = rng.int(1, 4); i > 0; i--) {
      const v = services ? randomService(rng) : randomDest(rng, family);
      made.push(v);
      parts.push(services ? serviceMessage(v as IpvsService, i) : destMessage(v as IpvsDest, i));
    }
    const mutated = !rng.chance(0.1);
    let datagram: Buffer;
    if (mutated && rng.chance(0.5)) {
      const i = rng.below(parts.length);
      parts = parts.map((p, j) => (j === i ? mutateAttribute(rng, p) : p));
      datagram = Buffer.concat(parts);
    } else datagram = Buffer.concat(parts);
    if (mutated && datagram.equals(Buffer.concat(parts)) && rng.chance(0.6))
      for (let n = rng.int(1, 3); n > 0; n--) datagram = mutateBytes(rng, datagram);

    // The decoder's part: anything it throws is a crash.
    const { messages, malformed } = decodeMessages(datagram);
    const decoded = messages.map((m) => (services ? decodeService(m) : decodeDest(m, family)));
    if (!mutated) {
      if (malformed || decoded.length !== made.length)
        return wrong(`a valid dump split into ${decoded.length} messages`);
      for (const [i, d] of decoded.entries()) {
        if (!d.ok) return wrong(`a valid ${services ? "service" : "dest"} refused: ${d.reason}`);
        if (!same(d.value, made[i]))
          return wrong(`round trip: made ${JSON.stringify(made[i])}, decoded ${JSON.stringify(d.value)}`);
      }
      return { kind: "accepted" };
    }
    for (const d of decoded) {
      if (!d.ok) continue;
      if (!plausible(d.value)) return wrong(`decoded nonsense ${JSON.stringify(d.value)}`);
      // What was read from mutated bytes, written out and read again, reads the same: no field is
      // half-read (a decoder that took a field from the wrong place or width would differ).
      const again = services
        ? decodeService(decodeMessages(serviceMessage(d.value as IpvsService, 0)).messages[0]!)
        : decodeDest(decodeMessages(destMessage(d.value as IpvsDest, 0)).messages[0]!, family);
      if (!again.ok || !same(again.value, d.value))
        return wrong(`decoded ${JSON.stringify(d.value)}, which reads back as ${JSON.stringify(again)}`);
    }
    if (malformed) return { kind: "rejected", reason: "malformed-datagram" };
    const refused = decoded.find((d) => !d.ok);
    if (refused && !refused.ok) return { kind: "rejected", reason: refused.reason };
    if (decoded.length === 0) return { kind: "rejected", reason: "no-message" };
    return { kind: "accepted" };
  },
};

/** What any decoded value must be, whatever the bytes: the types the dataplane relies on. */
function plausible(v: IpvsService | IpvsDest): boolean {
  const u32ok = (n: number | undefined) =>
    n === undefined || (Number.isInteger(n) && n >= 0 && n <= 0xffffffff);
  if ("id" in v) {
    const id = v.id;
    const idOk =
      id.fwmark !== undefined
        ? id.fwmark > 0 && u32ok(id.fwmark)
        : typeof id.address === "string" && id.port >= 0 && id.port <= 0xffff;
    return (
      idOk &&
      (id.family === 4 || id.family === 6) &&
      u32ok(v.flags) &&
      u32ok(v.timeout) &&
      u32ok(v.connections)
    );
  }
  return (
    (v.family === 4 || v.family === 6) &&
    v.port >= 0 &&
    v.port <= 0xffff &&
    ["nat", "dr", "tun"].includes(v.forwarding) &&
    u32ok(v.weight) &&
    u32ok(v.activeConnections)
  );
}

const wrong = (detail: string): Outcome => ({ kind: "wrong", detail });
