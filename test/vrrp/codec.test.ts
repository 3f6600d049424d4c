import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { internetChecksum } from "../../src/vrrp/checksum.ts";
import { parseIpv4Packet } from "../../src/vrrp/ip-header.ts";
import {
  AdvertEncodeError,
  decodeAdvert,
  encodeAdvert,
  vrrpChecksum,
  type Advert,
  type ChecksumForm,
  type PacketPath,
} from "../../src/vrrp/packet.ts";

const path4: PacketPath = { family: 4, source: "198.18.0.11", destination: "224.0.0.18" };
const path6: PacketPath = { family: 6, source: "fe80::11", destination: "ff02::12" };
const base3: Advert = { version: 3, vrid: 7, priority: 100, intervalCs: 100, addresses: ["198.18.0.50"] };
const base2: Advert = { ...base3, version: 2, auth: { type: "none" } };

const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join("."));
const ipv6 = fc
  .array(fc.nat(0xffff), { minLength: 8, maxLength: 8 })
  .map((g) => g.map((x) => x.toString(16)).join(":"))
  .map((a) => new URL(`http://[${a}]`).hostname.slice(1, -1)); // canonical compressed form

interface Case {
  advert: Advert;
  path: PacketPath;
  form: ChecksumForm;
}

const anyCase: fc.Arbitrary<Case> = fc.oneof(
  // v3 over IPv4, either checksum form
  fc.record({
    advert: fc.record({
      version: fc.constant(3 as const),
      vrid: fc.integer({ min: 1, max: 255 }),
      priority: fc.integer({ min: 0, max: 255 }),
      intervalCs: fc.integer({ min: 1, max: 4095 }),
      addresses: fc.uniqueArray(ipv4, { minLength: 1, maxLength: 20 }),
    }),
    path: fc.record({ family: fc.constant(4 as const), source: ipv4, destination: ipv4 }),
    form: fc.constantFrom<ChecksumForm>("pseudo-header", "plain"),
  }),
  // v3 over IPv6
  fc.record({
    advert: fc.record({
      version: fc.constant(3 as const),
      vrid: fc.integer({ min: 1, max: 255 }),
      priority: fc.integer({ min: 0, max: 255 }),
      intervalCs: fc.integer({ min: 1, max: 4095 }),
      addresses: fc.uniqueArray(ipv6, { minLength: 1, maxLength: 10 }),
    }),
    path: fc.record({ family: fc.constant(6 as const), source: ipv6, destination: ipv6 }),
    form: fc.constant<ChecksumForm>("pseudo-header"),
  }),
  // v2 over IPv4, with or without a password
  fc.record({
    advert: fc.record({
      version: fc.constant(2 as const),
      vrid: fc.integer({ min: 1, max: 255 }),
      priority: fc.integer({ min: 0, max: 255 }),
      intervalCs: fc.integer({ min: 1, max: 255 }).map((s) => s * 100),
      addresses: fc.uniqueArray(ipv4, { minLength: 1, maxLength: 20 }),
      auth: fc.oneof(
        fc.constant({ type: "none" as const }),
        fc.record({
          type: fc.constant("pass" as const),
          password: fc.string({
            unit: fc.constantFrom(..."abcdefghXYZ0123456789!"),
            minLength: 1,
            maxLength: 8,
          }),
        }),
      ),
    }),
    path: fc.record({ family: fc.constant(4 as const), source: ipv4, destination: ipv4 }),
    form: fc.constant<ChecksumForm>("plain"),
  }),
);

describe("Internet checksum", () => {
  it("matches the RFC 1071 worked example", () => {
    // RFC 1071 section 3: the one's complement sum of 00 01 f2 03 f4 f5 f6 f7 is ddf2.
    expect(internetChecksum(Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]))).toBe(
      ~0xddf2 & 0xffff,
    );
  });

  it("gives the same result however the bytes are split", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(64), (bytes, cut) => {
        const at = Math.min(cut, bytes.length);
        expect(internetChecksum(bytes.subarray(0, at), bytes.subarray(at))).toBe(internetChecksum(bytes));
      }),
    );
  });
});

