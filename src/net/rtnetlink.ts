// One NETLINK_ROUTE socket: requests with sequence numbers answered by their ACK or dump, and
// (when subscribed) kernel events. Errors reject with the errno name as `code` (EEXIST, ...).
import type { IpFamily } from "../vrrp/address.ts";
import { AF_NETLINK, NETLINK_ROUTE, SOCK_RAW, sockaddrNl } from "./linux.ts";
import { nativeNet } from "./native.ts";
import {
  addressBody,
  decodeMessages,
  dumpBody,
  encodeMessage,
  errorCode,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  parseAddress,
  parseLink,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_GETLINK,
  RTM_NEWADDR,
  type AddressInfo,
  type AddressRequest,
  type LinkInfo,
  type NetlinkMessage,
} from "./netlink.ts";
import { errnoName } from "./errno.ts";

interface Pending {
  replies: NetlinkMessage[];
  resolve(replies: NetlinkMessage[]): void;
  reject(err: Error): void;
}

export class NetlinkError extends Error {
  readonly code: string;
  readonly errno: number;
  constructor(what: string, errno: number) {
    const code = errnoName(errno);
    super(`${what}: ${code}`);
    this.code = code;
    this.errno = errno;
  }
}

export class RtNetlink {
  private readonly fd: number;
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  /** Messages nobody asked for: kernel events when subscribed to groups. */
  onEvent: ((msg: NetlinkMessage) => void) | undefined;
  malformed = 0;

  constructor(groups = 0) {
    const net = nativeNet();
    this.fd = net.socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
    try {
      net.bind(this.fd, sockaddrNl(groups));
      net.startReading(
        this.fd,
        (data) => this.onData(data),
        1 << 18,
        0,
        (err) => this.failAll(err),
      );
    } catch (err) {
      net.close(this.fd);
      throw err;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    nativeNet().close(this.fd);
    this.failAll(new Error("netlink socket closed"));
  }

  request(type: number, flags: number, body: Buffer, what: string): Promise<NetlinkMessage[]> {
    if (this.closed) return Promise.reject(new Error("netlink socket closed"));
    const seq = (this.seq = (this.seq + 1) >>> 0);
    return new Promise((resolve, reject) => {
      this.pending.set(seq, {
        replies: [],
        resolve,
        reject: (err) => reject(err instanceof NetlinkError ? new NetlinkError(what, err.errno) : err),
      });
      try {
        nativeNet().sendmsg(this.fd, encodeMessage(type, flags | NLM_F_REQUEST, seq, body), null, null);
      } catch (err) {
        this.pending.delete(seq);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  async addAddress(req: AddressRequest): Promise<void> {
    await this.request(
      RTM_NEWADDR,
      NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
      addressBody(req),
      `add ${req.address}/${req.prefixLength}`,
    );
  }

  async removeAddress(req: AddressRequest): Promise<void> {
    await this.request(RTM_DELADDR, NLM_F_ACK, addressBody(req), `remove ${req.address}/${req.prefixLength}`);
  }

  async addresses(family: IpFamily | 0 = 0): Promise<AddressInfo[]> {
    const af = family === 4 ? 2 : family === 6 ? 10 : 0;
    const replies = await this.request(RTM_GETADDR, NLM_F_DUMP, dumpBody("address", af), "list addresses");
    return replies.map(parseAddress).filter((a): a is AddressInfo => a !== undefined);
  }

  async links(): Promise<LinkInfo[]> {
    const replies = await this.request(RTM_GETLINK, NLM_F_DUMP, dumpBody("link"), "list links");
    return replies.map(parseLink).filter((l): l is LinkInfo => l !== undefined);
  }

  private onData(data: Buffer): void {
    const { messages, malformed } = decodeMessages(data);
    if (malformed) this.malformed++;
    for (const msg of messages) {
      const p = this.pending.get(msg.seq);
      if (!p) {
        if (msg.seq === 0) this.onEvent?.(msg);
        continue;
      }
      if (msg.type === NLMSG_ERROR) {
        this.pending.delete(msg.seq);
        const code = errorCode(msg) ?? -5;
        if (code === 0) p.resolve(p.replies);
        else p.reject(new NetlinkError("netlink", -code));
      } else if (msg.type === NLMSG_DONE) {
        this.pending.delete(msg.seq);
        p.resolve(p.replies);
      } else {
        p.replies.push(msg);
      }
    }
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
