// The tutorial's LVS configuration (lvs-dr-http.conf), run by vipkeeper agents straight from the
// keepalived.conf on two director nodes on the nftables dataplane: real HTTP servers in lab nodes, a
// client reaching the virtual address and kept on one server (persistence); a dead real server
// loses its traffic, all down brings the sorry server, a server back takes the client from it, and a
// failed director hands the address and the service to the other.
import { type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import { startAgent, waitUntil, type RunningAgent } from "../support/agents.ts";
import { httpLoad, startBackend, waitAnsweredBy } from "../support/http-traffic.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/keepalived-lvs.test.ts skipped: needs root for network namespaces");

const FIXTURE = join(import.meta.dirname, "../fixtures/keepalived/lvs-dr-http.conf");
const VIP = "198.18.0.70";

/**
 * The fixture with every change this run needs, each spelled out: addresses into 198.18.0.0/15 (lab
 * node nK is 198.18.0.1K), the maintenance file into a test directory, shorter check timings so a
 * failure shows within seconds rather than keepalived's ~20 s, and the second director's priority.
 * This is the tutorial on the host kernel, which has no IPVS: the nftables dataplane, where lb_kind
 * DR becomes NAT (nftables' DR is stateless, so it refuses DR with persistence). The file as written
 * (DR, persistence, its timings) runs on IPVS in UML directors: test/uml/lvs-dr.test.ts.
 * The sorry server, commented out in the tutorial, is turned on and pointed at n5.
 */
function directorFile(dir: string, node: string, priority: number): string {
  const substitutions: [string, string][] = [
    ["172.16.100.1/16", `${VIP}/24`],
    ["virtual_server 172.16.100.1 80", `virtual_server ${VIP} 80`],
    ["real_server 172.16.100.11 80", "real_server 198.18.0.13 80"],
    ["real_server 172.16.100.12 80", "real_server 198.18.0.14 80"],
    ["# sorry_server 192.168.200.200 1358", "sorry_server 198.18.0.15 80"],
    ["/etc/keepalived/down", join(dir, `${node}-down`)],
    ["lb_kind DR", "lb_kind NAT"],
    ["delay_loop 6", "delay_loop 1"],
    ["connect_timeout 3", "connect_timeout 1"],
    ["nb_get_retry 3", "nb_get_retry 1"],
    ["delay_before_retry 3", "delay_before_retry 1"],
    ["priority 101", `priority ${priority}`],
  ];
  let text = readFileSync(FIXTURE, "utf8");
  for (const [from, to] of substitutions) {
    if (!text.includes(from)) throw new Error(`the fixture no longer has '${from}'`);
    text = text.replaceAll(from, to);
  }
  const file = join(dir, `${node}.conf`);
  writeFileSync(file, text);
  return file;
}

describe.skipIf(!ROOT)("the tutorial's LVS configuration in the lab", { timeout: 90_000 }, () => {
  let lab: Lab;
  const agents: RunningAgent[] = [];
  const servers = new Map<string, ChildProcess>();
  const dir = mkdtempSync(join(tmpdir(), "vk-klvs-"));
  const load = (n: number) => httpLoad(lab, `http://${VIP}/`, n);
  const serve = async (n: string) => {
    servers.set(n, await startBackend(lab, n, 80));
  };
  // A wait that fails says what the directors logged last (a real server not taken back in time
  // was seen once in CI, with nothing to tell why).
  const answeredBy = (who: string, what: string, ms: number) =>
    waitAnsweredBy(lab, `http://${VIP}/`, who, what, ms).catch((err: Error) => {
      const logs = agents.map((a) => `--- ${a.node}'s agent, last lines:\n${a.log.slice(-25).join("\n")}`);
      throw new Error([err.message, ...logs].join("\n"));
    });
  const logged = (text: string) => agents.some((a) => a.log.some((l) => l.includes(text)));

  beforeAll(async () => {
    lab = Lab.create({ prefix: "vklv-", nodes: 5 });
    for (const n of ["n1", "n2"]) lab.exec(n, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    for (const n of ["n3", "n4", "n5"]) {
      // NAT: real servers answer the client through the virtual address, wherever it lives.
      lab.exec(n, ["ip", "route", "add", `${lab.client.ipv4}/32`, "via", VIP]);
      await serve(n);
    }
  });
  afterAll(async () => {
    for (const n of lab.nodes) lab.killAll(n.name);
    await Promise.all(agents.map((a) => a.exited));
    lab.destroy();
  });

  it("serves the VIP from the keepalived.conf; a dead real server, all down, and a failed director", async () => {
    agents.push(
      startAgent(lab, "n1", directorFile(dir, "n1", 101)),
      startAgent(lab, "n2", directorFile(dir, "n2", 100), ["--metrics", ":9650"]),
    );
    await waitUntil(() => lab.holders(VIP).join() === "n1", 15_000, "n1 to hold the VIP");
    await waitUntil(
      () => agents.every((a) => a.log.join("\n").includes("virtual services programmed")),
      5000,
      "both directors' tables",
    );
    // The agent says what it read from the keepalived.conf.
    expect(agents[0]!.log.join("\n")).toContain("nb_get_retry");

    // persistence_timeout 50: the client stays on the one real server it was given.
    const first = load(20);
    expect(Object.values(first)).toEqual([20]);
    expect(["n3", "n4"]).toContain(Object.keys(first)[0]);

    // The real server serving the client dies: its traffic moves to the other.
    const victim = Object.keys(first)[0]!;
    const other = victim === "n3" ? "n4" : "n3";
    servers.get(victim)!.kill("SIGKILL");
    const victimAddress = victim === "n3" ? "198.18.0.13" : "198.18.0.14";
    await waitUntil(
      () => logged(`real server ${victimAddress}:80 of`) && logged("is down"),
      8000,
      "the check to fail",
    );
    await waitUntil(() => logged("dataplane updated"), 2000, "the update");
    await answeredBy(other, "traffic to move", 3000);
    // The load balancer's metrics, on the agent's one endpoint (n2 checks and programs too).
    await waitUntil(
      () => {
        const text = lab.exec("client", ["curl", "-s", "--max-time", "2", "http://198.18.0.12:9650/metrics"]);
        return [
          `vipkeeper_lb_real_server_up{virtual_server="default/`,
          "vipkeeper_health_check_duration_seconds_bucket",
          "vipkeeper_lb_dataplane_update_seconds_count",
          "vipkeeper_lb_real_server_transitions_total",
          "vipkeeper_vrrp_instance_state",
        ].every((m) => text.includes(m));
      },
      5000,
      "the load balancer's metrics on n2's endpoint",
    );
    expect(load(20)).toEqual({ [other]: 20 });

    // Both down: the sorry server answers.
    servers.get(other)!.kill("SIGKILL");
    await answeredBy("n5", "the sorry server", 10_000);

    // A real server comes back and takes the traffic from the sorry server.
    await serve("n3");
    await answeredBy("n3", "n3 back", 10_000);

    // The master director fails: n2 takes the address and serves at once from its own table.
    lab.killAll("n1");
    lab.linkDown("n1");
    await waitUntil(() => lab.holds("n2", VIP), 5000, "n2 to take over");
    await answeredBy("n3", "n2 to serve", 5000);
    expect(load(20)).toEqual({ n3: 20 });
  });
});
