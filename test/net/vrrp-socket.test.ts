// The VRRP socket's reads on a real link: datagrams that queued while the reader's loop was busy
// come out in drains of up to 64 (one JavaScript call each), every one whole and in order, with
// its own source, destination and TTL / hop limit; one longer than its slot is dropped as
// truncated and the others still arrive; a short or empty one is passed on for the engine's
// checks to drop. A socket told to wait between reads holds what comes meanwhile until drain().
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IpFamily } from "../../src/base/ip.ts";
import { Lab } from "../../src/lab/lab.ts";
import { readStatus, startAgent, waitUntil, writeConfig, type RunningAgent } from "../support/agents.ts";
import { encodeAdvert, VRRP_MULTICAST_V4, VRRP_MULTICAST_V6 } from "../../src/vrrp/packet.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/vrrp-socket.test.ts skipped: needs root for network namespaces");

const RECEIVER = new URL("../support/vrrp-receiver.ts", import.meta.url).pathname;
const SENDER = new URL("../support/send-payloads.ts", import.meta.url).pathname;
const PAUSED_RECEIVER = new URL("../support/vrrp-paused-receiver.ts", import.meta.url).pathname;
const COUNT = 150; // over two batches of 64
const SHORT = 10;
const OVERSIZE = 70;
const EMPTY = 100;

type Line = {
  ready?: boolean;
  packet?: string;
  source?: string;
  destination?: string;
  ttl?: number;
  drop?: string;
  reads?: { datagrams: number; drains: number };
  drain?: number;
  drained?: number;
};

