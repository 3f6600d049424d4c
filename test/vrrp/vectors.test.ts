// The codec against VRRP packets captured from keepalived 2.2.7 (../shared/vectors): each decodes
// to the fields its README documents and re-encodes byte for byte.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { canonicalAddress } from "../../src/base/ip.ts";
import { parseIpv4Packet } from "../../src/vrrp/ip-header.ts";
import { decodeAdvert, encodeAdvert, type Advert, type PacketPath } from "../../src/vrrp/packet.ts";
import { parseEthernet, parseIpv6, readPcap } from "../support/pcap.ts";

const VECTORS = join(import.meta.dirname, "../vectors"); // copied from ../shared/vectors
if (!existsSync(VECTORS)) throw new Error(`reference vectors not found at ${VECTORS}`);

interface Captured {
  path: PacketPath;
  ttl: number;
  payload: Buffer;
}

function capturedVrrp(file: string): Captured {
  const [record] = readPcap(join(VECTORS, file));
  const eth = parseEthernet(record!.data);
  if (eth.etherType === 0x0800) {
    const ip = parseIpv4Packet(eth.payload);
    if (!ip.ok) throw new Error(`${file}: ${ip.detail}`);
    const { source, destination, ttl, payload } = ip.packet;
    return { path: { family: 4, source, destination }, ttl, payload: Buffer.from(payload) };
  }
  const ip = parseIpv6(eth.payload);
  expect(ip.nextHeader).toBe(112);
  return {
    path: { family: 6, source: canonicalAddress(ip.source), destination: canonicalAddress(ip.destination) },
    ttl: ip.hopLimit,
    payload: Buffer.from(ip.payload),
  };
}

const v4 = ["198.18.0.50"];
const v6 = ["2001:db8::50"];
const cases: { file: string; advert: Advert; ttl: number; source: string; destination: string }[] = [
  {
    file: "golden-v3dual-ipv4-advert.pcap",
    advert: { version: 3, vrid: 51, priority: 150, intervalCs: 100, addresses: v4 },
    ttl: 255,
    source: "198.18.0.11",
    destination: "224.0.0.18",
  },
  {
    file: "golden-v3dual-ipv4-prio0.pcap",
    advert: { version: 3, vrid: 51, priority: 0, intervalCs: 100, addresses: v4 },
    ttl: 255,
    source: "198.18.0.11",
    destination: "224.0.0.18",
  },
  {
    file: "golden-v3dual-ipv6-advert.pcap",
    advert: { version: 3, vrid: 52, priority: 150, intervalCs: 100, addresses: v6 },
    ttl: 255,
    source: "fe80::ff:fe00:11",
    destination: "ff02::12",
  },
  {
    file: "golden-v3dual-ipv6-prio0.pcap",
    advert: { version: 3, vrid: 52, priority: 0, intervalCs: 100, addresses: v6 },
    ttl: 255,
    source: "fe80::ff:fe00:11",
    destination: "ff02::12",
  },
  {
    file: "golden-v2auth-ipv4-advert.pcap",
    advert: {
      version: 2,
      vrid: 51,
      priority: 150,
      intervalCs: 100,
      addresses: v4,
      auth: { type: "pass", password: "secret" },
    },
    ttl: 255,
    source: "198.18.0.11",
    destination: "224.0.0.18",
  },
  {
    file: "golden-v2auth-ipv4-prio0.pcap",
    advert: {
      version: 2,
      vrid: 51,
      priority: 0,
      intervalCs: 100,
      addresses: v4,
      auth: { type: "pass", password: "secret" },
    },
    ttl: 255,
    source: "198.18.0.11",
    destination: "224.0.0.18",
  },
  {
    file: "golden-v3uni-ipv4-advert.pcap",
    advert: { version: 3, vrid: 51, priority: 150, intervalCs: 100, addresses: v4 },
    ttl: 255,
    source: "198.18.0.11",
    destination: "198.18.0.12",
  },
  {
    file: "golden-v3uni-ipv6-advert.pcap",
    advert: { version: 3, vrid: 52, priority: 150, intervalCs: 100, addresses: v6 },
    ttl: 64, // keepalived's IPv6 unicast adverts leave with the default hop limit
    source: "2001:db8::11",
    destination: "2001:db8::12",
  },
  {
    file: "golden-v3fast6-ipv4-advert.pcap",
    advert: { version: 3, vrid: 51, priority: 150, intervalCs: 10, addresses: v4 },
    ttl: 255,
    source: "198.18.0.11",
    destination: "224.0.0.18",
  },
  {
    file: "golden-v3fast6-ipv6-advert.pcap",
    advert: { version: 3, vrid: 52, priority: 150, intervalCs: 10, addresses: v6 },
    ttl: 255,
    source: "fe80::ff:fe00:11",
    destination: "ff02::12",
  },
];

describe("keepalived 2.2.7 reference adverts", () => {
  for (const c of cases) {
    describe(c.file, () => {
      const captured = capturedVrrp(c.file);

      it("travels as documented", () => {
        expect(captured.path.source).toBe(c.source);
        expect(captured.path.destination).toBe(c.destination);
        expect(captured.ttl).toBe(c.ttl);
      });

      it("decodes to the documented fields, with keepalived's checksum form", () => {
        const result = decodeAdvert(captured.payload, captured.path);
        expect(result).toEqual({
          ok: true,
          advert: c.advert,
          checksumForm: c.advert.version === 2 ? "plain" : "pseudo-header",
        });
      });

      it("re-encodes byte for byte", () => {
        expect(encodeAdvert(c.advert, captured.path).equals(captured.payload)).toBe(true);
      });
    });
  }

  it("the RFC 9568 IPv4 form of the same advert differs only in its checksum and still decodes", () => {
    const captured = capturedVrrp("golden-v3dual-ipv4-advert.pcap");
    const plain = encodeAdvert(cases[0]!.advert, captured.path, "plain");
    expect(plain.readUInt16BE(6)).not.toBe(captured.payload.readUInt16BE(6));
    expect(plain.subarray(8).equals(captured.payload.subarray(8))).toBe(true);
    expect(decodeAdvert(plain, captured.path)).toMatchObject({ ok: true, checksumForm: "plain" });
  });

  it("a unicast advert's checksum covers the unicast destination, not the multicast group", () => {
    const captured = capturedVrrp("golden-v3uni-ipv4-advert.pcap");
    const asMulticast = { ...captured.path, destination: "224.0.0.18" };
    expect(decodeAdvert(captured.payload, asMulticast)).toMatchObject({ ok: false, reason: "bad-checksum" });
  });
});
