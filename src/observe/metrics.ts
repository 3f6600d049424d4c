// Prometheus metrics of the agent's VRRP engines (prom-client): read at scrape time from what the
// engines report (agent/agent-metrics.ts), so the VRRP path only bumps its own counters and never
// waits on an exporter.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "./prom.ts";
import type { InstanceStatus, TransitionEvent } from "./events.ts";
import type { CounterEntry } from "../base/counters.ts";
import { instanceLabels } from "../plan/instance-key.ts";

const STATES = ["initialize", "backup", "master", "fault"] as const;

/** What the metrics read from the engine. */
export interface MetricsSource {
  counters: { entries(): CounterEntry[] };
  status(): InstanceStatus[];
}

const HELP: Record<string, string> = {
  adverts_sent: "VRRP adverts sent.",
  adverts_received: "VRRP adverts received and accepted.",
  drops: "VRRP packets dropped, by reason.",
  transitions: "State transitions, by target state.",
  announcements: "Gratuitous ARP / unsolicited NA bursts sent.",
  send_errors: "Adverts the kernel refused to send.",
  address_errors: "Address binds or releases that failed.",
  address_mismatch: "v3 adverts whose address list differs from ours (logged, not dropped).",
  split_brains: "Split-brain episodes seen: two masters advertising alternately within 1.5 advert intervals.",
  notifications: "Webhooks and mails about transitions, by channel and result.",
};

/** Labels beside the instance's `router` and `family`. */
const LABELS: Record<string, string[]> = {
  drops: ["reason"],
  transitions: ["to"],
  address_errors: ["op"],
  notifications: ["channel", "result"],
};

/** A counter's labels for Prometheus: its instance key as `router` and `family`. */
function promLabels(labels: Record<string, string>): Record<string, string> {
  const { instance, ...rest } = labels;
  return instance === undefined ? rest : { ...instanceLabels(instance), ...rest };
}

/**
 * How often the event loop's lag is sampled (prom-client's default, 10 ms, wakes the process 100
 * times a second: 0.25 CPU s/min in an idle Node process, more than the rest of an agent's main
 * process; at 100 ms, 0.04). A block of the loop shorter than this can fall between two samples.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

/**
 * prom-client's process and Node.js metrics under `prefix`, less the three gauges it names
 * `*_total` (nodejs_active_handles_total, _requests_total, _resources_total): `promtool check
 * metrics` refuses a _total suffix on anything but a counter, and each is the sum of the gauge of
 * the same name without it, by type, which stays.
 */
export function collectProcessMetrics(registry: Registry, prefix: string): void {
  collectDefaultMetrics({ register: registry, prefix, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  for (const name of ["active_handles_total", "active_requests_total", "active_resources_total"])
    registry.removeSingleMetric(`${prefix}nodejs_${name}`);
}

export class VrrpMetrics {
  readonly registry = new Registry();
  private readonly failover: Histogram;

  constructor(source: MetricsSource, labels: Record<string, string> = {}) {
    this.registry.setDefaultLabels(labels);
    collectProcessMetrics(this.registry, "vipkeeper_");
    for (const [name, help] of Object.entries(HELP)) {
      const metric = `vipkeeper_vrrp_${name}_total`;
      new Counter({
        name: metric,
        help,
        labelNames: ["router", "family", ...(LABELS[name] ?? [])],
        registers: [this.registry],
        collect() {
          this.reset();
          // Every instance's transitions to each state exist from the start, at 0, so that
          // increase() sees the first one.
          if (name === "transitions")
            for (const i of source.status())
              for (const to of STATES) this.inc({ ...instanceLabels(i.key), to }, 0);
          for (const e of source.counters.entries())
            if (e.name === name) this.inc(promLabels(e.labels), e.value);
        },
      });
    }
    new Gauge({
      name: "vipkeeper_vrrp_instance_state",
      help: "1 for the instance's current state, 0 for the others.",
      labelNames: ["router", "family", "state"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const i of source.status())
          for (const s of STATES) this.set({ ...instanceLabels(i.key), state: s }, i.state === s ? 1 : 0);
      },
    });
    new Gauge({
      name: "vipkeeper_vrrp_split_brain",
      help: "1 while this node hears two masters advertising alternately (within 1.5 advert intervals), else 0.",
      labelNames: ["router", "family"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const i of source.status()) this.set(instanceLabels(i.key), i.splitBrain ? 1 : 0);
      },
    });
    new Gauge({
      name: "vipkeeper_vrrp_effective_priority",
      help: "Priority after tracking weights (what the instance advertises).",
      labelNames: ["router", "family"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const i of source.status()) this.set(instanceLabels(i.key), i.effectivePriority);
      },
    });
    new Gauge({
      name: "vipkeeper_vrrp_addresses_bound",
      help: "Virtual addresses the instance holds on this node now.",
      labelNames: ["router", "family"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const i of source.status())
          this.set(instanceLabels(i.key), i.holdsAddresses ? i.addresses.length : 0);
      },
    });
    this.failover = new Histogram({
      name: "vipkeeper_vrrp_failover_seconds",
      help: "Observed failovers: from the old master's last advert to this node becoming master.",
      labelNames: ["router", "family"],
      buckets: [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2, 3, 4, 5, 10],
      registers: [this.registry],
    });
  }

  /** Feed every transition here: failovers are observed from it. */
  observe(event: TransitionEvent): void {
    if (event.to === "master" && event.sinceLastAdvertMs !== undefined)
      this.observeFailover(event.plan.key, event.sinceLastAdvertMs);
  }

  observeFailover(instance: string, ms: number): void {
    this.failover.observe(instanceLabels(instance), ms / 1000);
  }
}