describe("VRRP codec", () => {
  it("round-trips every valid advert, v2 and v3, IPv4 and IPv6, both checksum forms", () => {
    fc.assert(
      fc.property(anyCase, ({ advert, path, form }) => {
        const wire = encodeAdvert(advert, path, form);
        const decoded = decodeAdvert(wire, path);
        expect(decoded).toEqual({ ok: true, advert, checksumForm: advert.version === 2 ? "plain" : form });
      }),
    );
  });

  it("never throws on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, six) => {
        const result = decodeAdvert(bytes, six ? path6 : path4);
        expect(typeof result.ok).toBe("boolean");
      }),
      { numRuns: 2000 },
    );
  });

  it("rejects any single flipped bit", () => {
    fc.assert(
      fc.property(anyCase, fc.nat(), (c, pick) => {
        const wire = encodeAdvert(c.advert, c.path, c.form);
        const bit = pick % (wire.length * 8);
        wire[bit >> 3]! ^= 1 << (bit & 7);
        expect(decodeAdvert(wire, c.path).ok).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it("rejects any truncation or extension", () => {
    fc.assert(
      fc.property(anyCase, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 8 }), (c, cut, extra) => {
        const wire = encodeAdvert(c.advert, c.path, c.form);
        expect(decodeAdvert(wire.subarray(0, cut % wire.length), c.path).ok).toBe(false);
        expect(decodeAdvert(Buffer.concat([wire, extra]), c.path).ok).toBe(false);
      }),
    );
  });

  it("a header field set to any value, checksum made right: accepted as the bytes say, or rejected with a reason", () => {
    // Byte offsets of version/type, VRID, priority, count, auth type or interval (v2) / interval (v3).
    fc.assert(
      fc.property(anyCase, fc.constantFrom(0, 1, 2, 3, 4, 5), fc.nat(255), (c, at, value) => {
        const wire = encodeAdvert(c.advert, c.path, c.form);
        wire[at] = value;
        wire.writeUInt16BE(0, 6);
        const version = wire[0]! >> 4 === 2 ? 2 : 3;
        wire.writeUInt16BE(vrrpChecksum(wire, version, c.path, c.form), 6);
        const result = decodeAdvert(wire, c.path);
        if (!result.ok) {
          expect(result.detail.length).toBeGreaterThan(0);
          return;
        }
        const alen = c.path.family === 4 ? 4 : 16;
        expect(result.advert).toMatchObject({
          version: wire[0]! >> 4,
          vrid: wire[1],
          priority: wire[2],
          intervalCs: result.advert.version === 3 ? wire.readUInt16BE(4) & 0x0fff : wire[5]! * 100,
        });
        expect(wire[0]! & 0x0f).toBe(1);
        expect(wire.length).toBe(8 + wire[3]! * alen + (result.advert.version === 2 ? 8 : 0));
      }),
      { numRuns: 1000 },
    );
  });

  it("rejects an advert checked against the wrong source or destination (v3 pseudo-header)", () => {
    const wire = encodeAdvert(base3, path4);
    expect(decodeAdvert(wire, { ...path4, source: "198.18.0.12" })).toMatchObject({ reason: "bad-checksum" });
    const wire6 = encodeAdvert({ ...base3, addresses: ["2001:db8::50"] }, path6);
    expect(decodeAdvert(wire6, { ...path6, destination: "ff02::1" })).toMatchObject({
      reason: "bad-checksum",
    });
  });

  it("keeps v2's checksum free of the pseudo-header", () => {
    const wire = encodeAdvert(base2, path4);
    expect(decodeAdvert(wire, { ...path4, source: "198.18.1.1", destination: "198.18.0.12" }).ok).toBe(true);
  });

  // A valid checksum without pseudo-header: v2's form, and v3's RFC 9568 IPv4 form, which decoding accepts.
  function withChecksum(bytes: number[]): Buffer {
    const b = Buffer.from(bytes);
    b.writeUInt16BE(0, 6);
    b.writeUInt16BE(internetChecksum(b), 6);
    return b;
  }

  const rejections: [string, Buffer, PacketPath, string][] = [
    ["too-short", Buffer.from([0x31, 1, 100]), path4, "too-short"],
    ["version 1", withChecksum([0x11, 1, 100, 1, 0, 100, 0, 0, 198, 18, 0, 50]), path4, "bad-version"],
    ["type 2", withChecksum([0x32, 1, 100, 1, 0, 100, 0, 0, 198, 18, 0, 50]), path4, "bad-type"],
    ["vrid 0", withChecksum([0x31, 0, 100, 1, 0, 100, 0, 0, 198, 18, 0, 50]), path4, "bad-vrid"],
    ["no addresses", withChecksum([0x31, 1, 100, 0, 0, 100, 0, 0]), path4, "bad-address-count"],
    [
      "count beyond length",
      withChecksum([0x31, 1, 100, 2, 0, 100, 0, 0, 198, 18, 0, 50]),
      path4,
      "bad-length",
    ],
    ["interval 0", withChecksum([0x31, 1, 100, 1, 0, 0, 0, 0, 198, 18, 0, 50]), path4, "bad-interval"],
    ["v2 over IPv6", Buffer.from([0x21, 1, 100, 1, 0, 1, 0, 0]), path6, "v2-over-ipv6"],
    [
      "v2 with IP AH auth",
      withChecksum([0x21, 1, 100, 1, 2, 1, 0, 0, 198, 18, 0, 50, 0, 0, 0, 0, 0, 0, 0, 0]),
      path4,
      "bad-auth-type",
    ],
    [
      "bad checksum",
      Buffer.from([0x31, 1, 100, 1, 0, 100, 0x12, 0x34, 198, 18, 0, 50]),
      path4,
      "bad-checksum",
    ],
  ];
  for (const [name, bytes, path, reason] of rejections) {
    it(`names the reason for: ${name}`, () => {
      const result = decodeAdvert(bytes, path);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.reason).toBe(reason);
        expect(result.detail.length).toBeGreaterThan(0);
      }
    });
  }

  it("ignores the reserved bits above the v3 interval", () => {
    const wire = encodeAdvert(base3, path4, "plain");
    wire[4]! |= 0xf0;
    wire.writeUInt16BE(0, 6);
    wire.writeUInt16BE(internetChecksum(wire), 6);
    expect(decodeAdvert(wire, path4)).toMatchObject({ ok: true, advert: { intervalCs: 100 } });
  });

  it("carries v2 passwords as 8 NUL-padded bytes, cut at 8", () => {
    const wire = encodeAdvert({ ...base2, auth: { type: "pass", password: "longer-than-8" } }, path4);
    expect(wire.subarray(12).toString("latin1")).toBe("longer-t");
    expect(decodeAdvert(wire, path4)).toMatchObject({
      advert: { auth: { type: "pass", password: "longer-t" } },
    });
  });

  const encodeErrors: [string, Advert, PacketPath][] = [
    ["v2 over IPv6", { ...base2, addresses: ["2001:db8::1"] }, path6],
    ["vrid 0", { ...base3, vrid: 0 }, path4],
    ["vrid 256", { ...base3, vrid: 256 }, path4],
    ["priority 256", { ...base3, priority: 256 }, path4],
    ["no addresses", { ...base3, addresses: [] }, path4],
    ["v3 interval 0", { ...base3, intervalCs: 0 }, path4],
    ["v3 interval 4096 cs", { ...base3, intervalCs: 4096 }, path4],
    ["v2 interval 1.5 s", { ...base2, intervalCs: 150 }, path4],
    ["IPv6 address in an IPv4 advert", { ...base3, addresses: ["2001:db8::1"] }, path4],
    ["not an address", { ...base3, addresses: ["198.18.0.500"] }, path4],
  ];
  for (const [name, advert, path] of encodeErrors) {
    it(`refuses to encode ${name}`, () => {
      expect(() => encodeAdvert(advert, path)).toThrow(AdvertEncodeError);
    });
  }
});

