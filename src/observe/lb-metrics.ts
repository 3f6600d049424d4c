// Prometheus metrics of the node's load balancer (prom-client), registered into the registry the
// agent already serves (VrrpMetrics.registry), so one /metrics shows VRRP and load balancing.
// Observations are plain in-memory updates: health checks and dataplane updates never wait on them.
import { Counter, Gauge, Histogram, type Registry } from "./prom.ts";

/** Check latencies from sub-millisecond loopback answers up to keepalived's default 5 s timeout. */
const CHECK_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** One nft transaction: milliseconds normally, more under load. */
const DATAPLANE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export const LB_METRICS = [
  "vipkeeper_lb_real_server_up",
  "vipkeeper_health_check_duration_seconds",
  "vipkeeper_lb_dataplane_update_seconds",
  "vipkeeper_lb_real_server_transitions_total",
];

export class LoadBalancerMetrics {
  private readonly up: Gauge;
  private readonly checks: Histogram;
  private readonly dataplane: Histogram;
  private readonly transitions: Counter;

  constructor(registry: Registry) {
    // A load balancer started again (cluster mode, its VirtualServers changed) takes the metrics
    // over: the old series describe services that may be gone.
    for (const name of LB_METRICS) registry.removeSingleMetric(name);
    const registers = [registry];
    this.up = new Gauge({
      name: "vipkeeper_lb_real_server_up",
      help: "1 while the real server passes its health check, 0 while it fails.",
      labelNames: ["virtual_server", "real_server"],
      registers,
    });
    this.checks = new Histogram({
      name: "vipkeeper_health_check_duration_seconds",
      help: "Time one health check attempt took, by check kind and result.",
      labelNames: ["kind", "result"],
      buckets: CHECK_BUCKETS,
      registers,
    });
    this.dataplane = new Histogram({
      name: "vipkeeper_lb_dataplane_update_seconds",
      help: "From a health change to the dataplane carrying it, by backend.",
      labelNames: ["backend"],
      buckets: DATAPLANE_BUCKETS,
      registers,
    });
    this.transitions = new Counter({
      name: "vipkeeper_lb_real_server_transitions_total",
      help: "Real server health changes, by target state.",
      labelNames: ["virtual_server", "real_server", "to"],
      registers,
    });
  }

  /** Real servers start healthy (until a check fails), as the load balancer programs them. */
  servers(list: readonly { service: string; server: string }[]): void {
    for (const s of list) this.up.set({ virtual_server: s.service, real_server: s.server }, 1);
  }

  check(kind: string, ok: boolean, seconds: number): void {
    this.checks.observe({ kind, result: ok ? "ok" : "failed" }, seconds);
  }

  change(service: string, server: string, healthy: boolean): void {
    this.up.set({ virtual_server: service, real_server: server }, healthy ? 1 : 0);
    this.transitions.inc({ virtual_server: service, real_server: server, to: healthy ? "up" : "down" });
  }

  /** Failed updates are logged by the load balancer, not timed. */
  dataplaneUpdate(backend: string, ok: boolean, seconds: number): void {
    if (ok) this.dataplane.observe({ backend }, seconds);
  }
}
