// Tells when the engine was held up: a master held up past Master_Down_Interval loses its routers
// to a backup, so a stall is logged with what it was made of. The CPU the process used during it
// says which kind: about the stall's length, the engine was busy (its JavaScript or its garbage
// collector, measured apart); near zero, it was not running (no CPU for it, the machine paused,
// or a blocking system call).
import { PerformanceObserver, performance } from "node:perf_hooks";
import type { Logger } from "pino";

/** How often the watch looks, and how late it must be to log. */
const TICK_MS = 50;
const STALL_MS = 100;

export interface Stall {
  heldUpMs: number;
  cpuMs: number;
  gcMs: number;
}

/** A stall from one tick's figures, or undefined when the tick was on time. */
export function stallOf(elapsedMs: number, cpuMicros: number, gcMs: number): Stall | undefined {
  const heldUpMs = elapsedMs - TICK_MS;
  if (heldUpMs < STALL_MS) return undefined;
  return { heldUpMs: Math.round(heldUpMs), cpuMs: Math.round(cpuMicros / 1000), gcMs: Math.round(gcMs) };
}

export function watchStalls(log: Logger): { stop(): void } {
  let gcMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  gc.observe({ entryTypes: ["gc"] });
  let last = performance.now();
  let cpu = process.cpuUsage();
  const timer = setInterval(() => {
    const now = performance.now();
    const used = process.cpuUsage(cpu);
    const stall = stallOf(now - last, used.user + used.system, gcMs);
    if (stall) log.warn(stall, `the engine was held up for ${stall.heldUpMs} ms`);
    last = now;
    cpu = process.cpuUsage();
    gcMs = 0;
  }, TICK_MS);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      gc.disconnect();
    },
  };
}
