// `vipkeeper sim`: a three-router VRRP group on a virtual clock, through the real codec and state
// machine, with a printed timeline of a crash, a graceful stop and a preemption.
import { parseArgs } from "node:util";
import type { IpFamily } from "../base/ip.ts";
import type { VrrpVersion } from "../vrrp/packet.ts";
import { SimulatedLan, type SimEvent } from "../vrrp/simulation.ts";
import { masterDownIntervalMs, skewTimeMs } from "../vrrp/timers.ts";
import { intOption, UsageError } from "./args.ts";

const HELP = `Usage: vipkeeper sim [options]

Runs three VRRP routers (priorities 150, 100, 50) on a simulated LAN with a virtual clock and prints
what happens when the master crashes, when the next master stops gracefully, and when the first
comes back and preempts. Every advert goes through the real packet codec and state machine.

Options:
  --vrrp-version 2|3   VRRP version (default 3)
  --family 4|6         IPv4 or IPv6 (default 4; v2 is IPv4 only)
  --interval-ms N      advertisement interval in ms (default 1000; v2 whole seconds)
  -h, --help           show this help
`;

function fmt(ms: number): string {
  return `${ms.toFixed(0).padStart(7)} ms`;
}

function describe(e: SimEvent): string | undefined {
  const { effect } = e;
  if (effect.type === "transition") return `${effect.from} -> ${effect.to} (${effect.reason})`;
  if (effect.type === "bind-addresses") return "binds the virtual address";
  if (effect.type === "release-addresses") return "releases the virtual address";
  if (effect.type === "send-advert" && effect.advert.priority === 0) return "sends priority 0 (resigns)";
  return undefined;
}

export function runSim(argv: string[]): number {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        "vrrp-version": { type: "string" },
        family: { type: "string" },
        "interval-ms": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    process.stderr.write(`vipkeeper sim: ${(err as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  let version: VrrpVersion, family: IpFamily, interval: number;
  try {
    version = intOption(values["vrrp-version"], "vrrp-version", 2, 3, 3) as VrrpVersion;
    family = intOption(values.family, "family", 4, 6, 4) === 6 ? 6 : 4;
    interval = intOption(values["interval-ms"], "interval-ms", 10, 40950, 1000);
    if (version === 2 && family === 6) throw new UsageError("VRRPv2 is defined for IPv4 only");
    if (version === 2 && interval % 1000 !== 0) throw new UsageError("VRRPv2 intervals are whole seconds");
  } catch (err) {
    process.stderr.write(`vipkeeper sim: ${(err as Error).message}\n`);
    return 2;
  }

  const vip = family === 4 ? "198.18.0.50" : "2001:db8::50";
  const lan = new SimulatedLan({
    version,
    family,
    vrid: 51,
    advertIntervalMs: interval,
    addresses: [vip],
    delayMs: 1,
  });
  const routers = [
    { name: "n1", priority: 150 },
    { name: "n2", priority: 100 },
    { name: "n3", priority: 50 },
  ];
  routers.forEach((r, i) =>
    lan.add({ ...r, address: family === 4 ? `198.18.0.${11 + i}` : `2001:db8::${11 + i}` }),
  );

  const out: string[] = [];
  let printed = 0;
  const flush = () => {
    for (; printed < lan.events.length; printed++) {
      const e = lan.events[printed]!;
      const text = describe(e);
      if (text) out.push(`${fmt(e.at)}  ${e.router}  ${text}`);
    }
  };
  const note = (text: string) => {
    flush();
    out.push(`${fmt(lan.now)}  --  ${text}`);
  };
  const waitForHolder = (name: string): number => {
    const at = lan.runUntilTrue(() => lan.holders().includes(name), 20 * interval);
    if (at === undefined) throw new Error(`${name} never took the address`);
    return at;
  };

  out.push(
    `vipkeeper sim: VRRPv${version} over IPv${family}, VRID 51, adverts every ${interval} ms, VIP ${vip}`,
    `routers: ${routers.map((r) => `${r.name} (priority ${r.priority})`).join(", ")}`,
    "",
  );
  note("all three routers start");
  for (const r of routers) lan.start(r.name);
  waitForHolder("n1");
  lan.runFor(2 * interval);

  note("n1 crashes: no priority 0, its adverts just stop");
  const crashAt = lan.now;
  lan.crash("n1");
  const n2At = waitForHolder("n2");
  const crashGap = n2At - crashAt;
  lan.runFor(2 * interval);

  note("n2 stops gracefully: it sends priority 0");
  const stopAt = lan.now;
  lan.shutdown("n2");
  const n3At = waitForHolder("n3");
  const stopGap = n3At - stopAt;
  lan.runFor(2 * interval);

  note("n1 comes back with the highest priority and preempts");
  const backAt = lan.now;
  lan.start("n1");
  const preemptAt = waitForHolder("n1");
  lan.runFor(interval);
  flush();

  const mdi = masterDownIntervalMs(version, 100, interval);
  out.push(
    "",
    "What happened, against the RFC's bounds:",
    `  crash of the master:  address free for ${crashGap.toFixed(0)} ms (bound: n2's Master_Down_Interval ${mdi.toFixed(0)} ms)`,
    `  graceful stop:        address free for ${stopGap.toFixed(0)} ms (bound: n3's Skew_Time ${skewTimeMs(version, 50, interval).toFixed(0)} ms + delivery)`,
    `  preemption by n1:     n1 master ${(preemptAt - backAt).toFixed(0)} ms after its start (its Master_Down_Interval ${masterDownIntervalMs(version, 150, interval).toFixed(0)} ms)`,
    `  masters at the end:   ${lan.masters().join(", ")}`,
    "",
  );
  process.stdout.write(out.join("\n"));
  return 0;
}
