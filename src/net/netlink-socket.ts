// One netlink socket of any protocol (route, generic): requests with sequence numbers answered by
// their ACK or dump, and (when subscribed to groups) kernel events. Errors reject with the errno
// name as `code` (EEXIST, ENOENT, ...). RtNetlink and IPVS's generic netlink socket build on it.
import { AF_NETLINK, SOCK_RAW, sockaddrNl } from "./linux.ts";
import { nativeNet, readDatagrams } from "./native.ts";
import { decodeMessages, errorCode, NLMSG_DONE, NLMSG_ERROR, type NetlinkMessage } from "./netlink.ts";
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

export class NetlinkSocket {
  private readonly fd: number;
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  private readonly name: string;
  /** Messages nobody asked for: kernel events when subscribed to groups. */
  onEvent: ((msg: NetlinkMessage) => void) | undefined;
  /** Datagrams with a malformed tail (counted, the rest used). */
  malformed = 0;

  constructor(protocol: number, groups: number, name: string) {
    this.name = name;
    const net = nativeNet();
    this.fd = net.socket(AF_NETLINK, SOCK_RAW, protocol);
    try {
      net.bind(this.fd, sockaddrNl(groups));
      // A copy of each datagram: its messages' payloads are views of it, and a dump's replies
      // are kept until its end, past the next read into the same buffer.
      readDatagrams(this.fd, (data) => this.onData(Buffer.from(data)), {
        bufferSize: 1 << 18,
        dataOnly: true,
        onError: (err) => this.failAll(err),
      });
    } catch (err) {
      net.close(this.fd);
      throw err;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    nativeNet().close(this.fd);
    this.failAll(new Error(`${this.name} socket closed`));
  }

  /** Sends the message `encode` makes for the next sequence number; resolves with the replies. */
  protected exchange(encode: (seq: number) => Buffer, what: string): Promise<NetlinkMessage[]> {
    if (this.closed) return Promise.reject(new Error(`${this.name} socket closed`));
    const seq = (this.seq = (this.seq + 1) >>> 0);
    return new Promise((resolve, reject) => {
      this.pending.set(seq, {
        replies: [],
        resolve,
        reject: (err) => reject(err instanceof NetlinkError ? new NetlinkError(what, err.errno) : err),
      });
      try {
        nativeNet().sendmsg(this.fd, encode(seq), null, null);
      } catch (err) {
        this.pending.delete(seq);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
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
        else p.reject(new NetlinkError(this.name, -code));
      } else if (msg.type === NLMSG_DONE) {
        this.pending.delete(msg.seq);
        p.resolve(p.replies);
      } else p.replies.push(msg);
    }
  }

  private failAll(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
