// The controller's metrics: reconciles counted by kind and result, errors included, from zero.
import { describe, expect, it } from "vitest";
import { ControllerMetrics } from "../../src/controller/metrics.ts";

const sample = async (m: ControllerMetrics, kind: string, result: string) =>
  (await m.registry.getSingleMetric("vipkeeper_controller_reconciles_total")!.get()).values.find(
    (v) => v.labels.kind === kind && v.labels.result === result,
  )?.value;

describe("controller metrics", () => {
  it("every kind's ok and error series exist at 0 before any reconcile", async () => {
    const m = new ControllerMetrics();
    for (const kind of ["router", "service"])
      for (const result of ["ok", "error"])
        expect(await sample(m, kind, result), `${kind} ${result}`).toBe(0);
  });

  it("a reconcile that throws counts as an error and is rethrown; one that returns counts as ok", async () => {
    const m = new ControllerMetrics();
    await m.timed("router", () => Promise.resolve());
    await expect(m.timed("router", () => Promise.reject(new Error("conflict")))).rejects.toThrow("conflict");
    expect(await sample(m, "router", "ok")).toBe(1);
    expect(await sample(m, "router", "error")).toBe(1);
    const duration = await m.registry
      .getSingleMetric("vipkeeper_controller_reconcile_duration_seconds")!
      .get();
    expect(
      (duration.values as { metricName?: string; labels: Record<string, unknown>; value: number }[]).find(
        (v) => v.metricName?.endsWith("_count") && v.labels.kind === "router",
      )?.value,
    ).toBe(2);
  });
});
