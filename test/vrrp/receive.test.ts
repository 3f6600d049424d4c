import { describe, expect, it } from "vitest";
import { encodeAdvert, type Advert } from "../../src/vrrp/packet.ts";
import {
  checkReceived,
  ReceiveCheck,
  type ReceivePolicy,
  type ReceivedPacket,
} from "../../src/vrrp/receive.ts";

const policy3: ReceivePolicy = {
  version: 3,
  family: 4,
  vrid: 51,
  priority: 100,
  intervalCs: 100,
  addresses: ["198.18.0.50"],
  primaryAddress: "198.18.0.12",
  requireMaxTtl: true,
};
const policy2: ReceivePolicy = { ...policy3, version: 2, auth: { type: "pass", password: "secret" } };
const advert3: Advert = { version: 3, vrid: 51, priority: 150, intervalCs: 100, addresses: ["198.18.0.50"] };
const advert2: Advert = { ...advert3, version: 2, auth: { type: "pass", password: "secret" } };

function packet(advert: Advert, patch: Partial<ReceivedPacket> = {}): ReceivedPacket {
  const source = patch.source ?? "198.18.0.11";
  const destination = patch.destination ?? "224.0.0.18";
  const payload = encodeAdvert(advert, { family: 4, source, destination });
  return { payload, source, destination, ttl: 255, ...patch };
}

describe("receive checks", () => {
  it("accepts a matching v3 advert and a matching v2 advert", () => {
    expect(checkReceived(packet(advert3), policy3)).toMatchObject({ ok: true, addressMismatch: false });
    expect(checkReceived(packet(advert2), policy2)).toMatchObject({ ok: true, addressMismatch: false });
  });

  it("obeys only the allowed sources, or only IPv6 link-local sources, when the policy says so", () => {
    const nodes = { ...policy3, allowedSources: new Set(["198.18.0.11"]) };
    expect(checkReceived(packet(advert3), nodes).ok).toBe(true);
    expect(checkReceived(packet(advert3, { source: "198.18.0.100" }), nodes)).toMatchObject({
      ok: false,
      reason: "source-not-allowed",
    });
    const v6: ReceivePolicy = {
      ...policy3,
      family: 6,
      addresses: ["2001:db8::50"],
      primaryAddress: "fe80::12",
      linkLocalSourcesOnly: true,
    };
    const advert6 = { ...advert3, addresses: ["2001:db8::50"] };
    const from = (source: string): ReceivedPacket => ({
      payload: encodeAdvert(advert6, { family: 6, source, destination: "ff02::12" }),
      source,
      destination: "ff02::12",
      ttl: 255,
    });
    expect(checkReceived(from("fe80::11"), v6).ok).toBe(true);
    expect(checkReceived(from("2001:db8::11"), v6)).toMatchObject({
      ok: false,
      reason: "source-not-allowed",
    });
    expect(checkReceived(from("2001:db8::11"), { ...v6, linkLocalSourcesOnly: false }).ok).toBe(true);
  });

  it("drops a TTL below 255 (RFC 9568 7.1), and cannot check what the transport does not deliver", () => {
    expect(checkReceived(packet(advert3, { ttl: 254 }), policy3)).toMatchObject({
      ok: false,
      reason: "bad-ttl",
    });
    expect(checkReceived(packet(advert3, { ttl: undefined }), policy3).ok).toBe(true);
    expect(checkReceived(packet(advert3, { ttl: 64 }), { ...policy3, requireMaxTtl: false }).ok).toBe(true);
  });

  it.each([
    ["a VRID not ours", packet({ ...advert3, vrid: 52 }), policy3, "wrong-vrid"],
    ["a v2 advert to a v3 instance", packet(advert2), policy3, "version-mismatch"],
    ["a v3 advert to a v2 instance", packet(advert3), policy2, "version-mismatch"],
    ["our own advert looped back", packet(advert3, { source: "198.18.0.12" }), policy3, "own-advert"],
    [
      "a wrong password",
      packet({ ...advert2, auth: { type: "pass", password: "wrong" } }),
      policy2,
      "auth-mismatch",
    ],
    [
      "no password where one is set",
      packet({ ...advert2, auth: { type: "none" } }),
      policy2,
      "auth-mismatch",
    ],
    [
      "a v2 interval that differs (RFC 3768 7.1)",
      packet({ ...advert2, intervalCs: 200 }),
      policy2,
      "interval-mismatch",
    ],
    [
      "a v2 address list that differs from a non-owner (RFC 3768 7.1)",
      packet({ ...advert2, addresses: ["198.18.0.51"] }),
      policy2,
      "address-mismatch",
    ],
    [
      "any advert when we are the address owner",
      packet(advert3),
      { ...policy3, priority: 255 },
      "we-are-owner",
    ],
    ["a corrupted advert", { ...packet(advert3), source: "198.18.0.13" }, policy3, "bad-checksum"],
  ])("drops %s", (_name, pkt, policy, reason) => {
    const result = checkReceived(pkt, policy);
    expect(result).toMatchObject({ ok: false, reason });
  });

  it("only obeys allowed sources when a peer list is set", () => {
    const peers = { ...policy3, allowedSources: new Set(["198.18.0.13"]) };
    expect(checkReceived(packet(advert3), peers)).toMatchObject({ ok: false, reason: "source-not-allowed" });
    expect(checkReceived(packet(advert3, { source: "198.18.0.13" }), peers).ok).toBe(true);
  });

  it("accepts a v3 advert with other addresses but flags it (RFC 9568: log, do not drop)", () => {
    const result = checkReceived(packet({ ...advert3, addresses: ["198.18.0.51"] }), policy3);
    expect(result).toMatchObject({ ok: true, addressMismatch: true });
  });

  it("accepts a v2 address-owner advert with other addresses (RFC 3768 7.1)", () => {
    const result = checkReceived(packet({ ...advert2, priority: 255, addresses: ["198.18.0.51"] }), policy2);
    expect(result).toMatchObject({ ok: true, addressMismatch: true });
  });

  it("accepts a v3 advert with another interval: v3 learns it instead", () => {
    expect(checkReceived(packet({ ...advert3, intervalCs: 10 }), policy3).ok).toBe(true);
  });

  it("compares v2 passwords as keepalived does: the 8 bytes on the wire", () => {
    const long = { ...policy2, auth: { type: "pass" as const, password: "12345678-and-more" } };
    expect(checkReceived(packet({ ...advert2, auth: { type: "pass", password: "12345678" } }), long).ok).toBe(
      true,
    );
  });
});

