// Runs inside a UML guest (test/uml/ipvs.test.ts boots it): programs IPVS through vipkeeper's
// backend and writes what it saw to $OUT/result.json for the test to assert on.
import { execFileSync, spawn } from "node:child_process";
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
  // keepalived's `virtual_server fwmark 7`: no address or port.
  svc("fwmark", "", 0, "wrr", "dr", { fwmark: 7 }),
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

const sh = (script: string) => execFileSync("sh", ["-ec", script], { encoding: "utf8" });

/** n HTTP requests (a connection each) from the client namespace; the bodies in order. */
function clientRequests(n: number): string[] {
  const js = `const out=[];for(let i=0;i<${n};i++){const r=await fetch("http://198.18.0.80/",{headers:{connection:"close"},signal:AbortSignal.timeout(5000)});out.push(await r.text())}console.log(JSON.stringify(out))`;
  return JSON.parse(
    execFileSync("ip", ["netns", "exec", "vkipc", "node", "--input-type=module", "-e", js], {
      encoding: "utf8",
    }),
  ) as string[];
}

/** Real traffic: a client namespace through an IPVS NAT service to two HTTP servers in namespaces. */
async function traffic() {
  sh(`
    sysctl -qw net.ipv4.ip_forward=1
    ip addr add 198.18.0.80/32 dev lo
    for n in c s1 s2; do ip netns add vkip$n; ip -n vkip$n link set lo up; done
    ip link add vkc0 type veth peer name eth0 netns vkipc
    ip link add vks1 type veth peer name eth0 netns vkips1
    ip link add vks2 type veth peer name eth0 netns vkips2
    ip addr add 198.18.5.1/24 dev vkc0; ip link set vkc0 up
    ip addr add 198.18.6.1/24 dev vks1; ip link set vks1 up
    ip addr add 198.18.7.1/24 dev vks2; ip link set vks2 up
    ip -n vkipc addr add 198.18.5.2/24 dev eth0; ip -n vkipc link set eth0 up; ip -n vkipc route add default via 198.18.5.1
    ip -n vkips1 addr add 198.18.6.2/24 dev eth0; ip -n vkips1 link set eth0 up; ip -n vkips1 route add default via 198.18.6.1
    ip -n vkips2 addr add 198.18.7.2/24 dev eth0; ip -n vkips2 link set eth0 up; ip -n vkips2 route add default via 198.18.7.1
  `);
  const servers = ["s1", "s2"].map((name) =>
    spawn(
      "ip",
      [
        "netns",
        "exec",
        `vkip${name}`,
        "node",
        "-e",
        `require("http").createServer((q,r)=>r.end("${name}")).listen(8080)`,
      ],
      { stdio: "ignore" },
    ),
  );
  try {
    for (const addr of ["198.18.6.2", "198.18.7.2"])
      for (let i = 0; ; i++) {
        try {
          await fetch(`http://${addr}:8080/`, { signal: AbortSignal.timeout(2000) });
          break;
        } catch (err) {
          if (i > 100) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    const web: VirtualService = {
      ...svc("traffic", "198.18.0.80", 80, "rr", "nat"),
      realServers: [
        { address: "198.18.6.2", port: 8080, weight: 1 },
        { address: "198.18.7.2", port: 8080, weight: 1 },
      ],
    };
    const { dataplane } = await IpvsDataplane.start([web], "/run/vipkeeper/traffic.json");
    result.trafficBodies = clientRequests(6);
    result.trafficFlip = await dataplane.setHealth("traffic", "198.18.6.2:8080", false);
    result.trafficBodiesAfterFlip = clientRequests(4);
    await dataplane.setHealth("traffic", "198.18.6.2:8080", true);
    result.trafficBodiesAfterRecovery = clientRequests(4);
    dataplane.stop();
    // Adoption keeps the service: its connection counter (summed by the kernel every 2 s) survives
    // a restart of the backend; a recreated service would start again at 0.
    await new Promise((r) => setTimeout(r, 2500));
    const again = await IpvsDataplane.start([web], "/run/vipkeeper/traffic.json");
    await new Promise((r) => setTimeout(r, 2500));
    result.trafficRestart = again.report;
    result.trafficConnections = (await readKernel(again.dataplane.netlink)).find(
      (k) => k.service.id.address === "198.18.0.80",
    )?.service.connections;
    again.dataplane.stop();
  } finally {
    for (const s of servers) s.kill();
  }
}

main()
  .then(traffic)
  .then(
    () => writeFileSync(`${out}/result.json`, JSON.stringify(result)),
    (err: unknown) => {
      writeFileSync(
        `${out}/result.json`,
        JSON.stringify({ ...result, error: String((err as Error).stack ?? err) }),
      );
      process.exitCode = 1;
    },
  );
