// The IPVS generic-netlink encoder and decoder against test/vectors/golden-ipvs-netlink.pcap: what
// ipvsadm and keepalived sent to program the same kind of service (family id 28 in that boot), and
// what the kernel answered to their dumps.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { attr, decodeMessages, parseAttrs, type NetlinkMessage } from "../../src/net/netlink.ts";
import {
  destAttr,
  genlMessage,
  getFamilyAttrs,
  GENL_ID_CTRL,
  CTRL_CMD_GETFAMILY,
  IPVS_CMD,
  decodeDest,
  decodeService,
  parseDest,
  parseFamilyId,
  parseService,
  serviceAttr,
  serviceIdAttr,
  type IpvsDest,
  type IpvsService,
} from "../../src/lb/ipvs-netlink.ts";

/** Frames of a pcap of link type NETLINK (cooked header of 16 bytes, then netlink messages). */
function readFrames(path: string): NetlinkMessage[][] {
  const b = readFileSync(path);
  expect(b.readUInt32LE(0)).toBe(0xa1b2c3d4);
  expect(b.readUInt32LE(20)).toBe(253); // LINKTYPE_NETLINK
  const frames: NetlinkMessage[][] = [];
  for (let off = 24; off + 16 <= b.length;) {
    const incl = b.readUInt32LE(off + 8);
    frames.push(decodeMessages(b.subarray(off + 16 + 16, off + 16 + incl)).messages);
    off += 16 + incl;
  }
  return frames;
}

const frames = readFrames(new URL("../vectors/golden-ipvs-netlink.pcap", import.meta.url).pathname);
const FAMILY = 28;
const frame = (n: number) => frames[n - 1]![0]!;
/** The generic-netlink payload (genlmsghdr + attributes) of the message we would send. */
const ours = (cmd: number, attrs: Buffer[]) => genlMessage(FAMILY, 0, 0, cmd, attrs).subarray(16);

const svc = (scheduler: string): IpvsService => ({
  id: { family: 4, protocol: "tcp", address: "198.18.1.50", port: 80 },
  scheduler,
  flags: 0,
  timeout: 0,
  prefixLength: 32,
});
const dest = (address: string, extra: Partial<IpvsDest> = {}): IpvsDest => ({
  family: 4,
  address,
  port: 80,
  forwarding: "nat",
  weight: 1,
  upperThreshold: 0,
  lowerThreshold: 0,
  ...extra,
});

/** ipvsadm also sends the tunnel attributes (13-15) in every dest; keepalived and we send them only for tunnels. */
function withoutTunnelAttrs(payload: Buffer): Buffer {
  const top = parseAttrs(payload.subarray(4));
  const rebuilt: Buffer[] = [payload.subarray(0, 4)];
  for (const [type, data] of top) {
    if (type !== 2) {
      rebuilt.push(attr(type | 0x8000, data));
      continue;
    }
    const inner: Buffer[] = [];
    for (let off = 0; off + 4 <= data.length;) {
      const len = data.readUInt16LE(off);
      const t = data.readUInt16LE(off + 2);
      if (t < 13 || t > 15) inner.push(data.subarray(off, off + ((len + 3) & ~3)));
      off += (len + 3) & ~3;
    }
    rebuilt.push(attr(type | 0x8000, Buffer.concat(inner)));
  }
  return Buffer.concat(rebuilt);
}

