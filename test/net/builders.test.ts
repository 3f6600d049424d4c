// The byte layouts the agent puts on the wire or hands the kernel: announcements byte-for-byte
// against keepalived's captures, netlink and ancillary-data codecs against their C layouts, and
// decoders that never throw on what the kernel (or a bug) hands them.
import fc from "fast-check";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { garpFrame, unsolicitedNa } from "../../src/net/announce.ts";
import {
  cmsg,
  IP_PKTINFO,
  IPPROTO_IP,
  ipMreqn,
  ipPktinfo,
  ipv6Mreq,
  parseCmsgs,
  sockaddrIn6,
} from "../../src/net/linux.ts";
import {
  addressBody,
  attr,
  cacheInfo,
  decodeMessages,
  IFAPROT_VIPKEEPER,
  INFINITY_LIFE_TIME,
  encodeMessage,
  parseAddress,
  parseAttrs,
  parseLink,
  RTM_NEWADDR,
} from "../../src/net/netlink.ts";
import { parseEthernet, parseIpv6, readPcap } from "../support/pcap.ts";

const VECTORS = join(import.meta.dirname, "../vectors");
const MAC_N2 = Uint8Array.from([2, 0, 0, 0, 0, 0x12]);

describe("announcements match keepalived's", () => {
  it("gratuitous ARP: the frame keepalived sent, byte for byte", () => {
    const [captured] = readPcap(join(VECTORS, "golden-v3dual-ipv4-garp.pcap"));
    // Captured frames may carry Ethernet padding past the 42 bytes of an ARP frame.
    expect(garpFrame(MAC_N2, "198.18.0.50").toString("hex")).toBe(
      captured!.data.subarray(0, 42).toString("hex"),
    );
  });

  it("unsolicited neighbour advertisement: keepalived's ICMPv6 message, the kernel's checksum aside", () => {
    const [captured] = readPcap(join(VECTORS, "golden-v3dual-ipv6-unsol-na.pcap"));
    const ip = parseIpv6(parseEthernet(captured!.data).payload);
    expect(ip.hopLimit).toBe(255); // what the Announcer sets on its socket
    const expected = Buffer.from(ip.payload);
    expected.writeUInt16BE(0, 2); // the checksum: filled by the kernel on send
    expect(unsolicitedNa(MAC_N2, "2001:db8::50").toString("hex")).toBe(expected.toString("hex"));
  });
});

