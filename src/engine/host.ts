// The real network of this host for the engine: VRRP sockets per interface and family, addresses
// through rtnetlink, announcements, and link state from kernel events.
import type { Logger } from "pino";
import type { IpFamily } from "../base/ip.ts";
import type { ReceivedPacket } from "../vrrp/receive.ts";
import { Announcer } from "../net/announce.ts";
import { RtNetlink } from "../net/rtnetlink.ts";
import {
  IFAPROT_VIPKEEPER,
  RTMGRP_LINK,
  parseLink,
  type AddressInfo,
  type LinkInfo,
} from "../net/netlink.ts";
import { VrrpSocket } from "../net/vrrp-socket.ts";
import { errnoCode } from "../net/native.ts";
import type { AddressPort, AnnouncePort, RoutePort, VrrpPort } from "./engine.ts";
import { hostRoutes } from "./routes.ts";
import { linksOf, vrrpDevice, type InstancePlan, type PlannedAddress } from "../plan/plan.ts";
import { AddressKeeper, type AddressLifetime } from "./address-keeper.ts";

export interface HostNetwork {
  vrrpPort(plan: InstancePlan): VrrpPort;
  addresses: AddressPort;
  announcer: AnnouncePort;
  routes: RoutePort;
  /** This host's own addresses (not the virtual ones), canonical, as of the last use(). */
  readonly localAddresses: ReadonlySet<string>;
  /**
   * Serves these plans from now on: opens the sockets of interfaces new to it, and closes those no
   * instance uses any more or whose interface was made again (a virtual MAC's macvlan).
   */
  use(plans: readonly InstancePlan[]): Promise<void>;
  /** Whether the interface was up at the last use() or link event. */
  linkUp(name: string): boolean;
  /**
   * Calls back on each change of an interface the plans in use follow (the state when an instance
   * starts is linkUp()'s: subscribe before the first use()).
   */
  watchLinks(onLink: (name: string, up: boolean) => void): void;
  /** Reads every VRRP socket's waiting input now (before a deadline is acted on). */
  drain(): void;
  close(): void;
}

/** The longest a VRRP socket waits between reads (see readPauseMs). */
export const MAX_READ_PAUSE_MS = 10;

/**
 * How long a VRRP socket waits after each read before the next: a twentieth of the shortest
 * advert interval of the instances it serves, at most MAX_READ_PAUSE_MS (whole milliseconds:
 * libuv's timers; 0 below 20 ms intervals). A backup of 255 routers at 100 ms hears ~2,500
 * adverts a second, and woken for each it spends more on wakeups than on the adverts; read every
 * 5 ms, it wakes at most 200 times a second. An advert is then acted on up to 5% of an interval
 * late: a master's resignation is taken over a few ms later, never a master lost, because the
 * engine reads what waits before acting on any deadline (drain).
 */
export function readPauseMs(plans: readonly InstancePlan[]): number {
  if (plans.length === 0) return 0;
  const shortest = Math.min(...plans.map((p) => p.advertIntervalMs));
  return Math.min(MAX_READ_PAUSE_MS, Math.floor(shortest / 20));
}

export type PacketHandler = (interfaceName: string, family: IpFamily, packet: ReceivedPacket) => void;

export class HostNetworkError extends Error {}

/**
 * The address VRRP speaks from: the first IPv4 address of the interface; for IPv6 its link-local
 * (RFC 9568 5.1.2.1), except for unicast, where peers know each other by global address (as
 * keepalived's unicast_src_ip / unicast_peer lists do).
 */
export function pickSourceAddress(
  addresses: readonly AddressInfo[],
  ifindex: number,
  family: IpFamily,
  virtual: ReadonlySet<string>,
  unicast = false,
): string | undefined {
  const own = addresses.filter(
    (a) => a.ifindex === ifindex && a.family === family && !virtual.has(a.address),
  );
  if (family === 6 && !unicast) return own.find((a) => a.address.startsWith("fe80:"))?.address;
  return own.find((a) => a.scope === 0)?.address;
}

export interface HostNetworkOptions {
  /**
   * Bind virtual addresses with this lifetime and renew them while held (the engine); absent:
   * permanent addresses (the supervisor's resign path only releases, and the switch can be off).
   */
  addressLifetime?: AddressLifetime;
  /**
   * A datagram the VRRP socket dropped before decoding (truncated, bad IP header, fragment, no
   * source): the engine counts it with the drops of its own checks.
   */
  onDrop?(reason: string): void;
}