describe("IPVS generic netlink against ipvsadm's and keepalived's messages", () => {
  it("the capture holds the expected commands", () => {
    const cmds = frames
      .flat()
      .filter((m) => m.type === FAMILY && m.flags & 1)
      .map((m) => m.payload[0]);
    expect(cmds).toContain(IPVS_CMD.NEW_SERVICE);
    expect(cmds).toContain(IPVS_CMD.NEW_DEST);
    expect(cmds).toContain(IPVS_CMD.SET_DEST);
    expect(cmds).toContain(IPVS_CMD.DEL_DEST);
    expect(cmds).toContain(IPVS_CMD.DEL_SERVICE);
  });

  it("CTRL_CMD_GETFAMILY request is byte for byte ipvsadm's; the reply gives the family id", () => {
    const req = frame(1);
    expect(req.type).toBe(GENL_ID_CTRL);
    expect(genlMessage(GENL_ID_CTRL, 0, 0, CTRL_CMD_GETFAMILY, getFamilyAttrs("IPVS")).subarray(16)).toEqual(
      req.payload,
    );
    expect(parseFamilyId(frame(2))).toBe(FAMILY);
  });

  it("NEW_SERVICE (rr by ipvsadm, wrr by keepalived) is byte for byte the same", () => {
    expect(ours(IPVS_CMD.NEW_SERVICE, [serviceAttr(svc("rr"))])).toEqual(frame(13).payload);
    expect(ours(IPVS_CMD.NEW_SERVICE, [serviceAttr(svc("wrr"))])).toEqual(frame(126).payload);
  });

  it("NEW_DEST is byte for byte keepalived's (NAT, weights 1 and 2)", () => {
    expect(ours(IPVS_CMD.NEW_DEST, [serviceAttr(svc("wrr")), destAttr(dest("198.18.2.11"))])).toEqual(
      frame(128).payload,
    );
    expect(
      ours(IPVS_CMD.NEW_DEST, [serviceAttr(svc("wrr")), destAttr(dest("198.18.3.12", { weight: 2 }))]),
    ).toEqual(frame(130).payload);
  });

  it("DEL_DEST and DEL_SERVICE are byte for byte keepalived's", () => {
    expect(ours(IPVS_CMD.DEL_DEST, [serviceAttr(svc("wrr")), destAttr(dest("198.18.2.11"))])).toEqual(
      frame(176).payload,
    );
    expect(ours(IPVS_CMD.DEL_SERVICE, [serviceAttr(svc("wrr"))])).toEqual(frame(178).payload);
  });

  it("ipvsadm's dest commands agree except for its tunnel attributes (NEW, SET weight 3, DEL of a DR dest)", () => {
    // ipvsadm -A with no scheduler sends an empty name: compare with the service as it sent it.
    const s = svc("");
    expect(withoutTunnelAttrs(frame(27).payload)).toEqual(
      ours(IPVS_CMD.NEW_DEST, [serviceAttr(s), destAttr(dest("198.18.2.11"))]),
    );
    expect(withoutTunnelAttrs(frame(76).payload)).toEqual(
      ours(IPVS_CMD.SET_DEST, [serviceAttr(s), destAttr(dest("198.18.3.12", { weight: 3 }))]),
    );
    expect(withoutTunnelAttrs(frame(90).payload)).toEqual(
      ours(IPVS_CMD.DEL_DEST, [serviceAttr(s), destAttr(dest("198.18.3.12", { forwarding: "dr" }))]),
    );
  });

  it("GET_DEST names the service as ipvsadm does", () => {
    const req = frame(61);
    expect(ours(IPVS_CMD.GET_DEST, [serviceIdAttr(svc("rr").id)])).toEqual(req.payload);
  });

  it("decodes the kernel's GET_SERVICE and GET_DEST dump replies, statistics included", () => {
    const s = parseService(frame(56));
    expect(s).toMatchObject({
      id: { family: 4, protocol: "tcp", address: "198.18.1.50", port: 80 },
      scheduler: "rr",
      flags: 2, // IP_VS_SVC_F_HASHED
      timeout: 0,
      prefixLength: 32,
      connections: 0,
    });
    expect(parseService(frame(168))).toMatchObject({ scheduler: "wrr", connections: 6, inPackets: 0x27 });
    const d = parseDest(frame(151), 4);
    expect(d).toMatchObject({ address: "198.18.3.12", port: 80, forwarding: "nat", weight: 2 });
    expect(parseDest(frame(62), 4)).toMatchObject({
      address: "198.18.3.12",
      weight: 1,
      activeConnections: 0,
    });
  });

  it("drops what does not decode instead of throwing", () => {
    const junk: NetlinkMessage = {
      type: FAMILY,
      flags: 2,
      seq: 0,
      pid: 0,
      payload: Buffer.from([1, 1, 0, 0, 4, 0, 1, 0]),
    };
    expect(parseService(junk)).toBeUndefined();
    expect(parseDest(junk, 4)).toBeUndefined();
    expect(parseService({ ...junk, payload: Buffer.alloc(2) })).toBeUndefined();
    // Found by bench/fuzz.ts: an address-family attribute shorter than its u16 threw a RangeError.
    const shortAf = (nestType: number) => ({
      ...junk,
      payload: Buffer.concat([
        Buffer.from([1, 1, 0, 0]),
        attr(nestType | 0x8000, attr(nestType === 1 ? 1 : 11, Buffer.from([2]))),
      ]),
    });
    expect(decodeService(shortAf(1))).toEqual({ ok: false, reason: "bad-family" });
    expect(decodeDest(shortAf(2), 4)).toEqual({ ok: false, reason: "bad-family" });
  });
});