describe("IPv4 header", () => {
  const packet = (patch: (b: Buffer) => void = () => {}) => {
    const payload = encodeAdvert(base3, path4);
    const b = Buffer.alloc(20 + payload.length);
    b[0] = 0x45;
    b.writeUInt16BE(b.length, 2);
    b[8] = 255;
    b[9] = 112;
    Buffer.from([198, 18, 0, 11, 224, 0, 0, 18]).copy(b, 12);
    payload.copy(b, 20);
    patch(b);
    return b;
  };

  it("gives TTL, addresses and the VRRP payload", () => {
    const r = parseIpv4Packet(packet());
    expect(r).toMatchObject({
      ok: true,
      packet: { ttl: 255, source: "198.18.0.11", destination: "224.0.0.18" },
    });
    if (r.ok) expect(decodeAdvert(r.packet.payload, path4).ok).toBe(true);
  });

  it("skips IP options", () => {
    const withOptions = packet();
    const b = Buffer.concat([
      withOptions.subarray(0, 20),
      Buffer.from([1, 1, 1, 0]),
      withOptions.subarray(20),
    ]);
    b[0] = 0x46;
    b.writeUInt16BE(b.length, 2);
    const r = parseIpv4Packet(b);
    expect(r.ok && decodeAdvert(r.packet.payload, path4).ok).toBe(true);
  });

  it.each([
    ["short", (b: Buffer) => b.subarray(0, 10), "bad-ip-header"],
    ["IPv6 version nibble", (b: Buffer) => ((b[0] = 0x65), b), "bad-ip-header"],
    ["IHL 4", (b: Buffer) => ((b[0] = 0x44), b), "bad-ip-header"],
    ["total length beyond data", (b: Buffer) => (b.writeUInt16BE(b.length + 1, 2), b), "bad-ip-header"],
    ["fragment", (b: Buffer) => ((b[6] = 0x20), b), "fragment"],
    ["protocol 6", (b: Buffer) => ((b[9] = 6), b), "not-vrrp"],
  ])("rejects %s", (_name, mutate, reason) => {
    expect(parseIpv4Packet(mutate(packet()))).toMatchObject({ ok: false, reason });
  });

  it("never throws on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (b) => typeof parseIpv4Packet(b).ok === "boolean"),
    );
  });
});
