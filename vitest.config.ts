import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    reporters: ["default", "./test/support/summary-reporter.ts"],
    // Workers end when the runner dies, and with them what tests started (test/support/die-with-runner.ts).
    setupFiles: ["./test/support/die-with-runner.ts"],
    // Network tests share one kernel: run files one after another so labs do not collide.
    fileParallelism: false,
    // Agents, controllers and engines the tests start run the sources, never a stale dist/.
    env: { VIPKEEPER_FROM_SOURCE: "1" },
  },
});
