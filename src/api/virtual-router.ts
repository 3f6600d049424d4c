// The VirtualRouter object (vipkeeper.io/v1alpha1): its names and its validation, of structure (the
// code generated from its schema, schema/virtual-router.ts) and of meaning.
import { familyOf, type IpFamily } from "../base/ip.ts";
import { parseDuration } from "./duration.ts";
import type { FieldError } from "./field-errors.ts";
import { parseCidr } from "../base/ip.ts";
import { validateRoutesAndRules } from "./routes.ts";
import type { VirtualRouter } from "./schema/virtual-router.ts";
import { structuralErrors } from "./structural.ts";

export type { VirtualAddress, VirtualRouterSpec, VirtualRouter } from "./schema/virtual-router.ts";
export { KEEPALIVED_INSTANCE_ANNOTATION } from "./annotations.ts";

export {
  ADDRESS_MAX,
  API_VERSION,
  DURATION_PATTERN,
  GROUP,
  INTERFACE_NAME_PATTERN,
  VERSION,
} from "./constants.ts";

/** Structure (schema) and meaning (addresses, families, units) of one VirtualRouter; [] when valid. */
export function validateVirtualRouter(obj: unknown): FieldError[] {
  const structural = structuralErrors("VirtualRouter", obj);
  if (structural.length > 0) return structural;
  const { spec } = obj as VirtualRouter;
  const errors: FieldError[] = [];
  const err = (field: string, message: string) => errors.push({ field: `spec.${field}`, message });
  const version = spec.version ?? 3;
  const families = new Set<IpFamily>();
  const seen = new Map<string, number>();
  spec.addresses.forEach((a, i) => {
    const cidr = parseCidr(a.address);
    if (!cidr)
      return err(
        `addresses[${i}].address`,
        `'${a.address}' is not an IPv4 or IPv6 address with an optional /prefix`,
      );
    families.add(cidr.family);
    const first = seen.get(cidr.address);
    if (first !== undefined)
      err(`addresses[${i}].address`, `${cidr.address} is already listed at spec.addresses[${first}]`);
    else seen.set(cidr.address, i);
    if (version === 2 && cidr.family === 6)
      err("version", `VRRPv2 is IPv4 only, but spec.addresses[${i}] is ${a.address}`);
    // An address without a dev of its own goes on the virtual MAC's interface (IPv4: vrrp.<vrid>).
    const vmacName =
      spec.virtualMAC &&
      (spec.virtualMAC.interface ?? (spec.vrid !== undefined ? `vrrp.${spec.vrid}` : undefined));
    const dev = a.dev ?? (spec.virtualMAC ? vmacName : spec.interface);
    if (a.label !== undefined) {
      if (cidr.family === 6) err(`addresses[${i}].label`, "labels exist for IPv4 addresses only");
      else if (dev !== undefined && !a.label.startsWith(dev))
        err(`addresses[${i}].label`, `'${a.label}' must start with the interface name '${dev}'`);
      if (a.label.length > 15) err(`addresses[${i}].label`, `'${a.label}' is longer than 15 characters`);
    }
  });
  const interval = parseDuration(spec.advertInterval ?? "1s");
  if (interval !== undefined) {
    if (version === 2 && (interval % 1000 !== 0 || interval < 1000 || interval > 255_000))
      err("advertInterval", `VRRPv2 needs whole seconds from 1s to 255s, got ${spec.advertInterval}`);
    if (version === 3 && (interval % 10 !== 0 || interval < 10 || interval > 40_950))
      err("advertInterval", `VRRPv3 needs 10ms to 40.95s in steps of 10ms, got ${spec.advertInterval}`);
  }
  if (spec.authentication && version !== 2)
    err("authentication", "PASS authentication exists in VRRPv2 only (set spec.version: 2)");
  if (spec.authentication && !spec.authentication.password && !spec.authentication.secretRef)
    err("authentication", "needs a password or a secretRef");
  if (spec.notify?.syncGroupScripts && spec.syncGroup === undefined)
    err("notify.syncGroupScripts", "runs on a sync group's transitions: set spec.syncGroup too");
  const nodes = new Map<string, number>();
  spec.priorities?.forEach((p, i) => {
    const first = nodes.get(p.node);
    if (first !== undefined)
      err(`priorities[${i}].node`, `node ${p.node} is already listed at spec.priorities[${first}]`);
    else nodes.set(p.node, i);
  });
  // 255 says "I own the addresses": one owner, or two masters that never yield to each other.
  const owners = (spec.priorities ?? []).flatMap((p, i) => (p.priority === 255 ? [i] : []));
  for (const i of owners.slice(1))
    err(
      `priorities[${i}].priority`,
      `255 is for the one address owner, and spec.priorities[${owners[0]}] already has it`,
    );
  const scriptNames = new Map<string, number>();
  spec.track?.scripts?.forEach((t, i) => {
    const first = scriptNames.get(t.name);
    if (first !== undefined)
      err(`track.scripts[${i}].name`, `${t.name} is already used by spec.track.scripts[${first}]`);
    else scriptNames.set(t.name, i);
  });
  spec.unicast?.peers?.forEach((peer, i) => {
    const family = familyOf(peer);
    if (family === undefined) err(`unicast.peers[${i}]`, `'${peer}' is not an IP address`);
    else if (!families.has(family))
      err(`unicast.peers[${i}]`, `${peer} is IPv${family}, but no address of that family is virtual`);
  });
  if (spec.virtualMAC?.interface !== undefined && families.size > 1)
    err(
      "virtualMAC.interface",
      "IPv4 and IPv6 run as two instances, each with its own virtual MAC and interface: leave the name out (vrrp.<vrid> and vrrp6.<vrid>) or split the router by family",
    );
  if (spec.virtualMAC?.interface !== undefined && spec.virtualMAC.interface === spec.interface)
    err(
      "virtualMAC.interface",
      `must differ from spec.interface (${spec.interface}): it names the macvlan made on it`,
    );
  validateRoutesAndRules(spec.routes, spec.rules, families, err);
  spec.virtualServers?.from.forEach((g, i) => {
    g.addresses?.forEach((a, j) => {
      if (!parseCidr(a))
        err(`virtualServers.from[${i}].addresses[${j}]`, `'${a}' is not an IPv4 or IPv6 address or CIDR`);
    });
    g.ports?.forEach((p, j) => {
      if (p.endPort !== undefined && p.endPort < p.port)
        err(`virtualServers.from[${i}].ports[${j}].endPort`, `${p.endPort} is below port ${p.port}`);
    });
  });
  return errors;
}
