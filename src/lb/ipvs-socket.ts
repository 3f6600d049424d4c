// One NETLINK_GENERIC socket speaking to IPVS: the family id resolved once (CTRL_CMD_GETFAMILY),
// then requests answered by their ACK or dump. Errors reject with the errno name as `code`.
// Requests may be in flight together (the kernel answers in order); callers bound how many, so the
// acknowledgements never overflow the socket's receive buffer.
import { AF_NETLINK, SOCK_RAW, sockaddrNl } from "../net/linux.ts";
import { nativeNet } from "../net/native.ts";
import {
  decodeMessages,
  errorCode,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  type NetlinkMessage,
} from "../net/netlink.ts";
import { NetlinkError } from "../net/rtnetlink.ts";
import {
  CTRL_CMD_GETFAMILY,
  destAttr,
  GENL_ID_CTRL,
  genlMessage,
  getFamilyAttrs,
  IPVS_CMD,
  IPVS_GENL_NAME,
  parseDest,
  parseFamilyId,
  parseService,
  serviceAttr,
  serviceIdAttr,
  type IpvsDest,
  type IpvsService,
  type ServiceId,
} from "./ipvs-netlink.ts";

export const NETLINK_GENERIC = 16;

interface Pending {
  replies: NetlinkMessage[];
  resolve(replies: NetlinkMessage[]): void;
  reject(err: Error): void;
}

export class GenlSocket {
  private readonly fd: number;
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private readonly pending = new Map<number, Pending>();
  private closed = false;
  malformed = 0;

  constructor() {
    const net = nativeNet();
    this.fd = net.socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC);
    try {
      net.bind(this.fd, sockaddrNl(0));
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
    this.failAll(new Error("generic netlink socket closed"));
  }

  request(
    family: number,
    cmd: number,
    flags: number,
    attrs: Buffer[],
    what: string,
  ): Promise<NetlinkMessage[]> {
    if (this.closed) return Promise.reject(new Error("generic netlink socket closed"));
    const seq = (this.seq = (this.seq + 1) >>> 0);
    return new Promise((resolve, reject) => {
      this.pending.set(seq, {
        replies: [],
        resolve,
        reject: (err) => reject(err instanceof NetlinkError ? new NetlinkError(what, err.errno) : err),
      });
      try {
        nativeNet().sendmsg(this.fd, genlMessage(family, flags | NLM_F_REQUEST, seq, cmd, attrs), null, null);
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
      if (!p) continue;
      if (msg.type === NLMSG_ERROR) {
        this.pending.delete(msg.seq);
        const code = errorCode(msg) ?? -5;
        if (code === 0) p.resolve(p.replies);
        else p.reject(new NetlinkError("generic netlink", -code));
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

/** The family id of a generic-netlink family, or undefined when the kernel has none by that name. */
export async function resolveFamily(sock: GenlSocket, name: string): Promise<number | undefined> {
  try {
    const replies = await sock.request(
      GENL_ID_CTRL,
      CTRL_CMD_GETFAMILY,
      NLM_F_ACK,
      getFamilyAttrs(name),
      `family ${name}`,
    );
    for (const r of replies) {
      const id = parseFamilyId(r);
      if (id !== undefined) return id;
    }
    return undefined;
  } catch (err) {
    if (err instanceof NetlinkError && err.code === "ENOENT") return undefined;
    throw err;
  }
}

const label = (id: ServiceId) =>
  id.fwmark !== undefined ? `fwmark ${id.fwmark}` : `${id.protocol} ${id.address}:${id.port}`;

/** IPVS through generic netlink: the commands vipkeeper uses, one request each. */
export class IpvsNetlink {
  private readonly sock: GenlSocket;
  readonly family: number;
  /** Dump messages that did not decode (counted, dropped). */
  malformed = 0;

  private constructor(sock: GenlSocket, family: number) {
    this.sock = sock;
    this.family = family;
  }

  /** Opens the socket and resolves the family; undefined when the kernel has no IPVS. */
  static async open(): Promise<IpvsNetlink | undefined> {
    const sock = new GenlSocket();
    try {
      const family = await resolveFamily(sock, IPVS_GENL_NAME);
      if (family === undefined) {
        sock.close();
        return undefined;
      }
      return new IpvsNetlink(sock, family);
    } catch (err) {
      sock.close();
      throw err;
    }
  }

  close(): void {
    this.sock.close();
  }

  private async cmd(cmd: number, attrs: Buffer[], what: string): Promise<void> {
    await this.sock.request(this.family, cmd, NLM_F_ACK, attrs, what);
  }

  addService(s: IpvsService): Promise<void> {
    return this.cmd(IPVS_CMD.NEW_SERVICE, [serviceAttr(s)], `add service ${label(s.id)}`);
  }
  editService(s: IpvsService): Promise<void> {
    return this.cmd(IPVS_CMD.SET_SERVICE, [serviceAttr(s)], `edit service ${label(s.id)}`);
  }
  deleteService(s: IpvsService): Promise<void> {
    return this.cmd(IPVS_CMD.DEL_SERVICE, [serviceAttr(s)], `delete service ${label(s.id)}`);
  }
  addDest(s: IpvsService, d: IpvsDest): Promise<void> {
    return this.cmd(
      IPVS_CMD.NEW_DEST,
      [serviceAttr(s), destAttr(d)],
      `add ${d.address}:${d.port} to ${label(s.id)}`,
    );
  }
  editDest(s: IpvsService, d: IpvsDest): Promise<void> {
    return this.cmd(
      IPVS_CMD.SET_DEST,
      [serviceAttr(s), destAttr(d)],
      `edit ${d.address}:${d.port} of ${label(s.id)}`,
    );
  }
  deleteDest(s: IpvsService, d: IpvsDest): Promise<void> {
    return this.cmd(
      IPVS_CMD.DEL_DEST,
      [serviceAttr(s), destAttr(d)],
      `delete ${d.address}:${d.port} from ${label(s.id)}`,
    );
  }

  async services(): Promise<IpvsService[]> {
    const replies = await this.sock.request(
      this.family,
      IPVS_CMD.GET_SERVICE,
      NLM_F_DUMP,
      [],
      "list services",
    );
    return replies.flatMap((m) => {
      const s = parseService(m);
      if (!s) this.malformed++;
      return s ? [s] : [];
    });
  }

  async dests(id: ServiceId): Promise<IpvsDest[]> {
    const replies = await this.sock.request(
      this.family,
      IPVS_CMD.GET_DEST,
      NLM_F_DUMP,
      [serviceIdAttr(id)],
      `list destinations of ${label(id)}`,
    );
    return replies.flatMap((m) => {
      const d = parseDest(m, id.family);
      if (!d) this.malformed++;
      return d ? [d] : [];
    });
  }
}
