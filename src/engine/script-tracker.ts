// Tracked scripts (keepalived's vrrp_script): each runs every interval, its exit status counted
// against rise / fall, and only a change of health after those counts reaches the engine.
import type { Logger } from "pino";
import type { InstancePlan, ScriptPlan } from "../plan/plan.ts";
import { RiseFall } from "../health/rise-fall.ts";
import { runShell } from "../base/shell.ts";

export interface ScriptTrackers {
  stop(): void;
}

/** Starts every tracked script of the plans; `onChange` gets (router, script name, healthy). */
export function startScriptTrackers(
  plans: readonly InstancePlan[],
  onChange: (router: string, name: string, healthy: boolean) => void,
  log: Logger,
): ScriptTrackers {
  const timers = new Map<string, NodeJS.Timeout>();
  let stopped = false;
  // A router's two families share its scripts: run each once.
  const scripts = new Map<string, { router: string; script: ScriptPlan }>();
  for (const p of plans)
    for (const s of p.track.scripts) scripts.set(`${p.router}/${s.name}`, { router: p.router, script: s });
  let n = 0;
  for (const [key, { router, script }] of scripts) {
    const health = new RiseFall(script.rise, script.fall);
    const runOnce = async () => {
      const r = await runShell(script.command, { timeoutMs: script.timeoutMs || script.intervalMs });
      if (stopped) return;
      const ok = r.code === 0;
      if (r.error || r.timedOut)
        log.warn(
          { router, script: script.name, err: r.error, timedOut: r.timedOut },
          "tracked script failed to run",
        );
      const changed = health.record(ok);
      if (changed !== undefined) onChange(router, script.name, changed);
      timers.set(
        key,
        setTimeout(() => void runOnce(), script.intervalMs),
      );
    };
    // Spread first runs over the first interval: no burst of processes at start-up.
    timers.set(
      key,
      setTimeout(() => void runOnce(), (script.intervalMs * n++) / scripts.size),
    );
  }
  return {
    stop() {
      stopped = true;
      for (const t of timers.values()) clearTimeout(t);
    },
  };
}