export async function openHostNetwork(
  plans: readonly InstancePlan[],
  log: Logger,
  onPacket: PacketHandler | undefined,
  options: HostNetworkOptions = {},
): Promise<HostNetwork> {
  const nl = new RtNetlink();
  const closers: (() => void)[] = [() => nl.close()];
  const close = () => {
    for (const c of closers.splice(0).reverse()) c();
  };
  let links = new Map<string, LinkInfo>();
  let current: readonly InstancePlan[] = [];
  let localAddresses: ReadonlySet<string> = new Set();
  const linkState = new Map<string, boolean>();
  const linkOf = (name: string): LinkInfo => {
    const link = links.get(name);
    if (!link) throw new HostNetworkError(`interface ${name} does not exist`);
    return link;
  };
  // Where an instance speaks: its virtual MAC's interface, or its own. The supervisor's resign
  // path (no receiving) may find the macvlan gone with its dead engine; the interface serves then.
  const deviceOf = (plan: InstancePlan) => {
    const dev = vrrpDevice(plan);
    return onPacket === undefined && !links.has(dev) ? plan.interfaceName : dev;
  };
  const socketKey = (plan: InstancePlan) => `${deviceOf(plan)}/${plan.family}`;
  interface OpenSocket {
    socket: VrrpSocket;
    ifindex: number;
    unicastOnly: boolean;
  }
  const sockets = new Map<string, OpenSocket>();
  const announcers = new Map<string, { announcer: Announcer; ifindex: number }>();

  const use = async (plans: readonly InstancePlan[]) => {
    links = new Map((await nl.links()).map((l) => [l.name, l]));
    for (const l of links.values()) linkState.set(l.name, l.up);
    const addresses = await nl.addresses();
    const virtual = new Set(plans.flatMap((p) => p.addresses.map((a) => a.address)));
    // Sockets and announcers of interfaces no longer used, or made again since (a new ifindex).
    const wanted = new Set(plans.map(socketKey));
    for (const [key, s] of sockets) {
      const device = key.slice(0, key.lastIndexOf("/"));
      if (wanted.has(key) && links.get(device)?.ifindex === s.ifindex) continue;
      s.socket.close();
      sockets.delete(key);
    }
    for (const [dev, a] of announcers)
      if (links.get(dev)?.ifindex !== a.ifindex) {
        a.announcer.close();
        announcers.delete(dev);
      }
    for (const plan of plans) {
      const device = deviceOf(plan);
      const key = socketKey(plan);
      const sameSocket = plans.filter((p) => socketKey(p) === key);
      // One socket, one source: a mix of multicast and unicast IPv6 instances on one interface
      // speaks from the link-local address.
      const unicastOnly = sameSocket.every((p) => p.unicastPeers.length > 0);
      const open = sockets.get(key);
      if (open && open.unicastOnly === unicastOnly) continue;
      // The source is the interface's address even when the macvlan sends: it has none of its own.
      const link = linkOf(plan.interfaceName);
      const dev = linkOf(device);
      const source = pickSourceAddress(addresses, link.ifindex, plan.family, virtual, unicastOnly);
      if (!source)
        throw new HostNetworkError(
          `interface ${plan.interfaceName} has no ${plan.family === 4 ? "IPv4 address" : unicastOnly ? "global IPv6 address" : "IPv6 link-local address"} to send VRRP from`,
        );
      // A socket whose mix of unicast and multicast instances changed is opened again (the
      // instances already running keep the source they were made with).
      open?.socket.close();
      const socket = new VrrpSocket({
        family: plan.family,
        interfaceName: device,
        sourceAddress: source,
        multicast: onPacket !== undefined && !unicastOnly,
        // The supervisor's resign sockets only send.
        receive: onPacket !== undefined,
        foreignSource: device !== plan.interfaceName,
        onPacket: (packet) => onPacket?.(device, plan.family, packet),
        onDrop: (reason, detail) => {
          options.onDrop?.(reason);
          log.debug({ interface: device, reason, detail }, "packet dropped");
        },
      });
      sockets.set(key, { socket, ifindex: dev.ifindex, unicastOnly });
    }
    // Each socket, new or kept, waits as its instances now ask.
    for (const [key, s] of sockets)
      s.socket.setReadPause(readPauseMs(plans.filter((p) => socketKey(p) === key)));
    current = plans;
    localAddresses = new Set(addresses.filter((a) => !virtual.has(a.address)).map((a) => a.address));
  };
  closers.push(() => {
    for (const s of sockets.values()) s.socket.close();
    for (const a of announcers.values()) a.announcer.close();
  });

  try {
    await use(plans);
    const announcerFor = (dev: string) => {
      let a = announcers.get(dev);
      if (!a) {
        const link = linkOf(dev);
        if (!link.mac) throw new HostNetworkError(`interface ${dev} has no link-layer address`);
        a = { announcer: new Announcer(dev, link.mac), ifindex: link.ifindex };
        announcers.set(dev, a);
      }
      return a.announcer;
    };

    const request = (a: PlannedAddress) => ({
      ifindex: linkOf(a.dev).ifindex,
      family: a.family,
      address: a.address,
      prefixLength: a.prefixLength,
      nodad: true,
      ...(a.label !== undefined ? { label: a.label } : {}),
    });

    // Every virtual address carries vipkeeper's mark (IFA_PROTO), so that a later run can tell it
    // from the node's own addresses (removeMarkedAddresses).
    const keeper = new AddressKeeper(
      {
        async put(a, lifetimeSec) {
          await nl.replaceAddress({
            ...request(a),
            proto: IFAPROT_VIPKEEPER,
            ...(lifetimeSec !== undefined ? { lifetimeSec } : {}),
          });
        },
        async remove(a) {
          try {
            await nl.removeAddress(request(a));
          } catch (err) {
            // Gone already, or with its interface (a virtual MAC's macvlan removed by its engine).
            if (err instanceof HostNetworkError) return;
            if (!["EADDRNOTAVAIL", "ENODEV"].includes(errnoCode(err) ?? "")) throw err;
          }
        },
      },
      options.addressLifetime,
      log,
    );
    closers.push(() => keeper.close());
    const addressPort: AddressPort = keeper;

    const announcer: AnnouncePort = {
      announce(a) {
        try {
          announcerFor(a.dev).announce(a.address);
        } catch (err) {
          log.warn({ address: a.address, dev: a.dev, err: (err as Error).message }, "announcement not sent");
        }
      },
    };

    return {
      vrrpPort(plan) {
        const key = socketKey(plan);
        const socket = sockets.get(key)?.socket;
        if (!socket) throw new HostNetworkError(`no VRRP socket on ${key} (the plan is not in use)`);
        // Looked up at each send: the socket may be opened again (use()).
        return {
          sourceAddress: socket.sourceAddress,
          send: (payload, dst) => (sockets.get(key)?.socket ?? socket).send(payload, dst),
        };
      },
      addresses: addressPort,
      announcer,
      routes: hostRoutes(nl, (name) => links.get(name)?.ifindex, log),
      get localAddresses() {
        return localAddresses;
      },
      use,
      drain() {
        for (const s of sockets.values()) s.socket.drain();
      },
      linkUp: (name) => linkState.get(name) ?? false,
      watchLinks(onLink) {
        const reported = new Map<string, boolean>();
        const events = new RtNetlink(RTMGRP_LINK);
        closers.push(() => events.close());
        events.onEvent = (msg) => {
          const link = parseLink(msg);
          if (!link) return;
          linkState.set(link.name, link.up);
          // Only the interfaces of the plans in use at each event: routers come and go.
          if (!current.some((p) => linksOf(p).includes(link.name)) || reported.get(link.name) === link.up)
            return;
          reported.set(link.name, link.up);
          onLink(link.name, link.up);
        };
      },
      close,
    };
  } catch (err) {
    close();
    throw err;
  }
}

/**
 * Removes every address in this network namespace that carries vipkeeper's mark: what an earlier
 * run left (an agent starts holding nothing; its engines bind as they become master). Returns what
 * it removed, as `address/prefix`.
 */
export async function removeMarkedAddresses(): Promise<string[]> {
  const nl = new RtNetlink();
  try {
    const removed: string[] = [];
    for (const a of await nl.addresses()) {
      if (a.proto !== IFAPROT_VIPKEEPER) continue;
      try {
        await nl.removeAddress(a);
        removed.push(`${a.address}/${a.prefixLength}`);
      } catch (err) {
        if (errnoCode(err) !== "EADDRNOTAVAIL") throw err;
      }
    }
    return removed;
  } finally {
    nl.close();
  }
}
