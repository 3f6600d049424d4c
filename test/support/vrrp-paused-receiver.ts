// Receives on a VrrpSocket that waits PAUSE_MS after each read (coalescing), in a lab host, for
// test/net/vrrp-socket.test.ts. Prints "ready", then one JSON line per read ({ drain: n }, n
// packets); when the file GO appears it calls drain() and prints how many packets that call read
// ({ drained: n }), then the socket's read counts, and exits.
// Usage: node vrrp-paused-receiver.ts FAMILY SOURCE PAUSE_MS GO
import { existsSync } from "node:fs";
import { VrrpSocket } from "../../src/net/vrrp-socket.ts";

const [family, source, pauseMs, go] = process.argv.slice(2);
const out = (x: object) => process.stdout.write(`${JSON.stringify(x)}\n`);
let packets = 0;
const socket = new VrrpSocket({
  family: family === "6" ? 6 : 4,
  interfaceName: "eth0",
  sourceAddress: source!,
  multicast: true,
  onPacket: () => packets++,
});
socket.setReadPause(Number(pauseMs));
let drains = 0;
const timer = setInterval(() => {
  if (socket.reads.drains > drains) {
    drains = socket.reads.drains;
    out({ drain: packets });
    packets = 0;
  }
  if (!existsSync(go!)) return;
  clearInterval(timer);
  const before = packets;
  socket.drain();
  out({ drained: packets - before, reads: socket.reads });
  socket.close();
}, 10);
out({ ready: true });
