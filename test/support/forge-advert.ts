// Sends forged VRRP adverts from a lab host, for tests of what agents obey: run inside the host's
// namespace, it sends COUNT adverts INTERVAL ms apart to the VRRP group on eth0 from the host's
// own address, with the TTL and password given, then prints "sent N" and exits.
// Usage: node forge-advert.ts SOURCE VRID PRIORITY VERSION PASSWORD|- TTL COUNT INTERVAL_MS VIP...
import { VrrpSocket } from "../../src/net/vrrp-socket.ts";
import { encodeAdvert, VRRP_MULTICAST_V4, type Advert } from "../../src/vrrp/packet.ts";

const [source, vrid, priority, version, password, ttl, count, intervalMs, ...vips] = process.argv.slice(2);
const v = Number(version) === 2 ? 2 : 3;
const advert: Advert = {
  version: v,
  vrid: Number(vrid),
  priority: Number(priority),
  intervalCs: 100,
  addresses: vips,
  ...(v === 2
    ? { auth: password === "-" ? { type: "none" as const } : { type: "pass" as const, password: password! } }
    : {}),
};
const socket = new VrrpSocket({
  family: 4,
  interfaceName: "eth0",
  sourceAddress: source!,
  multicast: false,
  hopLimit: Number(ttl),
  onPacket: () => undefined,
});
const path = { family: 4 as const, source: source!, destination: VRRP_MULTICAST_V4 };
let sent = 0;
const timer = setInterval(() => {
  socket.send(encodeAdvert(advert, path), VRRP_MULTICAST_V4);
  if (++sent >= Number(count)) {
    clearInterval(timer);
    socket.close();
    process.stdout.write(`sent ${sent}\n`);
  }
}, Number(intervalMs));
