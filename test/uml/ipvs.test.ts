// The IPVS backend against a real IPVS kernel: one UML boot runs test/uml/guest-ipvs.ts, which
// programs services through vipkeeper's generic-netlink backend; here we assert on what it saw
// (its own GET dumps and ipvsadm -Ln).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runInUml, umlMissing, type UmlResult } from "./uml.ts";

const missing = umlMissing();
if (missing) console.warn(`test/uml/ipvs: skipped: ${missing}`);

interface Dest {
  address: string;
  port: number;
  forwarding: string;
  weight: number;
}
interface Kernel {
  service: {
    id: { address?: string; port?: number; family: number };
    scheduler: string;
    flags: number;
    timeout: number;
    prefixLength: number;
  };
  dests: Dest[];
}

interface Report {
  commands: number;
  adopted: string[];
  foreignTakenOver: string[];
}
interface Result {
  error?: string;
  start: Report;
  restart: Report;
  shrink: Report;
  restore: Report;
  kernelAfterStart: Kernel[];
  kernelAfterFlip: Kernel[];
  kernelAfterShrink: string[];
  ipvsadmAfterStart: string;
  ipvsadmAfterFlip: string;
  ipvsadmForeign: string;
  ipvsadmAfterRestore: string;
  owned: string[];
  flipDown: number;
  flipInhibit: number;
  flipSame: number;
  flipUp: number;
  flipInhibitUp: number;
  trafficBodies: string[];
  trafficFlip: number;
  trafficBodiesAfterFlip: string[];
  trafficBodiesAfterRecovery: string[];
  trafficRestart: Report;
  trafficConnections?: number;
}

