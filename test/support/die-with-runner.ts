// A vitest setup file: the worker that runs a test file ends when the test runner dies. vitest's
// forked workers otherwise run on when the runner is killed (SIGKILL, a time limit) and go on
// driving their lab; ending them fires the parent-death signal of everything they started through
// the lab (src/lab/lab.ts tiedToParent: agents, keepalived, servers, UML guests), so nothing a test
// starts outlives the runner.
import { isMainThread } from "node:worker_threads";

const key = Symbol.for("vipkeeper.dieWithRunner");
const registry = globalThis as Record<symbol, unknown>;
// A worker thread (--pool=threads) dies with the runner's process: only forked workers need this.
if (isMainThread && !registry[key]) {
  registry[key] = true;
  const runner = process.ppid;
  const bye = () => process.exit(130);
  // A forked worker's IPC channel closes when the runner dies; the parent check covers a worker
  // that has no channel.
  if (process.connected) process.once("disconnect", bye);
  setInterval(() => {
    if (process.ppid !== runner) bye();
  }, 250).unref();
}
