// Runs inside a UML guest (test/uml/ipvs.test.ts boots it): programs IPVS through vipkeeper's
// backend and writes what it saw to $OUT/result.json for the test to assert on.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { IpvsDataplane, readKernel } from "../../src/lb/ipvs.ts";
import { serviceIdKey } from "../../src/lb/ipvs-netlink.ts";
import { readOwned } from "../../src/lb/ipvs-owner.ts";
import type { Forwarding, Scheduler, VirtualService } from "../../src/lb/model.ts";

const out = process.env.OUT!;
const ownerFile = "/run/vipkeeper/ipvs-services.json";
const result: Record<string, unknown> = {};
const ipvsadm = (...args: string[]) => execFileSync("ipvsadm", args, { encoding: "utf8" });

const svc = (
  key: string,
  address: string,
  port: number,
  scheduler: Scheduler,
  forwarding: Forwarding,
  extra: Partial<VirtualService> = {},
): VirtualService => ({
  key,
  family: address.includes(":") ? 6 : 4,
  address,
  port,
  protocol: "tcp",
  scheduler,
  forwarding,
  realServers: [
    { address: address.includes(":") ? "2001:db8:1::11" : "198.18.1.11", port: 8080, weight: 1 },
    { address: address.includes(":") ? "2001:db8:1::12" : "198.18.1.12", port: 8080, weight: 2 },
  ],
  inhibitOnFailure: false,
  quorum: 1,
  hysteresis: 0,
  ...extra,
});

const schedulers: Scheduler[] = ["rr", "wrr", "lc", "wlc", "sh", "mh"];
const services: VirtualService[] = [
  ...schedulers.map((s, i) => svc(`sched/${s}`, "198.18.0.50", 8000 + i, s, "nat")),
  svc("fwd/dr", "198.18.0.51", 80, "wrr", "dr"),
  svc("fwd/tun", "198.18.0.52", 80, "wrr", "tun"),
  svc("inhibit", "198.18.0.53", 80, "wrr", "nat", { inhibitOnFailure: true }),
  svc("persist", "198.18.0.54", 443, "rr", "nat", {
    persistence: { timeoutMs: 600_000, ipv4PrefixLength: 24, ipv6PrefixLength: 128 },
  }),
  svc("v6", "2001:db8::50", 80, "wlc", "nat", {
    persistence: { timeoutMs: 60_000, ipv4PrefixLength: 32, ipv6PrefixLength: 64 },
  }),
];

async function main() {
  // A foreign service, as an operator or kube-proxy would make it: never ours to touch.
  ipvsadm("-A", "-t", "198.18.0.99:80", "-s", "rr");
  ipvsadm("-a", "-t", "198.18.0.99:80", "-r", "198.18.1.99:80", "-m", "-w", "5");

  const first = await IpvsDataplane.start(services, ownerFile);
  result.start = first.report;
  result.kernelAfterStart = await readKernel(first.dataplane.netlink);
  result.ipvsadmAfterStart = ipvsadm("-Ln");
  result.owned = [...readOwned(ownerFile)];

  // Health flips: without inhibit the dest goes (DEL_DEST), with inhibit its weight goes to 0.
  const dp = first.dataplane;
  result.flipDown = await dp.setHealth("sched/wrr", "198.18.1.12:8080", false);
  result.flipInhibit = await dp.setHealth("inhibit", "198.18.1.11:8080", false);
  result.flipSame = await dp.setHealth("inhibit", "198.18.1.11:8080", false);
  result.ipvsadmAfterFlip = ipvsadm("-Ln");
  result.kernelAfterFlip = await readKernel(dp.netlink);
  result.flipUp = await dp.setHealth("sched/wrr", "198.18.1.12:8080", true);
  result.flipInhibitUp = await dp.setHealth("inhibit", "198.18.1.11:8080", true);
  // The restart below must send no command at all: nothing deleted, nothing recreated.
  dp.stop();

  const second = await IpvsDataplane.start(services, ownerFile);
  result.restart = second.report;
  second.dataplane.stop();

  // One service less: ours goes, the foreign one stays.
  const third = await IpvsDataplane.start(
    services.filter((s) => s.key !== "fwd/tun"),
    ownerFile,
  );
  result.shrink = third.report;
  result.kernelAfterShrink = (await readKernel(third.dataplane.netlink)).map((k) =>
    serviceIdKey(k.service.id),
  );
  result.ipvsadmForeign = ipvsadm("-Ln", "-t", "198.18.0.99:80");
  third.dataplane.stop();

  // Someone deletes one of ours (as kube-proxy might): a reconcile restores it.
  ipvsadm("-D", "-t", "198.18.0.53:80");
  const fourth = await IpvsDataplane.start(
    services.filter((s) => s.key !== "fwd/tun"),
    ownerFile,
  );
  result.restore = fourth.report;
  result.ipvsadmAfterRestore = ipvsadm("-Ln", "-t", "198.18.0.53:80");
  fourth.dataplane.stop();
}

main().then(
  () => writeFileSync(`${out}/result.json`, JSON.stringify(result)),
  (err: unknown) => {
    writeFileSync(
      `${out}/result.json`,
      JSON.stringify({ ...result, error: String((err as Error).stack ?? err) }),
    );
    process.exitCode = 1;
  },
);
