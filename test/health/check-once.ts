// Runs health checks from inside a lab host for test/health/keepalived-checks.test.ts: argv[2] is a
// JSON list of { spec, targets, timeoutMs }; prints the JSON list of results, in order.
import { runChecks, type CheckSpec, type Target } from "../../src/health/checkers.ts";

const cases = JSON.parse(process.argv[2]!) as { spec: CheckSpec; targets: Target[]; timeoutMs: number }[];
const results = [];
for (const c of cases) results.push(await runChecks(c.spec, c.targets, c.timeoutMs));
process.stdout.write(JSON.stringify(results));
