// What a new plan does to each router of a running engine: the one rule both sides of the engine's
// IPC apply (the supervisor to resign for the right instances, the engine to change in place).
import type { NodePlan } from "./plan.ts";

/** Each router's part of the node's plan. */
export function plansByRouter(plan: NodePlan): Map<string, NodePlan> {
  const out = new Map<string, NodePlan>();
  for (const i of plan.instances) {
    const p = out.get(i.router) ?? { instances: [], skipped: [] };
    p.instances.push(i);
    out.set(i.router, p);
  }
  return out;
}

/**
 * keep: the same plan; in-place: only what takenInPlace allows changed (no new election);
 * restart: stopped (it resigns) and started again; start; stop.
 */
export type RouterStep = "keep" | "in-place" | "restart" | "start" | "stop";

export function routerSteps(running: NodePlan, next: NodePlan): Map<string, RouterStep> {
  const before = plansByRouter(running);
  const after = plansByRouter(next);
  const steps = new Map<string, RouterStep>();
  for (const router of before.keys()) if (!after.has(router)) steps.set(router, "stop");
  for (const [router, plan] of after) {
    const old = before.get(router);
    if (!old) steps.set(router, "start");
    else if (JSON.stringify(old) === JSON.stringify(plan)) steps.set(router, "keep");
    else steps.set(router, takenInPlace(old, plan) ? "in-place" : "restart");
  }
  // A sync group starts together: a member (re)starting or leaving restarts the others, so that
  // the group is elected as one (a member added to a group that is master would hold it back).
  const groupOf = (router: string, plans: Map<string, NodePlan>) =>
    plans.get(router)?.instances[0]?.syncGroup;
  const moving = new Set(
    [...steps]
      .filter(([, s]) => s === "start" || s === "restart" || s === "stop")
      .flatMap(([r]) => [groupOf(r, before), groupOf(r, after)])
      .filter((g) => g !== undefined),
  );
  for (const [router, step] of steps)
    if ((step === "keep" || step === "in-place") && moving.has(groupOf(router, after)!))
      steps.set(router, "restart");
  return steps;
}

/**
 * Same instances with the same settings; what may differ changes in place: their virtual addresses
 * (a Service got or lost one), the sources they obey (the cluster's nodes come and go) and the
 * cluster objects they track (a Service joins or leaves a shared externalTrafficPolicy Local router).
 */
export function takenInPlace(a: NodePlan, b: NodePlan): boolean {
  const strip = (p: NodePlan) =>
    JSON.stringify(
      p.instances.map((i) => ({
        ...i,
        addresses: [],
        sources: undefined,
        track: { ...i.track, endpoints: [], pods: [] },
      })),
    );
  return strip(a) === strip(b);
}
