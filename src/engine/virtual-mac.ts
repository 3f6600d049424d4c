// keepalived's use_vmac in the engine: each instance with a virtual MAC gets a macvlan of its
// interface carrying RFC 5798's MAC (00:00:5e:00:01:VRID, IPv4; ...:02:VRID, IPv6), made when the
// engine starts and removed when it stops. The master binds its addresses there, so neighbours
// learn that MAC and keep it across a failover: whichever node is master answers for it.
//
// Private mode, as keepalived: a frame whose source is our own macvlan's MAC (the other node's
// adverts, sent from the same virtual MAC) is handed to that macvlan instead of being dropped as
// our own echo, so a backup hears the master on the macvlan. The macvlan stays up while the
// instance runs, in every state; in backup it holds no address and answers nothing.
//
// Every macvlan carries the alias "vipkeeper vmac <instance> engine <pid>", so that the supervisor
// (the engine died) and a later agent (leftovers) remove only what vipkeeper made, and an
// interface of the same name that is not ours is refused rather than taken over.
import type { Logger } from "pino";
import { RtNetlink } from "../net/rtnetlink.ts";
import { IN6_ADDR_GEN_MODE_NONE, MACVLAN_MODE_PRIVATE, type LinkInfo } from "../net/netlink.ts";
import { errnoCode } from "../net/native.ts";
import type { InstancePlan } from "../plan/plan.ts";

export const VMAC_ALIAS_PREFIX = "vipkeeper vmac ";

export class VirtualMacError extends Error {}

/**
 * "vipkeeper vmac <instance> engine <pid>": the engine that made it is part of the mark, so that an
 * engine stopping a router never removes the macvlan a newer engine made for it meanwhile (a
 * reload starts the changed router in a new engine while the old one stops it).
 */
const aliasOf = (plan: InstancePlan, pid: number) => `${instancePrefix(plan)}engine ${pid}`;
const instancePrefix = (plan: InstancePlan) => `${VMAC_ALIAS_PREFIX}${plan.key} `;
const macBytes = (mac: string) => Buffer.from(mac.split(":").map((h) => parseInt(h, 16)));

/**
 * The settings a virtual MAC needs (keepalived's among them), set through netlink (no /proc/sys
 * write, which an unprivileged container cannot make). On the parent: answer ARP only for
 * addresses on the interface asked (arp_ignore 1; the virtual addresses live on the macvlan, and
 * the parent would otherwise answer for them with its own MAC), and never put a virtual address in
 * the parent's own ARP requests (arp_announce 2), which would teach neighbours the parent's MAC.
 * They are left set when the macvlan goes: another router's macvlan on the same parent may still
 * need them, and they change nothing for the parent's own addresses.
 */
export const PARENT_SETTINGS = { arp_ignore: 1, arp_filter: 1, arp_announce: 2 };

/**
 * On the macvlan: answer ARP only for its own (virtual) addresses, whatever the route back
 * (arp_filter 0: the route to the segment leaves by the parent); accept adverts whose source routes
 * through the parent (rp_filter 0) and a local source (accept_local); and no IPv6 address of its
 * own (address generation none), which every node's macvlan would share and defend with the same MAC.
 */
export const VMAC_SETTINGS = { arp_ignore: 1, arp_filter: 0, rp_filter: 0, accept_local: 1 };

export interface VirtualMacs {
  /** Removes the macvlans made (their addresses go with them). */
  remove(): Promise<string[]>;
}

/**
 * Makes the macvlan of every plan with a virtual MAC, set up and up. One of ours left by a dead
 * engine is made again; a foreign interface of that name is an error. On any failure it removes
 * what it made before throwing, so a failed start leaves no macvlan behind.
 */
export async function createVirtualMacs(plans: readonly InstancePlan[], log: Logger): Promise<VirtualMacs> {
  const wanted = plans.filter((p) => p.vmac);
  const made: InstancePlan[] = [];
  const madeIndexes: number[] = [];
  const remove = () => removeVirtualMacs(made, process.pid, log);
  if (wanted.length === 0) return { remove };
  const nl = new RtNetlink();
  try {
    const links = await nl.links();
    for (const plan of wanted) {
      const vmac = plan.vmac!;
      const parent = links.find((l) => l.name === plan.interfaceName);
      if (!parent) throw new VirtualMacError(`interface ${plan.interfaceName} does not exist`);
      const existing = links.find((l) => l.name === vmac.name);
      if (existing && !existing.alias?.startsWith(instancePrefix(plan)))
        throw new VirtualMacError(
          `interface ${vmac.name} exists and is not the virtual MAC vipkeeper made for ${plan.key}`,
        );
      if (existing) {
        log.warn(
          { instance: plan.key, interface: vmac.name },
          "removing the virtual MAC an earlier run left",
        );
        await nl.removeLink(existing.ifindex);
      }
      await nl.addMacvlan({
        name: vmac.name,
        parentIfindex: parent.ifindex,
        mac: macBytes(vmac.mac),
        mode: MACVLAN_MODE_PRIVATE,
      });
      const link = (await nl.links()).find((l) => l.name === vmac.name);
      if (!link) throw new VirtualMacError(`interface ${vmac.name} vanished as it was made`);
      // Removed by index if the alias never lands (a removal by alias would not find it).
      made.push(plan);
      madeIndexes.push(link.ifindex);
      await nl.setLinkAlias(link.ifindex, aliasOf(plan, process.pid));
      await nl.setDevconf(parent.ifindex, PARENT_SETTINGS);
      await nl.setDevconf(link.ifindex, VMAC_SETTINGS, IN6_ADDR_GEN_MODE_NONE);
      await nl.setLinkUp(link.ifindex, true);
      log.info(
        { instance: plan.key, interface: vmac.name, mac: vmac.mac, parent: plan.interfaceName },
        "virtual MAC interface made",
      );
    }
    return { remove };
  } catch (err) {
    for (const ifindex of madeIndexes) await nl.removeLink(ifindex).catch(() => undefined);
    throw err;
  } finally {
    nl.close();
  }
}

/**
 * Removes these plans' macvlans that engine `pid` made (by alias); one already gone, or made again
 * by another engine since, is left.
 */
export async function removeVirtualMacs(
  plans: readonly InstancePlan[],
  pid: number,
  log?: Logger,
): Promise<string[]> {
  const aliases = new Set(plans.filter((p) => p.vmac).map((p) => aliasOf(p, pid)));
  if (aliases.size === 0) return [];
  return removeLinks((l) => l.alias !== undefined && aliases.has(l.alias), log);
}

/** Removes every macvlan vipkeeper made in this network namespace (what an earlier run left). */
export function removeMarkedVirtualMacs(log?: Logger): Promise<string[]> {
  return removeLinks((l) => l.alias?.startsWith(VMAC_ALIAS_PREFIX) ?? false, log);
}

async function removeLinks(which: (l: LinkInfo) => boolean, log?: Logger): Promise<string[]> {
  const nl = new RtNetlink();
  try {
    const removed: string[] = [];
    for (const link of (await nl.links()).filter(which)) {
      try {
        await nl.removeLink(link.ifindex);
        removed.push(link.name);
        log?.info({ interface: link.name }, "virtual MAC interface removed");
      } catch (err) {
        if (errnoCode(err) !== "ENODEV") throw err;
      }
    }
    return removed;
  } finally {
    nl.close();
  }
}
