// Time as the processes exchange it: one place for the two conversions every writer needs.

/** A Kubernetes timestamp (metav1.Time: RFC 3339, whole seconds, UTC) from epoch milliseconds. */
export function kubeTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Epoch milliseconds of a moment on this process's monotonic clock (performance.now()): what goes
 * over IPC or into status, since another process's monotonic clock has another origin.
 */
export function epochOf(monotonicMs: number): number {
  return Math.round(Date.now() - (performance.now() - monotonicMs));
}