describe("ReceiveCheck (the last accepted advert remembered)", () => {
  it("answers a repeat of the accepted advert as checkReceived did, without checking it again", () => {
    const check = new ReceiveCheck();
    const first = packet(advert3);
    const accepted = check.check(first, policy3);
    expect(accepted).toEqual(checkReceived(first, policy3));
    // The same bytes in another buffer (the read buffer is reused): the same result object.
    const again = { ...first, payload: Uint8Array.from(first.payload) };
    expect(check.check(again, policy3)).toBe(accepted);
    // The remembered bytes are a copy: overwriting the buffer read from changes nothing.
    first.payload.fill(0);
    expect(check.check(again, policy3)).toBe(accepted);
  });

  it("checks anew whatever differs: a byte, the source, the destination, the TTL or the policy", () => {
    const check = new ReceiveCheck();
    const good = packet(advert3);
    expect(check.check(good, policy3).ok).toBe(true);
    const flipped = Uint8Array.from(good.payload);
    flipped[2] = 200; // priority, without the checksum made again
    expect(check.check({ ...good, payload: flipped }, policy3)).toMatchObject({ reason: "bad-checksum" });
    expect(check.check(good, policy3).ok).toBe(true);
    expect(check.check({ ...good, ttl: 254 }, policy3)).toMatchObject({ reason: "bad-ttl" });
    expect(check.check(good, policy3).ok).toBe(true);
    expect(check.check({ ...good, source: "198.18.0.12" }, policy3)).toMatchObject({
      reason: "bad-checksum",
    });
    expect(check.check({ ...good, destination: "224.0.0.19" }, policy3)).toMatchObject({
      reason: "bad-checksum",
    });
    expect(check.check(good, policy3).ok).toBe(true);
    // A new policy (a node left the cluster: its adverts are no longer obeyed).
    const narrowed = { ...policy3, allowedSources: new Set(["198.18.0.13"]) };
    expect(check.check(good, narrowed)).toMatchObject({ reason: "source-not-allowed" });
    expect(check.check(good, policy3).ok).toBe(true);
  });
});
