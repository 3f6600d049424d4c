// prom-client's parts the metrics use, each from its own module: the package's index also loads
// its Pushgateway, and with it node:https and node:zlib, ~6 MB in a process that otherwise speaks
// no TLS (the file agent's main process; BENCHMARKS.md, "Agent memory against keepalived").
// test/observe/prom.test.ts checks these are the package's own; test/file-mode/agent-imports.test.ts
// that the index stays out.
import { createRequire } from "node:module";
import type * as Prom from "prom-client";

const load = createRequire(import.meta.url);

export const Registry = load("prom-client/lib/registry") as typeof Prom.Registry;
export type Registry = Prom.Registry;
export const Counter = load("prom-client/lib/counter") as typeof Prom.Counter;
export type Counter<T extends string = string> = Prom.Counter<T>;
export const Gauge = load("prom-client/lib/gauge") as typeof Prom.Gauge;
export type Gauge<T extends string = string> = Prom.Gauge<T>;
export const Histogram = load("prom-client/lib/histogram") as typeof Prom.Histogram;
export type Histogram<T extends string = string> = Prom.Histogram<T>;

/**
 * prom-client's default metrics (its `collectDefaultMetrics`), each from its own module, but the
 * process CPU counters: their module loads @opentelemetry/api for exemplars, which are never on
 * here, ~4 MB in a process (BENCHMARKS.md). The same three counters are made below.
 */
type MetricsConfig = { register: Registry; prefix: string; eventLoopMonitoringPrecision: number };
const DEFAULT_METRICS = [
  "processStartTime",
  "osMemoryHeap",
  "processOpenFileDescriptors",
  "processMaxFileDescriptors",
  "eventLoopLag",
  "processResources",
  "processHandles",
  "processRequests",
  "heapSizeAndUsed",
  "heapSpacesSizeAndUsed",
  "version",
  "gc",
].map((name) => load(`prom-client/lib/metrics/${name}`) as (r: Registry, c: MetricsConfig) => void);

export function collectDefaultMetrics(config: MetricsConfig): void {
  for (const collect of DEFAULT_METRICS) collect(config.register, config);
  processCpu(config.register, config.prefix);
}

/** process_cpu_{user_,system_,}seconds_total, read at each scrape as prom-client's own are. */
function processCpu(registry: Registry, prefix: string): void {
  const counter = (name: string, help: string, collect?: (this: Counter) => void) =>
    new Counter({ name: `${prefix}${name}`, help, registers: [registry], ...(collect ? { collect } : {}) });
  const system = counter("process_cpu_system_seconds_total", "Total system CPU time spent in seconds.");
  const total = counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.");
  let last = process.cpuUsage();
  counter("process_cpu_user_seconds_total", "Total user CPU time spent in seconds.", function () {
    const now = process.cpuUsage();
    this.inc((now.user - last.user) / 1e6);
    system.inc((now.system - last.system) / 1e6);
    total.inc((now.user - last.user + now.system - last.system) / 1e6);
    last = now;
  });
}
