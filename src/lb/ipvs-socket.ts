// One NETLINK_GENERIC socket speaking to IPVS: the family id resolved once (CTRL_CMD_GETFAMILY),
// then requests answered by their ACK or dump. Errors reject with the errno name as `code`.
// Requests may be in flight together (the kernel answers in order); callers bound how many, so the
// acknowledgements never overflow the socket's receive buffer.
import { NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, type NetlinkMessage } from "../net/netlink.ts";
import { NetlinkError, NetlinkSocket } from "../net/netlink-socket.ts";
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

export class GenlSocket extends NetlinkSocket {
  constructor() {
    super(NETLINK_GENERIC, 0, "generic netlink");
  }

  request(
    family: number,
    cmd: number,
    flags: number,
    attrs: Buffer[],
    what: string,
  ): Promise<NetlinkMessage[]> {
    return this.exchange((seq) => genlMessage(family, flags | NLM_F_REQUEST, seq, cmd, attrs), what);
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
