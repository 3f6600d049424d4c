// VRRP advertisement codec: VRRPv3 (RFC 9568, formerly RFC 5798) over IPv4 and IPv6, and VRRPv2
// (RFC 3768) over IPv4 with keepalived's simple-password authentication. Pure: buffers in and out.
// Decoding never throws; it returns a typed reason so the agent can count drops by reason.
import { addressBytesShared, addressToBytes, bytesToAddress, type IpFamily } from "../base/ip.ts";
import { internetChecksum } from "./checksum.ts";

export type VrrpVersion = 2 | 3;

export const VRRP_PROTOCOL = 112;
export const VRRP_MULTICAST_V4 = "224.0.0.18";
export const VRRP_MULTICAST_V6 = "ff02::12";
export const ADVERTISEMENT_TYPE = 1;

/** VRRPv2 authentication (RFC 2338 types; RFC 3768 dropped them, keepalived keeps PASS). */
export type V2Auth = { type: "none" } | { type: "pass"; password: string };
const AUTH_NONE = 0;
const AUTH_PASS = 1;
const AUTH_AH = 2;
const V2_AUTH_DATA_LENGTH = 8;
const HEADER_LENGTH = 8;

export interface Advert {
  version: VrrpVersion;
  vrid: number;
  priority: number;
  /** Advertisement interval in centiseconds (v2 carries whole seconds: always a multiple of 100). */
  intervalCs: number;
  /** The virtual addresses, in canonical text, all of the packet's family. */
  addresses: string[];
  /** v2 only. */
  auth?: V2Auth;
}

/** How a v3 IPv4 checksum is formed: keepalived includes the IPv4 pseudo-header (its default);
 * RFC 9568 5.2.8 and other vendors (v3_checksum_as_v2 in keepalived) do not. IPv6 always has it. */
export type ChecksumForm = "pseudo-header" | "plain";

/** Where the packet travels: the IP source and destination enter the v3 pseudo-header. */
export interface PacketPath {
  family: IpFamily;
  source: string;
  destination: string;
}

export type DecodeRejection =
  | "too-short"
  | "bad-version"
  | "bad-type"
  | "bad-vrid"
  | "bad-address-count"
  | "bad-length"
  | "bad-interval"
  | "bad-checksum"
  | "bad-auth-type"
  | "v2-over-ipv6";

export type DecodeResult =
  | { ok: true; advert: Advert; checksumForm: ChecksumForm }
  | { ok: false; reason: DecodeRejection; detail: string };

export class AdvertEncodeError extends Error {}

function addressLength(family: IpFamily): number {
  return family === 4 ? 4 : 16;
}

function pseudoHeader(path: PacketPath, vrrpLength: number): Uint8Array {
  const src = addressBytesShared(path.source);
  const dst = addressBytesShared(path.destination);
  if (path.family === 4) {
    // RFC 768 form: source, destination, zero, protocol, length.
    const h = new Uint8Array(12);
    h.set(src, 0);
    h.set(dst, 4);
    h[9] = VRRP_PROTOCOL;
    h[10] = vrrpLength >> 8;
    h[11] = vrrpLength & 0xff;
    return h;
  }
  // RFC 8200 8.1 form: source, destination, 32-bit length, three zero bytes, next header.
  const h = new Uint8Array(40);
  h.set(src, 0);
  h.set(dst, 16);
  new DataView(h.buffer).setUint32(32, vrrpLength);
  h[39] = VRRP_PROTOCOL;
  return h;
}

/** The checksum of a VRRP message whose checksum field is zero. */
export function vrrpChecksum(
  message: Uint8Array,
  version: VrrpVersion,
  path: PacketPath,
  form: ChecksumForm,
) {
  if (version === 2 || (path.family === 4 && form === "plain")) return internetChecksum(message);
  return internetChecksum(pseudoHeader(path, message.length), message);
}

/**
 * vrrpChecksum of a received message as if its checksum field were zero, without copying it: the
 * same sum as internetChecksum over the pseudo-header (if any) and the zeroed message, since the
 * pseudo-header and the 6 bytes before the field are of even length.
 */
