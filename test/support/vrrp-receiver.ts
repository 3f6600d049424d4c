// Receives on a VrrpSocket in a lab host for test/net/vrrp-socket.test.ts. Run inside the host's
// namespace: it opens the socket on eth0 (joined to the group), prints "ready", then keeps the
// event loop blocked until the file GO exists, so that everything sent meanwhile waits in the
// socket's queue and is read in drains of many datagrams. It then prints one JSON line per packet
// or drop, and at last the socket's read counts, once nothing came for QUIET_MS.
// Usage: node vrrp-receiver.ts FAMILY SOURCE GO QUIET_MS
import { existsSync } from "node:fs";
import { int32, SOL_SOCKET } from "../../src/net/linux.ts";
import { nativeNet } from "../../src/net/native.ts";
import { VrrpSocket } from "../../src/net/vrrp-socket.ts";

const [family, source, go, quiet] = process.argv.slice(2);
const out = (x: object) => process.stdout.write(`${JSON.stringify(x)}\n`);
let last = Date.now();
const socket = new VrrpSocket({
  family: family === "6" ? 6 : 4,
  interfaceName: "eth0",
  sourceAddress: source!,
  multicast: true,
  onPacket: (p) => {
    last = Date.now();
    out({
      packet: Buffer.from(p.payload).toString("hex"),
      source: p.source,
      destination: p.destination,
      ttl: p.ttl,
    });
  },
  onDrop: (reason, detail) => {
    last = Date.now();
    out({ drop: reason, detail });
  },
});
// Room for every datagram of the test in the queue (the default holds ~100 small ones).
const SO_RCVBUFFORCE = 33;
const fd = (socket as unknown as { fd: number }).fd;
nativeNet().setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, int32(4 << 20));
out({ ready: true });
const pause = new Int32Array(new SharedArrayBuffer(4));
for (const deadline = Date.now() + 30_000; !existsSync(go!) && Date.now() < deadline;)
  Atomics.wait(pause, 0, 0, 20);
last = Date.now();
const timer = setInterval(() => {
  if (Date.now() - last < Number(quiet)) return;
  clearInterval(timer);
  out({ reads: socket.reads });
  socket.close();
}, 50);
