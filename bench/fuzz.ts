// Fuzzing the decoders of what arrives from outside: VRRP adverts off the wire (raw socket:
// IPv4 header, codec, receive checks), the kernel's IPVS generic-netlink dumps, and keepalived.conf
// text (preprocessor, parser, converter, validation). Each input is valid or a mutation of a valid
// one; every outcome must be acceptance with the right fields or a rejection with the decoder's
// own reason. Prints per decoder: inputs, accepted, rejected by reason, crashes, inputs/s; exits
// 1 on any crash or wrong answer. CI runs a share of the same inputs (test/*/fuzz.test.ts).
// Run: . scripts/env.sh && node bench/fuzz.ts --inputs 1000000 --seed 1 [--target vrrp|ipvs|keepalived] [--only I]
import { parseArgs } from "node:util";
import { ipvsTarget } from "../test/support/fuzz/ipvs.ts";
import { keepalivedTarget } from "../test/support/fuzz/keepalived.ts";
import { formatReport, runFuzz, type FuzzTarget } from "../test/support/fuzz/run.ts";
import { vrrpTarget } from "../test/support/fuzz/vrrp.ts";

const { values } = parseArgs({
  options: {
    inputs: { type: "string", default: "1000000" },
    seed: { type: "string", default: "1" },
    target: { type: "string", multiple: true },
    // Replays one input (its number from a report) alone, to debug a failure.
    only: { type: "string" },
  },
});
const inputs = Number(values.inputs);
const seed = Number(values.seed);
if (!Number.isSafeInteger(inputs) || inputs < 1 || !Number.isSafeInteger(seed)) {
  console.error("usage: node bench/fuzz.ts --inputs N --seed S [--target NAME]... [--only I]");
  process.exit(2);
}
const targets: FuzzTarget[] = [vrrpTarget, ipvsTarget, keepalivedTarget].filter(
  (t) => !values.target || values.target.includes(t.name),
);
console.log(`node ${process.version}, seed ${seed}`);
let failed = false;
for (const t of targets) {
  const report =
    values.only === undefined ? runFuzz(t, seed, inputs) : runFuzz(t, seed, 1, Number(values.only));
  console.log(formatReport(report));
  if (report.crashes > 0 || report.wrong > 0) failed = true;
}
process.exit(failed ? 1 : 0);
