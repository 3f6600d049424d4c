// observe/prom.ts takes prom-client's parts from their own modules (its index would load the
// Pushgateway, and TLS): they are the very classes the package exports, so the types it declares
// for them hold; and its default metrics, composed without the module that loads OpenTelemetry,
// are the package's own, name for name.
import { createRequire } from "node:module";
import type * as PromClient from "prom-client";
import { describe, expect, it } from "vitest";
import * as prom from "../../src/observe/prom.ts";

describe("observe/prom.ts", () => {
  it("is prom-client's own Registry, Counter, Gauge and Histogram", () => {
    const index = createRequire(import.meta.url)("prom-client") as typeof PromClient;
    expect(prom.Registry).toBe(index.Registry);
    expect(prom.Counter).toBe(index.Counter);
    expect(prom.Gauge).toBe(index.Gauge);
    expect(prom.Histogram).toBe(index.Histogram);
  });

  it("collects the default metrics prom-client's collectDefaultMetrics does, with their types and help", async () => {
    const index = createRequire(import.meta.url)("prom-client") as typeof PromClient;
    const theirs = new index.Registry();
    index.collectDefaultMetrics({ register: theirs, prefix: "vk_" });
    const ours = new prom.Registry();
    prom.collectDefaultMetrics({ register: ours, prefix: "vk_", eventLoopMonitoringPrecision: 10 });
    const shape = async (r: PromClient.Registry) =>
      (await r.getMetricsAsJSON()).map((m) => `${m.name} ${m.type} ${m.help}`).sort();
    expect(await shape(ours)).toEqual(await shape(theirs));
    expect((await shape(ours)).length).toBeGreaterThan(20);
  });

  it("counts the process's CPU time", async () => {
    const registry = new prom.Registry();
    prom.collectDefaultMetrics({ register: registry, prefix: "", eventLoopMonitoringPrecision: 10 });
    const until = Date.now() + 50;
    while (Date.now() < until); // 50 ms of CPU
    const value = async (name: string) => (await registry.getSingleMetric(name)!.get()).values[0]!.value;
    const [user, system, total] = [
      await value("process_cpu_user_seconds_total"),
      await value("process_cpu_system_seconds_total"),
      await value("process_cpu_seconds_total"),
    ];
    expect(user).toBeGreaterThan(0.03);
    expect(total).toBeCloseTo(user + system, 6);
  });

  it("registers and renders metrics", async () => {
    const registry = new prom.Registry();
    const c = new prom.Counter({ name: "vk_test_total", help: "A test.", registers: [registry] });
    c.inc(2);
    expect(await registry.metrics()).toMatch(/^vk_test_total 2$/m);
  });
});
