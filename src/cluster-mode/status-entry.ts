// This node's entry of a router's status.nodes, from its engine's report.
import type { InstanceEntry, NodeEntry, NodeState } from "../cluster/status.ts";
import type { VrrpState } from "../vrrp/instance.ts";
import type { InstanceStatus } from "../observe/events.ts";
import { kubeTime } from "../base/time.ts";

const STATE: Record<VrrpState, NodeState> = {
  initialize: "Init",
  backup: "Backup",
  master: "Master",
  fault: "Fault",
};

/** The entry the agent writes from its engine's report (times are epoch ms). */
export function nodeEntry(node: string, instances: readonly InstanceStatus[], message?: string): NodeEntry {
  if (instances.length === 0) return { name: node, state: "Stopped", ...(message ? { message } : {}) };
  const per = instances.map((i): InstanceEntry & { raw: InstanceStatus } => ({
    raw: i,
    family: i.key.endsWith("/ipv6") ? "IPv6" : "IPv4",
    state: STATE[i.state],
    effectivePriority: i.effectivePriority,
    since: kubeTime(i.since),
    ...(i.lastAdvertFrom !== undefined && i.lastAdvertHeardAt !== undefined
      ? {
          lastAdvertHeard: {
            from: i.lastAdvertFrom,
            priority: i.lastAdvertPriority ?? 0,
            at: kubeTime(i.lastAdvertHeardAt),
          },
        }
      : {}),
  }));
  // The node's state is its IPv4 instance's (or the only one's); Master wins if any family is master.
  const lead = per.find((p) => p.state === "Master") ?? per[0]!;
  const announced = Math.max(...instances.map((i) => i.lastAnnounceAt ?? 0));
  // Either family's newest: the controller needs only to know someone else speaks.
  const foreign = instances
    .map((i) => i.lastForeignAdvert)
    .filter((f) => f !== undefined)
    .sort((a, b) => b.at - a.at)[0];
  const entry: NodeEntry = {
    name: node,
    state: lead.state,
    priority: lead.raw.priority,
    effectivePriority: lead.effectivePriority,
    interface: lead.raw.interfaceName,
    since: lead.since,
    ...(lead.lastAdvertHeard ? { lastAdvertHeard: lead.lastAdvertHeard } : {}),
    ...(foreign
      ? { lastForeignAdvert: { from: foreign.from, priority: foreign.priority, at: kubeTime(foreign.at) } }
      : {}),
    ...(announced > 0 ? { lastGratuitousArp: kubeTime(announced) } : {}),
    ...(message ? { message } : {}),
    checks: checksOf(instances),
  };
  if (per.length > 1) entry.instances = per.map(({ raw: _raw, ...rest }) => rest);
  return entry;
}

/** The node's tracked objects and the failing ones, as "kind/name" (interface/eth1, script/web/chk). */
function checksOf(instances: readonly InstanceStatus[]): NonNullable<NodeEntry["checks"]> {
  const all = new Map<string, boolean>();
  for (const i of instances)
    for (const t of i.tracked ?? [])
      all.set(t.name.replace(" ", "/"), (all.get(t.name.replace(" ", "/")) ?? true) && t.healthy);
  const failing = [...all].filter(([, ok]) => !ok).map(([name]) => name);
  return { total: all.size, failing: failing.slice(0, 64) };
}
