// One ICMP (ICMPv6) echo request and its reply, on a raw socket of the project's addon: keepalived's
// PING_CHECK. A socket per request, closed on the answer or the deadline; the reply must come
// from the address asked, with our identifier and sequence number. Needs NET_RAW, which agents have.
import { randomInt } from "node:crypto";
import { familyOf } from "../base/ip.ts";
import { internetChecksum } from "../vrrp/checksum.ts";
import {
  AF_INET,
  AF_INET6,
  IPPROTO_ICMPV6,
  parseSockaddr,
  SOCK_RAW,
  sockaddrIn,
  sockaddrIn6,
} from "./linux.ts";
import { nativeNet, readDatagrams } from "./native.ts";

const IPPROTO_ICMP = 1;
const ECHO_REQUEST = { 4: 8, 6: 128 } as const;
const ECHO_REPLY = { 4: 0, 6: 129 } as const;
/** Payload bytes after the 8-byte header, as keepalived's ICMP_BUFSIZE. */
const PAYLOAD = 128;

export interface EchoResult {
  ok: boolean;
  detail: string;
}

export function icmpEcho(address: string, timeoutMs: number): Promise<EchoResult> {
  const family = familyOf(address);
  if (!family) return Promise.resolve({ ok: false, detail: `'${address}' is not an IP address` });
  const net = nativeNet();
  let fd: number;
  try {
    fd = net.socket(
      family === 4 ? AF_INET : AF_INET6,
      SOCK_RAW,
      family === 4 ? IPPROTO_ICMP : IPPROTO_ICMPV6,
    );
  } catch (err) {
    return Promise.resolve({ ok: false, detail: `no raw ICMP socket: ${(err as Error).message}` });
  }
  const id = randomInt(0, 0x10000);
  const seq = randomInt(0, 0x10000);
  const packet = Buffer.alloc(8 + PAYLOAD);
  packet[0] = ECHO_REQUEST[family];
  packet.writeUInt16BE(id, 4);
  packet.writeUInt16BE(seq, 6);
  for (let i = 0; i < PAYLOAD; i++) packet[8 + i] = i & 0xff;
  // The kernel fills in the ICMPv6 checksum (it needs the pseudo-header); ICMPv4's is ours.
  if (family === 4) packet.writeUInt16BE(internetChecksum(packet), 2);
  const to = family === 4 ? sockaddrIn(address) : sockaddrIn6(address);
  const toAddress = parseSockaddr(to)?.address;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (ok: boolean, detail: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        net.close(fd);
      } catch {
        // already closed
      }
      resolve({ ok, detail });
    };
    const timer = setTimeout(
      () => setImmediate(() => finish(false, `no echo reply within ${timeoutMs} ms`)),
      timeoutMs,
    );
    try {
      readDatagrams(
        fd,
        (data, from) => {
          if (parseSockaddr(from)?.address !== toAddress) return;
          // A raw IPv4 socket delivers the IP header too; an IPv6 one does not.
          const icmp = family === 4 ? data.subarray((data[0]! & 0x0f) * 4) : data;
          if (icmp.length < 8 || icmp[0] !== ECHO_REPLY[family]) return;
          if (icmp.readUInt16BE(4) !== id || icmp.readUInt16BE(6) !== seq) return;
          finish(true, "echo reply");
        },
        { bufferSize: 2048, controlSize: 64, onError: (err) => finish(false, err.message) },
      );
      net.sendmsg(fd, packet, to, null);
    } catch (err) {
      finish(false, (err as Error).message);
    }
  });
}