function receivedChecksum(message: Uint8Array, version: VrrpVersion, path: PacketPath, form: ChecksumForm) {
  let sum = 0;
  if (!(version === 2 || (path.family === 4 && form === "plain"))) {
    const h = pseudoHeader(path, message.length);
    for (let i = 0; i < h.length; i += 2) sum += (h[i]! << 8) | h[i + 1]!;
  }
  let i = 0;
  for (; i + 1 < message.length; i += 2) if (i !== 6) sum += (message[i]! << 8) | message[i + 1]!;
  if (i < message.length) sum += message[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function passwordBytes(password: string): Uint8Array {
  // keepalived sends up to 8 bytes, NUL padded.
  const out = new Uint8Array(V2_AUTH_DATA_LENGTH);
  out.set(Buffer.from(password, "utf8").subarray(0, V2_AUTH_DATA_LENGTH));
  return out;
}

/** Encodes an advertisement; throws AdvertEncodeError on values the wire cannot carry. */
export function encodeAdvert(advert: Advert, path: PacketPath, form: ChecksumForm = "pseudo-header"): Buffer {
  const { version, vrid, priority, intervalCs, addresses } = advert;
  const fail = (msg: string): never => {
    throw new AdvertEncodeError(msg);
  };
  if (version !== 2 && version !== 3) fail(`version must be 2 or 3, got ${String(version)}`);
  if (version === 2 && path.family !== 4) fail("VRRPv2 is defined for IPv4 only");
  if (!Number.isInteger(vrid) || vrid < 1 || vrid > 255) fail(`vrid must be 1..255, got ${vrid}`);
  if (!Number.isInteger(priority) || priority < 0 || priority > 255)
    fail(`priority must be 0..255, got ${priority}`);
  if (addresses.length < 1 || addresses.length > 255)
    fail(`1..255 addresses needed, got ${addresses.length}`);
  if (version === 3 && (!Number.isInteger(intervalCs) || intervalCs < 1 || intervalCs > 0xfff))
    fail(`v3 interval must be 1..4095 centiseconds, got ${intervalCs}`);
  if (version === 2 && (intervalCs % 100 !== 0 || intervalCs < 100 || intervalCs > 25500))
    fail(`v2 interval must be whole seconds 1..255, got ${intervalCs} cs`);

  const alen = addressLength(path.family);
  const authLength = version === 2 ? V2_AUTH_DATA_LENGTH : 0;
  const buf = Buffer.alloc(HEADER_LENGTH + addresses.length * alen + authLength);
  buf[0] = (version << 4) | ADVERTISEMENT_TYPE;
  buf[1] = vrid;
  buf[2] = priority;
  buf[3] = addresses.length;
  if (version === 2) {
    const auth = advert.auth ?? { type: "none" };
    buf[4] = auth.type === "pass" ? AUTH_PASS : AUTH_NONE;
    buf[5] = intervalCs / 100;
    if (auth.type === "pass") buf.set(passwordBytes(auth.password), HEADER_LENGTH + addresses.length * alen);
  } else {
    buf.writeUInt16BE(intervalCs & 0x0fff, 4); // the top 4 bits are reserved and sent as zero
  }
  addresses.forEach((a, i) => {
    let bytes: Uint8Array;
    try {
      bytes = addressToBytes(a);
    } catch {
      return fail(`invalid address ${a}`);
    }
    if (bytes.length !== alen) fail(`address ${a} is not IPv${path.family}`);
    buf.set(bytes, HEADER_LENGTH + i * alen);
  });
  buf.writeUInt16BE(vrrpChecksum(buf, version, path, form), 6);
  return buf;
}

function reject(reason: DecodeRejection, detail: string): DecodeResult {
  return { ok: false, reason, detail };
}

/**
 * Decodes a VRRP message (the IP payload). For v3 over IPv4 both checksum forms are accepted and the
 * one that matched is reported. Never throws.
 */
export function decodeAdvert(msg: Uint8Array, path: PacketPath): DecodeResult {
  if (msg.length < HEADER_LENGTH) return reject("too-short", `${msg.length} bytes`);
  const buf = Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
  const version = buf[0]! >> 4;
  const type = buf[0]! & 0x0f;
  if (version !== 2 && version !== 3) return reject("bad-version", `version ${version}`);
  if (type !== ADVERTISEMENT_TYPE) return reject("bad-type", `type ${type}`);
  if (version === 2 && path.family !== 4) return reject("v2-over-ipv6", "VRRPv2 is IPv4 only");
  const vrid = buf[1]!;
  if (vrid === 0) return reject("bad-vrid", "vrid 0");
  const priority = buf[2]!;
  const count = buf[3]!;
  if (count === 0) return reject("bad-address-count", "no addresses");
  const alen = addressLength(path.family);
  const authLength = version === 2 ? V2_AUTH_DATA_LENGTH : 0;
  const expected = HEADER_LENGTH + count * alen + authLength;
  if (buf.length !== expected)
    return reject("bad-length", `${buf.length} bytes for ${count} addresses (expected ${expected})`);

  let intervalCs: number;
  let auth: V2Auth | undefined;
  if (version === 2) {
    const authType = buf[4]!;
    intervalCs = buf[5]! * 100;
    if (authType === AUTH_NONE) auth = { type: "none" };
    else if (authType === AUTH_PASS) {
      const data = buf.subarray(expected - V2_AUTH_DATA_LENGTH, expected);
      const end = data.indexOf(0);
      auth = { type: "pass", password: data.subarray(0, end === -1 ? data.length : end).toString("utf8") };
    } else
      return reject(
        "bad-auth-type",
        authType === AUTH_AH ? "IP AH authentication is not supported" : `auth type ${authType}`,
      );
  } else {
    intervalCs = buf.readUInt16BE(4) & 0x0fff;
  }
  if (intervalCs === 0) return reject("bad-interval", "advertisement interval 0");

  const received = buf.readUInt16BE(6);
  // v2 never has a pseudo-header; v3 over IPv4 may come in either form.
  let checksumForm: ChecksumForm = version === 2 ? "plain" : "pseudo-header";
  if (receivedChecksum(buf, version, path, checksumForm) !== received) {
    if (version === 3 && path.family === 4 && receivedChecksum(buf, version, path, "plain") === received)
      checksumForm = "plain";
    else return reject("bad-checksum", `checksum 0x${received.toString(16).padStart(4, "0")}`);
  }

  const addresses: string[] = [];
  for (let i = 0; i < count; i++)
    addresses.push(bytesToAddress(buf.subarray(HEADER_LENGTH + i * alen, HEADER_LENGTH + (i + 1) * alen)));
  const advert: Advert = { version, vrid, priority, intervalCs, addresses };
  if (auth) advert.auth = auth;
  return { ok: true, advert, checksumForm };
}
