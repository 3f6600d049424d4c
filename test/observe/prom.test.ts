// observe/prom.ts takes prom-client's parts from their own modules (its index would load the
// Pushgateway, and TLS): they are the very classes and function the package exports, so the types
// it declares for them hold.
import { createRequire } from "node:module";
import type * as PromClient from "prom-client";
import { describe, expect, it } from "vitest";
import * as prom from "../../src/observe/prom.ts";

describe("observe/prom.ts", () => {
  it("is prom-client's own Registry, Counter, Gauge, Histogram and collectDefaultMetrics", () => {
    const index = createRequire(import.meta.url)("prom-client") as typeof PromClient;
    expect(prom.Registry).toBe(index.Registry);
    expect(prom.Counter).toBe(index.Counter);
    expect(prom.Gauge).toBe(index.Gauge);
    expect(prom.Histogram).toBe(index.Histogram);
    expect(prom.collectDefaultMetrics).toBe(index.collectDefaultMetrics);
  });

  it("registers and renders metrics", async () => {
    const registry = new prom.Registry();
    const c = new prom.Counter({ name: "vk_test_total", help: "A test.", registers: [registry] });
    c.inc(2);
    expect(await registry.metrics()).toMatch(/^vk_test_total 2$/m);
  });
});
