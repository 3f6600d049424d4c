// Sends raw VRRP-protocol datagrams from a lab host, as fast as the loop goes, for
// test/net/vrrp-socket.test.ts: the payloads (hex, one a line) come on stdin and go to the VRRP
// group on eth0 from SOURCE, in order. Prints "sent N".
// Usage: node send-payloads.ts FAMILY SOURCE < payloads
import { readFileSync } from "node:fs";
import { VrrpSocket } from "../../src/net/vrrp-socket.ts";
import { VRRP_MULTICAST_V4, VRRP_MULTICAST_V6 } from "../../src/vrrp/packet.ts";

const [family, source] = process.argv.slice(2);
const six = family === "6";
const socket = new VrrpSocket({
  family: six ? 6 : 4,
  interfaceName: "eth0",
  sourceAddress: source!,
  multicast: false,
  receive: false,
  onPacket: () => undefined,
});
const lines = readFileSync(0, "utf8")
  .split("\n")
  .filter((l) => l !== "");
const send = (hex: string) =>
  socket.send(Buffer.from(hex === "-" ? "" : hex, "hex"), six ? VRRP_MULTICAST_V6 : VRRP_MULTICAST_V4);
// A link just made up has no IPv6 multicast route for a moment (ENETUNREACH): the first waits.
const pause = new Int32Array(new SharedArrayBuffer(4));
for (let tries = 0; ; tries++) {
  try {
    send(lines[0]!);
    break;
  } catch (err) {
    if ((err as { code?: string }).code !== "ENETUNREACH" || tries >= 100) throw err;
    Atomics.wait(pause, 0, 0, 50);
  }
}
for (const hex of lines.slice(1)) send(hex);
socket.close();
process.stdout.write(`sent ${lines.length}\n`);