describe.skipIf(!!missing)("IPVS backend in UML", () => {
  let boot: UmlResult;
  let r: Result;
  beforeAll(async () => {
    boot = await runInUml("node test/uml/guest-ipvs.ts");
    const text = boot.read("result.json");
    if (!text)
      throw new Error(`the guest wrote no result: ${boot.read("stderr")}\n${boot.console.slice(-2000)}`);
    r = JSON.parse(text) as Result;
  }, 180_000);
  afterAll(() => boot?.cleanup());

  const find = (k: Kernel[], address: string, port: number) =>
    k.find((s) => s.service.id.address === address && s.service.id.port === port);

  it("the guest ran to the end", () => {
    expect(r.error).toBeUndefined();
    expect(boot.code).toBe(0);
  });

  it("creates a service of every scheduler, with both weighted NAT dests", () => {
    const k = r.kernelAfterStart;
    ["rr", "wrr", "lc", "wlc", "sh", "mh"].forEach((s, i) => {
      const svc = find(k, "198.18.0.50", 8000 + i);
      expect(svc?.service.scheduler).toBe(s);
      expect(svc?.dests.map((d) => [d.address, d.forwarding, d.weight]).sort()).toEqual([
        ["198.18.1.11", "nat", 1],
        ["198.18.1.12", "nat", 2],
      ]);
      expect(r.ipvsadmAfterStart).toMatch(new RegExp(`TCP {2}198\\.18\\.0\\.50:${8000 + i} ${s}\\b`));
    });
    expect(r.start.commands).toBe(12 + 12 * 2);
  });

  it("programs DR and TUN forwarding (ipvsadm shows Route and Tunnel)", () => {
    const k = r.kernelAfterStart;
    expect(find(k, "198.18.0.51", 80)?.dests.every((d) => d.forwarding === "dr")).toBe(true);
    expect(find(k, "198.18.0.52", 80)?.dests.every((d) => d.forwarding === "tun")).toBe(true);
    expect(r.ipvsadmAfterStart).toMatch(/198\.18\.1\.11:8080\s+Route\s+1/);
    expect(r.ipvsadmAfterStart).toMatch(/198\.18\.1\.12:8080\s+Tunnel\s+2/);
  });

  it("programs persistence: flag, timeout, netmask (IPv4 /24, IPv6 /64)", () => {
    const k = r.kernelAfterStart;
    const p4 = find(k, "198.18.0.54", 443)!.service;
    expect([p4.flags & 1, p4.timeout, p4.prefixLength]).toEqual([1, 600, 24]);
    const p6 = find(k, "2001:db8::50", 80)!.service;
    expect([p6.flags & 1, p6.timeout, p6.prefixLength]).toEqual([1, 60, 64]);
    expect(r.ipvsadmAfterStart).toMatch(/TCP {2}198\.18\.0\.54:443 rr persistent 600 mask 255\.255\.255\.0/);
    expect(r.ipvsadmAfterStart).toMatch(/TCP {2}\[2001:db8::50\]:80 wlc persistent 60 mask 64/);
  });

  it("programs a firewall-mark service", () => {
    expect(r.ipvsadmAfterStart).toMatch(/FWM {2}7 wrr/);
  });

  it("records exactly our services as owned", () => {
    expect(r.owned).toHaveLength(12);
    expect(r.owned).not.toContain("tcp|198.18.0.99|80");
  });

  it("a health flip is one command: DEL_DEST without inhibit, SET_DEST weight 0 with it", () => {
    expect(r.flipDown).toBe(1);
    expect(r.flipInhibit).toBe(1);
    expect(r.flipSame).toBe(0);
    expect(r.flipUp).toBe(1);
    expect(r.flipInhibitUp).toBe(1);
    const k = r.kernelAfterFlip;
    expect(find(k, "198.18.0.50", 8001)!.dests.map((d) => d.address)).toEqual(["198.18.1.11"]);
    const inh = find(k, "198.18.0.53", 80)!.dests.find((d) => d.address === "198.18.1.11");
    expect(inh?.weight).toBe(0);
    expect(r.ipvsadmAfterFlip).toMatch(/198\.18\.1\.11:8080\s+Masq\s+0/);
  });

  it("a restarted backend adopts its services without a single command (no delete, no recreate)", () => {
    expect(r.restart.commands).toBe(0);
    expect(r.restart.adopted).toHaveLength(12);
    expect(r.restart.foreignTakenOver).toEqual([]);
  });

  it("a service no longer wanted is deleted; the foreign one is left untouched throughout", () => {
    expect(r.shrink.commands).toBe(1);
    expect(r.kernelAfterShrink).not.toContain("tcp|198.18.0.52|80");
    expect(r.kernelAfterShrink).toContain("tcp|198.18.0.99|80");
    expect(r.ipvsadmForeign).toMatch(/198\.18\.1\.99:80\s+Masq\s+5/);
  });

  it("a service of ours deleted by someone else is restored by the next reconcile", () => {
    expect(r.restore.commands).toBe(3);
    expect(r.ipvsadmAfterRestore).toMatch(/198\.18\.1\.12:8080\s+Masq\s+2/);
  });

  it("real traffic: a client namespace's requests alternate between two HTTP servers (rr, NAT); a flip moves them all", () => {
    const alternating = (xs: string[]) => xs.every((x, i) => i === 0 || x !== xs[i - 1]);
    expect(r.trafficBodies).toHaveLength(6);
    expect(new Set(r.trafficBodies)).toEqual(new Set(["s1", "s2"]));
    expect(alternating(r.trafficBodies)).toBe(true);
    expect(r.trafficFlip).toBe(1);
    expect(r.trafficBodiesAfterFlip).toEqual(["s2", "s2", "s2", "s2"]);
    expect(new Set(r.trafficBodiesAfterRecovery)).toEqual(new Set(["s1", "s2"]));
    expect(alternating(r.trafficBodiesAfterRecovery)).toBe(true);
  });

  it("a restart after traffic adopts the live service: no command, its 14 connections still counted", () => {
    expect(r.trafficRestart.commands).toBe(0);
    expect(r.trafficRestart.adopted).toEqual(["tcp|198.18.0.80|80"]);
    expect(r.trafficConnections).toBe(14);
  });
});