describe("rtnetlink messages", () => {
  it("an address request is struct ifaddrmsg then IFA_LOCAL, IFA_ADDRESS and IFA_LABEL, 4-byte aligned", () => {
    const body = addressBody({
      ifindex: 7,
      family: 4,
      address: "198.18.0.50",
      prefixLength: 24,
      label: "eth0:vip",
    });
    expect([...body.subarray(0, 8)]).toEqual([2, 24, 0, 0, 7, 0, 0, 0]);
    const attrs = parseAttrs(body.subarray(8));
    expect([...attrs.get(2)!]).toEqual([198, 18, 0, 50]); // IFA_LOCAL
    expect([...attrs.get(1)!]).toEqual([198, 18, 0, 50]); // IFA_ADDRESS
    expect(attrs.get(3)!.toString()).toBe("eth0:vip\0"); // IFA_LABEL
    expect(body.length % 4).toBe(0);
  });

  it("IPv6: no DAD flag asked for, and no label (the kernel would drop it silently)", () => {
    const body = addressBody({
      ifindex: 3,
      family: 6,
      address: "2001:db8::50",
      prefixLength: 64,
      nodad: true,
      label: "x",
    });
    expect(body[0]).toBe(10);
    expect(body[2]).toBe(0x02);
    expect(parseAttrs(body.subarray(8)).has(3)).toBe(false);
  });

  it("a finite lifetime is IFA_CACHEINFO (preferred = valid, stamps 0) and the mark IFA_PROTO, one byte padded", () => {
    for (const family of [4, 6] as const) {
      const body = addressBody({
        ifindex: 7,
        family,
        address: family === 4 ? "198.18.0.50" : "2001:db8::50",
        prefixLength: family === 4 ? 24 : 64,
        lifetimeSec: 2,
        proto: IFAPROT_VIPKEEPER,
      });
      const attrs = parseAttrs(body.subarray(8));
      // struct ifa_cacheinfo {u32 ifa_prefered; u32 ifa_valid; u32 cstamp; u32 tstamp}: an IPv6
      // address past its preferred lifetime would be deprecated, so preferred is never shorter.
      expect(attrs.get(6)!.toString("hex")).toBe("02000000" + "02000000" + "00000000" + "00000000");
      expect([...attrs.get(11)!]).toEqual([112]); // IFA_PROTO: VRRP's protocol number
      expect(body.length % 4).toBe(0);
      // The attribute headers: cacheinfo is 4 + 16 bytes, proto 4 + 1 (then 3 bytes of padding).
      const raw = body.subarray(body.length - 28);
      expect([raw.readUInt16LE(0), raw.readUInt16LE(2)]).toEqual([20, 6]);
      expect([raw.readUInt16LE(20), raw.readUInt16LE(22)]).toEqual([5, 11]);
      // What the kernel reports back parses to the same lifetime and mark.
      const parsed = parseAddress({ type: RTM_NEWADDR, flags: 0, seq: 0, pid: 0, payload: body });
      expect(parsed).toMatchObject({ validSec: 2, proto: 112 });
    }
    // Without a lifetime: no IFA_CACHEINFO (the kernel makes the address permanent).
    const permanent = addressBody({ ifindex: 7, family: 4, address: "198.18.0.50", prefixLength: 24 });
    expect(parseAttrs(permanent.subarray(8)).has(6)).toBe(false);
    expect(cacheInfo(3).readUInt32LE(0)).toBe(3);
  });

  it("a permanent address as the kernel reports it (valid INFINITY_LIFE_TIME) has no validSec", () => {
    const body = Buffer.concat([
      addressBody({ ifindex: 2, family: 4, address: "198.18.0.1", prefixLength: 24 }),
      attr(6, Buffer.from("ffffffffffffffff0000000000000000", "hex")),
    ]);
    expect(parseAddress({ type: RTM_NEWADDR, flags: 0, seq: 0, pid: 0, payload: body })?.validSec).toBe(
      undefined,
    );
    expect(INFINITY_LIFE_TIME).toBe(0xffffffff);
  });

  it("messages round-trip through encode and decode, and parse back as the address they carry", () => {
    const body = addressBody({ ifindex: 2, family: 6, address: "2001:db8::50", prefixLength: 64 });
    const two = Buffer.concat([
      encodeMessage(RTM_NEWADDR, 0, 1, body),
      encodeMessage(RTM_NEWADDR, 0, 2, body),
    ]);
    const { messages, malformed } = decodeMessages(two);
    expect(malformed).toBe(false);
    expect(messages.map((m) => m.seq)).toEqual([1, 2]);
    expect(parseAddress(messages[0]!)).toMatchObject({
      ifindex: 2,
      family: 6,
      address: "2001:db8::50",
      prefixLength: 64,
    });
  });

  it("a truncated datagram is reported as malformed, with the whole messages before it kept", () => {
    const m = encodeMessage(
      RTM_NEWADDR,
      0,
      9,
      addressBody({ ifindex: 2, family: 4, address: "198.18.0.1", prefixLength: 24 }),
    );
    const { messages, malformed } = decodeMessages(Buffer.concat([m, m.subarray(0, 20)]));
    expect(messages).toHaveLength(1);
    expect(malformed).toBe(true);
  });

  it("decoders never throw on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const b = Buffer.from(bytes);
        for (const msg of decodeMessages(b).messages) {
          parseAddress(msg);
          parseLink(msg);
        }
        parseAttrs(b);
        parseCmsgs(b);
      }),
    );
  });
});

describe("socket structures", () => {
  it("ancillary data: struct cmsghdr (64-bit length, level, type), 8-byte aligned, and back", () => {
    const c = ipPktinfo("198.18.0.11", 4);
    expect(c.readBigUInt64LE(0)).toBe(16n + 12n);
    expect(c.readInt32LE(8)).toBe(IPPROTO_IP);
    expect(c.readInt32LE(12)).toBe(IP_PKTINFO);
    expect(c.length).toBe(32);
    const parsed = parseCmsgs(Buffer.concat([c, cmsg(41, 52, Buffer.from([255, 0, 0, 0]))]));
    expect(parsed.map((p) => [p.level, p.type, p.data.length])).toEqual([
      [0, 8, 12],
      [41, 52, 4],
    ]);
    expect(parsed[1]!.data.readInt32LE(0)).toBe(255);
  });

  it("multicast membership requests: ip_mreqn and ipv6_mreq", () => {
    expect([...ipMreqn("224.0.0.18", 5)]).toEqual([224, 0, 0, 18, 0, 0, 0, 0, 5, 0, 0, 0]);
    const m6 = ipv6Mreq("ff02::12", 5);
    expect(m6.subarray(0, 16).toString("hex")).toBe("ff020000000000000000000000000012");
    expect(m6.readUInt32LE(16)).toBe(5);
  });

  it("sockaddr_in6 carries the scope of a link-local destination", () => {
    const s = sockaddrIn6("fe80::ff:fe00:12", 3);
    expect(s.readUInt16LE(0)).toBe(10);
    expect(s.readUInt32LE(24)).toBe(3);
  });
});