describe.skipIf(!ROOT)("VrrpSocket reads batches of datagrams", () => {
  let lab: Lab;
  let dir: string;

  beforeAll(() => {
    lab = Lab.create({ prefix: "vkmm-rx", nodes: 2 });
    dir = mkdtempSync(join(tmpdir(), "vk-rx-"));
  });
  let agent: RunningAgent | undefined;
  afterAll(async () => {
    agent?.child.kill("SIGTERM");
    await agent?.exited;
    lab?.destroy();
  });

  /** Adverts of several sizes, with a 3-byte, an oversize and an empty payload among them. */
  const payloads = (family: IpFamily, source: string): string[] =>
    Array.from({ length: COUNT }, (_, i) => {
      if (i === SHORT) return "010203";
      if (i === OVERSIZE) return "ab".repeat(5000);
      // IPv6 has no empty datagram: a payload length of 0 means a jumbogram, and the kernel drops it.
      if (i === EMPTY) return family === 4 ? "" : "00";
      const addresses = Array.from({ length: (i % 7) + 1 }, (_, k) =>
        family === 4 ? `198.18.${i}.${k + 1}` : `2001:db8:${i.toString(16)}::${k + 1}`,
      );
      const destination = family === 4 ? VRRP_MULTICAST_V4 : VRRP_MULTICAST_V6;
      return encodeAdvert(
        { version: 3, vrid: i + 1, priority: 100, intervalCs: 100, addresses },
        { family, source, destination },
      ).toString("hex");
    });

  for (const family of [4, 6] as const) {
    it(`IPv${family}: ${COUNT} datagrams queued, read in ${Math.ceil(COUNT / 64)} drains, whole and in order`, async () => {
      const [n1, n2] = [lab.node("n1"), lab.node("n2")];
      const source = family === 4 ? n1.ipv4 : n1.linkLocal;
      const go = join(dir, `go${family}`);
      const receiver = lab.spawn("n2", [
        process.execPath,
        RECEIVER,
        String(family),
        family === 4 ? n2.ipv4 : n2.linkLocal,
        go,
        "500",
      ]);
      const lines: Line[] = [];
      let err = "";
      let buffered = "";
      const ready = new Promise<void>((resolve) =>
        receiver.stdout!.on("data", (d: Buffer) => {
          buffered += d.toString();
          const parts = buffered.split("\n");
          buffered = parts.pop()!;
          for (const p of parts) {
            const line = JSON.parse(p) as Line;
            if (line.ready) resolve();
            else lines.push(line);
          }
        }),
      );
      receiver.stderr!.on("data", (d: Buffer) => (err += d.toString()));
      const exited = new Promise<number | null>((resolve) => receiver.once("exit", resolve));
      await ready;
      const sent = payloads(family, source);
      const input = sent.map((p) => (p === "" ? "-" : p)).join("\n");
      expect(lab.exec("n1", [process.execPath, SENDER, String(family), source], input)).toBe(
        `sent ${COUNT}\n`,
      );
      writeFileSync(go, "");
      expect(await exited, err).toBe(0);

      const reads = lines.find((l) => l.reads)?.reads;
      expect(reads).toEqual({ datagrams: COUNT, drains: Math.ceil(COUNT / 64) });
      expect(lines.filter((l) => l.drop).map((l) => l.drop)).toEqual(["truncated"]);
      const packets = lines.filter((l) => l.packet !== undefined);
      // Every datagram but the oversize one, each with its own bytes (no slot's tail or head).
      expect(packets.map((p) => p.packet)).toEqual(sent.filter((_, i) => i !== OVERSIZE));
      for (const p of packets) {
        expect(p.source).toBe(source);
        expect(p.destination).toBe(family === 4 ? VRRP_MULTICAST_V4 : VRRP_MULTICAST_V6);
        expect(p.ttl).toBe(255);
      }
    }, 60_000);
  }

  it("a socket that waits between reads holds what arrives meanwhile, and drain() reads it at once", async () => {
    const [n1, n2] = [lab.node("n1"), lab.node("n2")];
    const go = join(dir, "go-paused");
    // Long enough that nothing but drain() can read the second lot within the test.
    const receiver = lab.spawn("n2", [process.execPath, PAUSED_RECEIVER, "4", n2.ipv4, "60000", go]);
    const lines: Line[] = [];
    let buffered = "";
    let err = "";
    receiver.stdout!.on("data", (d: Buffer) => {
      buffered += d.toString();
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      for (const p of parts) lines.push(JSON.parse(p) as Line);
    });
    receiver.stderr!.on("data", (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => receiver.once("exit", resolve));
    await waitUntil(() => lines.some((l) => l.ready), 15_000, "the receiver to be ready");
    const advert = (vrid: number) =>
      encodeAdvert(
        { version: 3, vrid, priority: 100, intervalCs: 100, addresses: ["198.18.0.9"] },
        { family: 4, source: n1.ipv4, destination: VRRP_MULTICAST_V4 },
      ).toString("hex");
    const send = (vrids: number[]) =>
      expect(lab.exec("n1", [process.execPath, SENDER, "4", n1.ipv4], vrids.map(advert).join("\n"))).toBe(
        `sent ${vrids.length}\n`,
      );
    send([1]);
    await waitUntil(() => lines.some((l) => l.drain !== undefined), 15_000, "the first read");
    // The read paused the socket: these wait in its queue.
    send([2, 3, 4]);
    await new Promise((r) => setTimeout(r, 300));
    expect(lines.filter((l) => l.drain !== undefined).map((l) => l.drain)).toEqual([1]);
    writeFileSync(go, "");
    expect(await exited, err).toBe(0);
    const last = lines.at(-1)!;
    expect(last.drained).toBe(3);
    expect(last.reads).toEqual({ datagrams: 4, drains: 2 });
  }, 60_000);

  it("the engine counts what its socket drops, with the drops of its own checks", async () => {
    agent = startAgent(
      lab,
      "n2",
      writeConfig(`apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata: {name: web}
spec:
  vrid: 61
  interface: eth0
  addresses: [{address: 198.18.0.61/24}]
  priorities: [{node: n2, priority: 150}]
`),
    );
    await waitUntil(() => lab.holds("n2", "198.18.0.61"), 15_000, "n2 to be master");
    const source = lab.node("n1").ipv4;
    // An oversize datagram (cut to its slot) and an advert too short for a VRID.
    const input = ["ab".repeat(5000), "31"].join("\n");
    expect(lab.exec("n1", [process.execPath, SENDER, "4", source], input)).toBe("sent 2\n");
    const drops = async (reason: string) =>
      (await readStatus(agent!.socket)).counters[`drops{reason="${reason}"}`] ?? 0;
    await waitUntil(async () => (await drops("truncated")) === 1, 5000, "the truncated datagram counted");
    expect(await drops("too-short")).toBe(1);
  }, 60_000);
});
