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
export const collectDefaultMetrics = load(
  "prom-client/lib/defaultMetrics",
) as typeof Prom.collectDefaultMetrics;
