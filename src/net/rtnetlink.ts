// One NETLINK_ROUTE socket (netlink-socket.ts): addresses and links, and (when subscribed) link
// events. Errors reject with the errno name as `code` (EEXIST, ...).
import type { IpFamily } from "../vrrp/address.ts";
import { NETLINK_ROUTE } from "./linux.ts";
import { NetlinkError, NetlinkSocket } from "./netlink-socket.ts";
import {
  addressBody,
  dumpBody,
  encodeMessage,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  NLM_F_REQUEST,
  parseAddress,
  parseLink,
  RTM_DELADDR,
  RTM_GETADDR,
  RTM_DELLINK,
  RTM_GETLINK,
  RTM_NEWADDR,
  RTM_NEWLINK,
  RTM_SETLINK,
  IFF_UP,
  linkHeader,
  aliasBody,
  macvlanBody,
  type MacvlanRequest,
  type AddressInfo,
  type AddressRequest,
  type LinkInfo,
  type NetlinkMessage,
} from "./netlink.ts";

export { NetlinkError };

export class RtNetlink extends NetlinkSocket {
  constructor(groups = 0) {
    super(NETLINK_ROUTE, groups, "netlink");
  }

  request(type: number, flags: number, body: Buffer, what: string): Promise<NetlinkMessage[]> {
    return this.exchange((seq) => encodeMessage(type, flags | NLM_F_REQUEST, seq, body), what);
  }

  async addAddress(req: AddressRequest): Promise<void> {
    await this.request(
      RTM_NEWADDR,
      NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
      addressBody(req),
      `add ${req.address}/${req.prefixLength}`,
    );
  }

  /**
   * Adds the address, or replaces it where it exists: its lifetime (IFA_CACHEINFO) and mark start
   * again from now. How a virtual address is bound and renewed.
   */
  async replaceAddress(req: AddressRequest): Promise<void> {
    await this.request(
      RTM_NEWADDR,
      NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
      addressBody(req),
      `replace ${req.address}/${req.prefixLength}`,
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

  /** Creates a macvlan, down (so that its settings are in place before it speaks). */
  async addMacvlan(req: MacvlanRequest): Promise<void> {
    await this.request(
      RTM_NEWLINK,
      NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
      macvlanBody(req),
      `add macvlan ${req.name}`,
    );
  }

  async setLinkUp(ifindex: number, up: boolean): Promise<void> {
    await this.request(
      RTM_SETLINK,
      NLM_F_ACK,
      linkHeader(ifindex, up ? IFF_UP : 0, IFF_UP),
      `set link ${ifindex} ${up ? "up" : "down"}`,
    );
  }

  async setLinkAlias(ifindex: number, alias: string): Promise<void> {
    await this.request(RTM_SETLINK, NLM_F_ACK, aliasBody(ifindex, alias), `set alias of link ${ifindex}`);
  }

  async removeLink(ifindex: number): Promise<void> {
    await this.request(RTM_DELLINK, NLM_F_ACK, linkHeader(ifindex), `remove link ${ifindex}`);
  }
}
