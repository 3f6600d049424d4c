// The tutorial's LVS configurations as written: lb_kind DR with persistence_timeout, on IPVS, which
// the host kernel lacks. Each director is a User-mode Linux guest (its own kernel with IPVS) whose
// eth0 is a port of the lab's switch; it runs `vipkeeper agent --config keepalived.conf` (test/uml/
// director.sh). The real servers, with the VIP on lo and their ARP for it silenced as direct routing
// wants, and the client are lab namespaces on the host. Only the addresses (into 198.18.0.0/15) and
// the maintenance file's path change; timings, forwarding, persistence and the sorry server stay.
import { type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import { waitUntil } from "../support/agents.ts";
import { startUml, umlMissing, type UmlGuest } from "./uml.ts";
import { httpLoad, startBackend, waitAnsweredBy } from "../support/http-traffic.ts";

const missing = umlMissing();
if (missing) console.warn(`test/uml/lvs-dr: skipped: ${missing}`);

const FIXTURES = join(import.meta.dirname, "../fixtures/keepalived");
const VIP = "198.18.0.70";
const CLIENT_B = "198.18.0.101";
const REAL = { n3: "198.18.0.13", n4: "198.18.0.14" } as const;
type Real = keyof typeof REAL;
const other = (r: Real): Real => (r === "n3" ? "n4" : "n3");
const directorMac = (node: string) => `02:00:00:00:01:${node.slice(1).padStart(2, "0")}`;

/** The fixture's text with each substitution applied; a substitution that no longer matches fails. */
function rewrite(file: string, substitutions: [string, string][]): string {
  let text = readFileSync(join(FIXTURES, file), "utf8");
  for (const [from, to] of substitutions) {
    if (!text.includes(from)) throw new Error(`${file} no longer has '${from}'`);
    text = text.replaceAll(from, to);
  }
  return text;
}

const ADDRESSES: [string, string][] = [
  ["virtual_server 172.16.100.1 80", `virtual_server ${VIP} 80`],
  ["real_server 172.16.100.11 80", `real_server ${REAL.n3} 80`],
  ["real_server 172.16.100.12 80", `real_server ${REAL.n4} 80`],
];

/**
 * lvs-dr-http.conf for a director: the VIP and servers into the lab, the maintenance file into the
 * test's directory; the peer runs it with `state BACKUP` and `priority 100` (the tutorial's README).
 * With `virtualServers` the file's own virtual_server is replaced by an `include` of that file.
 */
function httpDirector(dir: string, node: string, master: boolean, virtualServers?: string): string {
  let text = rewrite("lvs-dr-http.conf", [
    ["172.16.100.1/16", `${VIP}/24`],
    ["/etc/keepalived/down", join(dir, `${node}-down`)],
    ...ADDRESSES,
    ...(master
      ? []
      : ([
          ["state MASTER", "state BACKUP"],
          ["priority 101", "priority 100"],
        ] as [string, string][])),
  ]);
  if (virtualServers) text = `${text.slice(0, text.indexOf("virtual_server "))}include ${virtualServers}\n`;
  const file = join(dir, `${node}.conf`);
  writeFileSync(file, text);
  return file;
}

describe.skipIf(!!missing)("the tutorial's LVS configurations as written (DR, persistence) on IPVS", () => {
  let lab: Lab;
  const dir = mkdtempSync(join(tmpdir(), "vk-ulvs-"));
  const servers = new Map<Real, ChildProcess>();
  const guests = new Map<string, UmlGuest>();

  const serve = async (n: Real) => {
    servers.set(n, await startBackend(lab, n, 80));
  };
  /** N requests from one client address; how many each server answered. */
  const load = (n: number, source = lab.client.ipv4) => httpLoad(lab, `http://${VIP}/`, n, source);
  const answeredBy = (who: string, what: string, ms: number, source = lab.client.ipv4) =>
    waitAnsweredBy(lab, `http://${VIP}/`, who, what, ms, source);
  const state = (node: string) => guests.get(node)?.read("state.txt") ?? "";
  const agentLog = (node: string) => guests.get(node)?.read("agent.log") ?? "";
  const holdsVip = (node: string) => state(node).includes(`inet ${VIP}/24`);
  /** The director the client's frames for the VIP go to (its ARP entry, set by gratuitous ARP). */
  const clientSendsTo = () => {
    const line = lab.exec("client", ["ip", "neigh", "show", VIP]);
    return ["n1", "n2"].find((n) => line.includes(directorMac(n)));
  };
  /** waitUntil, whose error shows what each director's kernel held and its agent's last lines. */
  const waitFor = (cond: () => boolean, ms: number, what: string) =>
    waitUntil(cond, ms, what).catch((err: Error) => {
      const seen = [...guests.keys()].map(
        (n) =>
          `--- ${n} state:\n${state(n)}\n--- ${n} agent:\n${agentLog(n).split("\n").slice(-15).join("\n")}`,
      );
      throw new Error(`${err.message}\n${seen.join("\n")}`);
    });
  const boot = async (node: string, config: string, sorry?: string, director = "vipkeeper") => {
    const address = node === "n1" ? "198.18.0.11/24" : "198.18.0.12/24";
    const guest = startUml({
      netns: lab.node(node).ns,
      mac: directorMac(node),
      command: `DIRECTOR=${director} sh test/uml/director.sh ${address} ${config} ${node}${sorry ? ` ${sorry}` : ""}`,
      timeoutMs: 300_000,
    });
    guests.set(node, guest);
    await waitUntil(() => /Route/.test(state(node)), 60_000, `${node}'s IPVS table`).catch((err: Error) => {
      throw new Error(
        `${err.message}\nagent: ${agentLog(node).slice(-3000)}\nconsole: ${guest.console().slice(-2000)}`,
      );
    });
  };
  const stop = async (node: string) => {
    const g = guests.get(node);
    if (!g) return;
    g.kill();
    await g.exited;
    g.cleanup();
    guests.delete(node);
  };

  beforeAll(async () => {
    lab = Lab.create({ prefix: "vkud-", nodes: 4 });
    for (const n of ["n1", "n2"]) {
      // The namespace only carries its guest's frames: the guest is the host at this address.
      lab.exec(n, ["ip", "addr", "flush", "dev", "eth0"]);
      lab.exec(n, ["sysctl", "-qw", "net.ipv6.conf.eth0.disable_ipv6=1"]);
    }
    for (const n of ["n3", "n4"] as Real[]) {
      // Direct routing's real server: the VIP on lo, never answered or announced by ARP. It has no
      // route through a director, so an answer proves the request reached it still addressed to the
      // VIP and the reply went straight to the client (NAT's replies would come from its own address).
      lab.exec(n, ["ip", "addr", "add", `${VIP}/32`, "dev", "lo"]);
      for (const k of ["all", "eth0"]) {
        lab.exec(n, ["sysctl", "-qw", `net.ipv4.conf.${k}.arp_ignore=1`]);
        lab.exec(n, ["sysctl", "-qw", `net.ipv4.conf.${k}.arp_announce=2`]);
      }
      await serve(n);
    }
    lab.exec("client", ["ip", "addr", "add", `${CLIENT_B}/24`, "dev", "eth0"]);
  }, 30_000);
  afterAll(async () => {
    for (const n of [...guests.keys()]) await stop(n);
    lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it(
    "lvs-dr-http.conf on two directors: DR with persistence, the maintenance file, a dead real server, a failed director",
    { timeout: 240_000 },
    async () => {
      await Promise.all([
        boot("n1", httpDirector(dir, "n1", true)),
        boot("n2", httpDirector(dir, "n2", false)),
      ]);
      await waitFor(() => holdsVip("n1") && !holdsVip("n2"), 30_000, "n1 (priority 101) to hold the VIP");
      // Both directors program the service as written: rr, persistent 50, both servers routed directly.
      for (const n of ["n1", "n2"]) {
        await waitFor(
          () => Object.values(REAL).every((a) => new RegExp(`${a}:80\\s+Route\\s+1`).test(state(n))),
          30_000,
          `${n}'s real servers`,
        );
        expect(state(n)).toMatch(new RegExp(`TCP {2}${VIP.replaceAll(".", "\\.")}:80 rr persistent 50`));
      }
      expect(state("n1")).toMatch(/eth0:0/); // the VIP's label, as written

      // Persistence: each client stays on one server; round robin gave the second client the other.
      const a = load(10);
      expect(clientSendsTo()).toBe("n1");
      expect(Object.values(a)).toEqual([10]);
      const stuck = Object.keys(a)[0] as Real;
      expect(Object.keys(REAL)).toContain(stuck);
      expect(load(10, CLIENT_B)).toEqual({ [other(stuck)]: 10 });

      // The maintenance file: chk_schedown fails, weight -2 takes n1 to 99, n2 (100) preempts.
      writeFileSync(join(dir, "n1-down"), "");
      await waitFor(() => holdsVip("n2") && !holdsVip("n1"), 20_000, "n2 to take over for maintenance");
      await waitFor(() => clientSendsTo() === "n2", 5000, "the client to follow n2's gratuitous ARP");
      expect(Object.values(load(6))).toEqual([6]); // persistence on n2's own table
      unlinkSync(join(dir, "n1-down"));
      await waitFor(() => holdsVip("n1") && !holdsVip("n2"), 20_000, "n1 to take the VIP back");
      await waitFor(() => clientSendsTo() === "n1", 5000, "the client back to n1");
      expect(load(6)).toEqual({ [stuck]: 6 }); // n1's persistence template outlived the maintenance

      // The client's server dies: HTTP_GET (3 retries, 3 s apart) removes it, and the client's
      // persistence goes with it: it moves to the other server.
      servers.get(stuck)!.kill("SIGKILL");
      await waitFor(() => !state("n1").includes(`${REAL[stuck]}:80`), 60_000, `n1 to remove ${stuck}`);
      await answeredBy(other(stuck), "the client to move to the live server", 5000);

      // The master director fails (the guest's plug is pulled): n2 takes the VIP and serves at once,
      // from the table it kept in step (it removed the dead server too).
      await waitFor(() => !state("n2").includes(`${REAL[stuck]}:80`), 30_000, `n2 to remove ${stuck}`);
      await stop("n1");
      await waitFor(() => holdsVip("n2"), 10_000, "n2 to take over");
      await answeredBy(other(stuck), "n2 to serve", 10_000);
      expect(clientSendsTo()).toBe("n2");
      expect(load(10, CLIENT_B)).toEqual({ [other(stuck)]: 10 });
      await stop("n2");
      await serve(stuck);
    },
  );

  it(
    "a mixed pair: keepalived 2.2.7 directs beside vipkeeper from the same file, and they hand the VIP and the service to each other",
    { timeout: 180_000 },
    async () => {
      await Promise.all([
        boot("n1", httpDirector(dir, "n1", true)),
        boot("n2", httpDirector(dir, "n2", false), undefined, "keepalived"),
      ]);
      await waitFor(() => holdsVip("n1") && !holdsVip("n2"), 30_000, "vipkeeper (101) to hold the VIP");
      // keepalived programs the same service from the same lines.
      await waitFor(
        () => Object.values(REAL).every((a) => new RegExp(`${a}:80\\s+Route\\s+1`).test(state("n2"))),
        30_000,
        "keepalived's real servers",
      );
      expect(state("n2")).toMatch(new RegExp(`TCP {2}${VIP.replaceAll(".", "\\.")}:80 rr persistent 50`));
      expect(Object.values(load(6))).toEqual([6]);
      expect(clientSendsTo()).toBe("n1");

      // vipkeeper's maintenance script lowers it to 99: keepalived (100) preempts and serves.
      writeFileSync(join(dir, "n1-down"), "");
      await waitFor(() => holdsVip("n2") && !holdsVip("n1"), 20_000, "keepalived to take over");
      await waitFor(() => clientSendsTo() === "n2", 5000, "the client to follow keepalived's gratuitous ARP");
      expect(Object.values(load(6))).toEqual([6]);
      unlinkSync(join(dir, "n1-down"));
      await waitFor(() => holdsVip("n1") && !holdsVip("n2"), 20_000, "vipkeeper to take the VIP back");

      // vipkeeper's director fails: keepalived takes the VIP and serves.
      await stop("n1");
      await waitFor(() => holdsVip("n2"), 10_000, "keepalived to take over from the failed director");
      await waitFor(() => clientSendsTo() === "n2", 5000, "the client to follow keepalived");
      expect(Object.values(load(6))).toEqual([6]);
      expect(agentLog("n2")).toMatch(/VI_1\) Entering MASTER STATE/);
      await stop("n2");
    },
  );

  it(
    "lvs-dr-tcp.conf (included by a director's file): TCP_CHECK with tcp_port and connect_port, the local sorry server",
    { timeout: 180_000 },
    async () => {
      const tcp = join(dir, "lvs-dr-tcp.conf");
      writeFileSync(tcp, rewrite("lvs-dr-tcp.conf", ADDRESSES));
      await boot("n1", httpDirector(dir, "n1", true, tcp), "sorry-n1");
      await waitFor(() => holdsVip("n1"), 30_000, "n1 to hold the VIP alone");
      await waitFor(
        () => Object.values(REAL).every((a) => new RegExp(`${a}:80\\s+Route\\s+1`).test(state("n1"))),
        30_000,
        "n1's real servers",
      );
      expect(state("n1")).toMatch(new RegExp(`TCP {2}${VIP.replaceAll(".", "\\.")}:80 rr persistent 300`));
      // keepalived rejects tcp_port; vipkeeper reads it as connect_port and says so.
      expect(agentLog("n1")).toContain("tcp_port");

      const stuck = Object.keys(load(10))[0] as Real;
      expect(load(10)).toEqual({ [stuck]: 10 });

      // Every real server down: the sorry server on the director itself answers. IPVS shows it
      // routed like the real servers; the kernel delivers a route to a local address locally.
      for (const s of servers.values()) s.kill("SIGKILL");
      await waitFor(() => /127\.0\.0\.1:80\s+Route/.test(state("n1")), 30_000, "the sorry server in IPVS");
      await answeredBy("sorry-n1", "the sorry server to answer", 10_000);

      // A real server comes back: TCP_CHECK sees it, the sorry server goes, the client moves to it.
      await serve("n4");
      await answeredBy("n4", "n4 to take the traffic back", 30_000);
      await waitFor(() => !state("n1").includes("127.0.0.1:80"), 5000, "the sorry server out of IPVS");
    },
  );
});
