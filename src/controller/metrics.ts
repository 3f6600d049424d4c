// The controller's Prometheus metrics: reconciles by kind and result, their duration, leadership.
import type { Server } from "node:http";
import { serveMetrics } from "../observe/http-endpoint.ts";
import { Counter, Gauge, Histogram, Registry } from "../observe/prom.ts";
import { collectProcessMetrics } from "../observe/metrics.ts";

export class ControllerMetrics {
  readonly registry = new Registry();
  private readonly reconciles = new Counter({
    name: "vipkeeper_controller_reconciles_total",
    help: "Reconciles, by kind (router, service) and result (ok, error).",
    labelNames: ["kind", "result"],
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: "vipkeeper_controller_reconcile_duration_seconds",
    help: "Time to reconcile one key.",
    labelNames: ["kind"],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  private readonly leader = new Gauge({
    name: "vipkeeper_controller_leader",
    help: "1 while this replica leads.",
    registers: [this.registry],
  });

  constructor() {
    collectProcessMetrics(this.registry, "vipkeeper_controller_");
    // Every kind's ok and error series exist from the start, at 0: an alert on the error rate
    // sees the first error, and a scrape shows what is counted.
    for (const kind of ["router", "service"])
      for (const result of ["ok", "error"]) this.reconciles.inc({ kind, result }, 0);
  }

  leading(on: boolean): void {
    this.leader.set(on ? 1 : 0);
  }

  async timed(kind: string, fn: () => Promise<void>): Promise<void> {
    const end = this.duration.startTimer({ kind });
    try {
      await fn();
      this.reconciles.inc({ kind, result: "ok" });
    } catch (err) {
      this.reconciles.inc({ kind, result: "error" });
      throw err;
    } finally {
      end();
    }
  }

  serve(address: string): Promise<Server> {
    return serveMetrics(address, this.registry);
  }
}
