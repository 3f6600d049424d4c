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
