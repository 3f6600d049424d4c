// keepalived's quorum_up / quorum_down from a keepalived.conf: the agent runs them when the healthy
// weight of a service's real servers falls below its quorum (minus hysteresis) and when it reaches
// it again (plus hysteresis), once per change.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { convertKeepalived } from "../../src/keepalived/convert.ts";
import { parseKeepalived } from "../../src/keepalived/syntax.ts";
import { QuorumWatcher } from "../../src/observe/lb-observer.ts";

const CONF = `virtual_server 198.18.0.50 80 {
  protocol TCP
  quorum 3
  hysteresis 1
  quorum_up "/usr/local/sbin/quorum-up.sh web"
  quorum_down /usr/local/sbin/quorum-down.sh
  real_server 198.18.0.11 80 {
    weight 2
  }
  real_server 198.18.0.12 80 {
    weight 1
  }
  real_server 198.18.0.13 80 {
    weight 1
  }
}
`;

describe("quorum_up / quorum_down", () => {
  it("are read from the keepalived.conf for the agent (the API has no field), and reported as changed", () => {
    const c = convertKeepalived(parseKeepalived(CONF, "k.conf"), "n1");
    expect(c.quorumScripts).toEqual([
      {
        service: "default/vs-198-18-0-50-80",
        up: "/usr/local/sbin/quorum-up.sh web",
        down: "/usr/local/sbin/quorum-down.sh",
      },
    ]);
    expect(c.findings.filter((f) => f.keyword.startsWith("quorum_")).map((f) => f.kind)).toEqual([
      "changed",
      "changed",
    ]);
  });

  it("run once per change of the service's quorum, with hysteresis", () => {
    const c = convertKeepalived(parseKeepalived(CONF, "k.conf"), "n1");
    const ran: string[] = [];
    const watcher = new QuorumWatcher(c.virtualServers, c.quorumScripts, pino({ level: "silent" }), (cmd) => {
      ran.push(cmd);
      return Promise.resolve();
    });
    const svc = "default/vs-198-18-0-50-80";
    // Healthy weight 4; down below 3 - 1 = 2, up again at 3 + 1 = 4.
    watcher.changed(svc, "198.18.0.12:80", false); // 3: still up
    expect(ran).toEqual([]);
    watcher.changed(svc, "198.18.0.11:80", false); // 1: lost
    expect(ran).toEqual(["/usr/local/sbin/quorum-down.sh"]);
    watcher.changed(svc, "198.18.0.13:80", false); // 0: still down, no second run
    watcher.changed(svc, "198.18.0.11:80", true); // 2: below 4, still down
    expect(ran).toEqual(["/usr/local/sbin/quorum-down.sh"]);
    watcher.changed(svc, "198.18.0.12:80", true); // 3: below 4, still down
    watcher.changed(svc, "198.18.0.13:80", true); // 4: gained
    expect(ran).toEqual(["/usr/local/sbin/quorum-down.sh", "/usr/local/sbin/quorum-up.sh web"]);
    // Another service's changes are not this one's.
    watcher.changed("default/other", "198.18.0.11:80", false);
    expect(ran).toHaveLength(2);
  });
});

describe("omega", () => {
  it("on shutdown runs notify_down of each real server still up, and quorum_down while the quorum holds", async () => {
    const conf = CONF.replace("  protocol TCP\n", "  protocol TCP\n  omega\n")
      .replace("    weight 2\n", "    weight 2\n    notify_down /bin/down-11\n")
      .replace(
        "    weight 1\n  }\n  real_server 198.18.0.13",
        "    weight 1\n    notify_down /bin/down-12\n  }\n  real_server 198.18.0.13",
      );
    const c = convertKeepalived(parseKeepalived(conf, "k.conf"), "n1");
    expect(c.quorumScripts[0]).toMatchObject({ omega: true });
    expect(c.findings.find((f) => f.keyword === "omega")?.kind).toBe("changed");
    const ran: string[] = [];
    const make = () =>
      new QuorumWatcher(
        c.virtualServers,
        c.quorumScripts,
        pino({ level: "silent" }),
        (cmd) => {
          ran.push(cmd);
          return Promise.resolve();
        },
        c.realServerScripts,
      );
    const svc = "default/vs-198-18-0-50-80";
    // All up: both down scripts and quorum_down.
    await make().shutdown();
    expect(ran.sort()).toEqual(["/bin/down-11", "/bin/down-12", "/usr/local/sbin/quorum-down.sh"]);
    // .12 already down, and the quorum lost (healthy weight 1): only .11's down script.
    ran.length = 0;
    const w = make();
    w.changed(svc, "198.18.0.12:80", false);
    w.changed(svc, "198.18.0.11:80", false);
    ran.length = 0;
    w.changed(svc, "198.18.0.11:80", true); // weight 2 + 1 = 3, below 4: the quorum stays lost
    await w.shutdown();
    expect(ran).toEqual(["/bin/down-11"]);
  });
});
