// The IPVS dataplane at size, inside a User-mode Linux guest (the host kernel has no IPVS): program
// S services x 10 real servers, or one service of N, from nothing through generic netlink, then
// take a real server down and back 20 times (40 one-command changes). UML is slower than the host
// (syscalls especially), so these figures are an upper bound.
// Run (root): . scripts/env.sh && node bench/lb.ts --backend ipvs
import type { VirtualService } from "../src/lb/model.ts";
import { IpvsDataplane } from "../src/lb/ipvs.ts";
import { runInUml, umlMissing } from "../test/uml/uml.ts";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p99 = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))]!;

function services(count: number, perService: number): VirtualService[] {
  return Array.from({ length: count }, (_, i) => ({
    key: `bench/svc-${i}`,
    family: 4 as const,
    address: `198.18.${Math.floor(i / 250) + 10}.${(i % 250) + 1}`,
    port: 80,
    protocol: "tcp" as const,
    scheduler: "wrr" as const,
    forwarding: "nat" as const,
    realServers: Array.from({ length: perService }, (_, j) => ({
      address: `198.19.${(i + (j >> 8)) % 250}.${j & 255}`,
      port: 8080 + (j >> 16),
      weight: (j % 10) + 1,
    })),
    inhibitOnFailure: false,
    quorum: 1,
    hysteresis: 0,
  }));
}

async function inGuest(): Promise<void> {
  const ownerFile = "/run/vipkeeper/bench-ipvs.json";
  console.log("| real servers | shape | program from nothing | health flip, median | health flip, p99 |");
  console.log("| --- | --- | --- | --- | --- |");
  const shapes: [number, number][] = [
    [10, 10],
    [100, 10],
    [1000, 10],
    [1, 10_000],
  ];
  for (const [count, per] of shapes) {
    const list = services(count, per);
    const t0 = performance.now();
    const { dataplane } = await IpvsDataplane.start(list, ownerFile);
    const program = performance.now() - t0;
    const flips: number[] = [];
    for (let k = 0; k < 20; k++) {
      const svc = list[(k * 7919) % list.length]!;
      const rs = svc.realServers[(k * 31) % per]!;
      const server = `${rs.address}:${rs.port}`;
      for (const healthy of [false, true]) {
        const t = performance.now();
        const n = await dataplane.setHealth(svc.key, server, healthy);
        flips.push(performance.now() - t);
        if (n !== 1) throw new Error(`a flip took ${n} commands, not 1`);
      }
    }
    dataplane.stop();
    console.log(
      `| ${count * per} | ${count} x ${per} | ${program.toFixed(0)} ms | ${median(flips).toFixed(2)} ms | ${p99(flips).toFixed(2)} ms |`,
    );
    // Remove them (ours by the ownership file) before the next shape.
    (await IpvsDataplane.start([], ownerFile)).dataplane.stop();
  }
}

if (process.env.VK_IN_UML) await inGuest();
else {
  const missing = umlMissing();
  if (missing) {
    console.error(`bench/lb --backend ipvs: ${missing}`);
    process.exit(1);
  }
  const r = await runInUml("VK_IN_UML=1 node bench/lb-ipvs.ts", 600_000);
  process.stdout.write(r.read("stdout"));
  process.stderr.write(r.read("stderr"));
  r.cleanup();
  process.exitCode = r.code ?? 1;
}
