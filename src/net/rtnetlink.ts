// One NETLINK_ROUTE socket (netlink-socket.ts): addresses, links, routes and rules, and (when
// subscribed) link events. Errors reject with the errno name as `code` (EEXIST, ...).
import type { IpFamily } from "../base/ip.ts";
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
  devconfBody,
  macvlanBody,
  type MacvlanRequest,
  type AddressInfo,
  type AddressRequest,
  type LinkInfo,
  type NetlinkMessage,
} from "./netlink.ts";

import {
  parseRoute,
  parseRule,
  routeBody,
  ruleBody,
  RTM_DELROUTE,
  RTM_DELRULE,
  RTM_GETROUTE,
  RTM_GETRULE,
  RTM_NEWROUTE,
  RTM_NEWRULE,
  type RouteInfo,
  type RouteRequest,
  type RuleRequest,
} from "./routes.ts";

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

  /** Per-interface IPv4 settings and IPv6 address generation mode (devconfBody). */
  async setDevconf(
    ifindex: number,
    ipv4: Parameters<typeof devconfBody>[1],
    addrGenMode?: number,
  ): Promise<void> {
    await this.request(
      RTM_SETLINK,
      NLM_F_ACK,
      devconfBody(ifindex, ipv4, addrGenMode),
      `configure link ${ifindex}`,
    );
  }

  async setLinkAlias(ifindex: number, alias: string): Promise<void> {
    await this.request(RTM_SETLINK, NLM_F_ACK, aliasBody(ifindex, alias), `set alias of link ${ifindex}`);
  }

  async removeLink(ifindex: number): Promise<void> {
    await this.request(RTM_DELLINK, NLM_F_ACK, linkHeader(ifindex), `remove link ${ifindex}`);
  }

  /** Adds a route (vipkeeper's protocol); EEXIST when one with its destination, table and metric is there. */
  async addRoute(req: RouteRequest): Promise<void> {
    await this.request(
      RTM_NEWROUTE,
      NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
      routeBody(req),
      `add route ${prefix(req.to)}`,
    );
  }

  /** Removes vipkeeper's route (ESRCH when there is none: the kernel matches the protocol too). */
  async removeRoute(req: RouteRequest): Promise<void> {
    await this.request(RTM_DELROUTE, NLM_F_ACK, routeBody(req), `remove route ${prefix(req.to)}`);
  }

  async addRule(req: RuleRequest): Promise<void> {
    await this.request(
      RTM_NEWRULE,
      NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
      ruleBody(req),
      `add rule to table ${req.table}`,
    );
  }

  async removeRule(req: RuleRequest): Promise<void> {
    await this.request(RTM_DELRULE, NLM_F_ACK, ruleBody(req), `remove rule to table ${req.table}`);
  }

  /** Every route of every table, for the leftover sweep. */
  async routes(): Promise<RouteInfo[]> {
    const replies = await this.request(RTM_GETROUTE, NLM_F_DUMP, Buffer.alloc(12), "list routes");
    return replies.map(parseRoute).filter((r): r is RouteInfo => r !== undefined);
  }

  async rules(): Promise<{ protocol: number; body: Buffer }[]> {
    const replies = await this.request(RTM_GETRULE, NLM_F_DUMP, Buffer.alloc(12), "list rules");
    return replies.map(parseRule).filter((r) => r !== undefined);
  }

  /** Sends a dumped route or rule back as a removal. */
  async removeDumped(kind: "route" | "rule", body: Buffer): Promise<void> {
    await this.request(
      kind === "route" ? RTM_DELROUTE : RTM_DELRULE,
      NLM_F_ACK,
      body,
      `remove a left ${kind}`,
    );
  }
}

const prefix = (p: { address: string; prefixLength: number }) => `${p.address}/${p.prefixLength}`;
