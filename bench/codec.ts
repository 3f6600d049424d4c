// Codec throughput: how long encoding and decoding (with receive checks) one advert takes.
// Run: . scripts/env.sh && node bench/codec.ts
import { encodeAdvert, type Advert, type PacketPath } from "../src/vrrp/packet.ts";
import { checkReceived, type ReceivePolicy } from "../src/vrrp/receive.ts";

const path: PacketPath = { family: 4, source: "198.18.0.11", destination: "224.0.0.18" };
const advert: Advert = { version: 3, vrid: 51, priority: 150, intervalCs: 100, addresses: ["198.18.0.50"] };
const policy: ReceivePolicy = {
  version: 3,
  family: 4,
  vrid: 51,
  priority: 100,
  intervalCs: 100,
  addresses: ["198.18.0.50"],
  primaryAddress: "198.18.0.12",
  requireMaxTtl: true,
};

function measure(name: string, n: number, fn: () => void): void {
  for (let i = 0; i < n / 10; i++) fn(); // warm up
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    runs.push(Number(process.hrtime.bigint() - t0) / n);
  }
  runs.sort((a, b) => a - b);
  console.log(
    `${name.padEnd(28)} median ${runs[2]!.toFixed(0)} ns/op  (min ${runs[0]!.toFixed(0)}, max ${runs[4]!.toFixed(0)})`,
  );
}

const wire = encodeAdvert(advert, path);
const packet = { payload: wire, source: path.source, destination: path.destination, ttl: 255 };
console.log(`node ${process.version}, 5 runs each`);
measure("encode v3 IPv4 advert", 200_000, () => encodeAdvert(advert, path));
measure("decode + receive checks", 200_000, () => {
  if (!checkReceived(packet, policy).ok) throw new Error("rejected");
});
