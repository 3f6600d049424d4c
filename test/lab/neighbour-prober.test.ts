// The prober's frames, byte by byte (the lab runs them for real against the nodes' kernels).
import { describe, expect, it } from "vitest";
import {
  arpRequest,
  neighbourSolicitation,
  parseArpReply,
  parseSolicitedAdvert,
  solicitedNode,
} from "../../src/lab/neighbour-prober.ts";

const CLIENT = Buffer.from([2, 0, 0, 0, 0, 0x64]);
const NODE = Buffer.from([2, 0, 0, 0, 0, 0x11]);

/** The reply a node's kernel sends to our request: op 2, sender the node, target us. */
function reply(request: Buffer, from: Buffer): Buffer {
  const r = Buffer.from(request);
  CLIENT.copy(r, 0);
  from.copy(r, 6);
  r.writeUInt16BE(2, 20);
  from.copy(r, 22);
  request.copy(r, 28, 38, 42); // sender IP: the address asked for
  CLIENT.copy(r, 32);
  request.copy(r, 38, 28, 32);
  return r;
}

describe("neighbour prober frames", () => {
  it("an ARP request asks for the VIP from our MAC and address; the reply names the node's MAC", () => {
    const req = arpRequest(CLIENT, "198.18.0.100", "198.18.0.50");
    expect(req.toString("hex")).toBe(
      [
        "ffffffffffff020000000064", // broadcast, from us
        "0806000108000604" + "0001", // ARP, Ethernet/IPv4, request
        "020000000064c6120064", // sender: our MAC, 198.18.0.100
        "000000000000c6120032", // target: MAC unknown, 198.18.0.50
      ].join(""),
    );
    expect(parseArpReply(reply(req, NODE), CLIENT)).toEqual({
      address: "198.18.0.50",
      mac: "02:00:00:00:00:11",
    });
    expect(parseArpReply(req, CLIENT)).toBeUndefined(); // our own request, seen going out
    expect(parseArpReply(reply(req, NODE), NODE)).toBeUndefined(); // a reply to someone else
  });

  it("a solicitation goes to the solicited-node group; only a solicited advert with the target's MAC counts", () => {
    expect(solicitedNode("2001:db8::50")).toBe("ff02::1:ff00:50");
    const ns = neighbourSolicitation(CLIENT, "2001:db8::50");
    expect(ns[0]).toBe(135);
    expect(ns.subarray(24, 32)).toEqual(Buffer.from([1, 1, ...CLIENT]));
    const na = Buffer.alloc(32);
    na[0] = 136;
    na[4] = 0x60; // solicited, override
    ns.copy(na, 8, 8, 24);
    na[24] = 2;
    na[25] = 1;
    NODE.copy(na, 26);
    expect(parseSolicitedAdvert(na)).toEqual({ address: "2001:db8::50", mac: "02:00:00:00:00:11" });
    na[4] = 0x20; // unsolicited (an announcement): not an answer
    expect(parseSolicitedAdvert(na)).toBeUndefined();
  });
});
