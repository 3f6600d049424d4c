// keepalived's virtual_server_group, run by the agent from a keepalived.conf on the nftables
// dataplane: one virtual_server serves an address range and another port, its HTTP_GET has two url
// blocks, and a real server's failure takes it out of every address of the group at once.
// Lab prefix "vkgr-".
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Lab } from "../../src/lab/lab.ts";
import { startAgent, waitUntil, type RunningAgent } from "../support/agents.ts";
import { httpLoad, startBackend } from "../support/http-traffic.ts";

const ROOT = process.getuid?.() === 0;
if (!ROOT) console.warn("test/net/keepalived-group.test.ts skipped: needs root for network namespaces");

const CONF = `global_defs {
  router_id n1
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 61
  priority 150
  advert_int 1
  virtual_ipaddress {
    198.18.0.50/24
    198.18.0.51/24
  }
}
virtual_server_group WEB {
  198.18.0.50-51 80
  198.18.0.50 8080
}
virtual_server group WEB {
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 198.18.0.12 80 {
    HTTP_GET {
      url {
        path /a
      }
      url {
        path /b
        status_code 200
      }
      connect_timeout 1
      retry 1
      delay_before_retry 1
    }
  }
  real_server 198.18.0.13 80 {
    HTTP_GET {
      url {
        path /a
      }
      url {
        path /b
        status_code 200
      }
      connect_timeout 1
      retry 1
      delay_before_retry 1
    }
  }
}
`;

const URLS = ["http://198.18.0.50/", "http://198.18.0.51/", "http://198.18.0.50:8080/"];

describe.skipIf(!ROOT)("virtual_server_group in the lab", { timeout: 90_000 }, () => {
  let lab: Lab;
  let agent: RunningAgent | undefined;
  const servers = new Map<string, ChildProcess>();

  beforeAll(async () => {
    lab = Lab.create({ prefix: "vkgr-", nodes: 3 });
    lab.exec("n1", ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    for (const n of ["n2", "n3"]) {
      // NAT: real servers answer the client through the director.
      lab.exec(n, ["ip", "route", "add", `${lab.client.ipv4}/32`, "via", "198.18.0.50"]);
      servers.set(n, await startBackend(lab, n, 80));
    }
  });
  afterAll(async () => {
    for (const n of lab.nodes) lab.killAll(n.name);
    if (agent) await agent.exited;
    lab.destroy();
  });

  it("serves every address and port of the group; a dead real server leaves all of them", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "vk-group-")), "keepalived.conf");
    writeFileSync(file, CONF);
    agent = startAgent(lab, "n1", file);
    await waitUntil(
      () => lab.holds("n1", "198.18.0.50") && lab.holds("n1", "198.18.0.51"),
      15_000,
      "the VIPs",
    );
    await waitUntil(() => agent!.log.some((l) => l.includes("virtual services programmed")), 5000, "tables");
    const programmed = agent.log.find((l) => l.includes("virtual services programmed"))!;
    for (const key of ["default/vs-group-web", "default/vs-group-web#1", "default/vs-group-web#2"])
      expect(programmed).toContain(`"${key}"`);
    for (const url of URLS) expect(httpLoad(lab, url, 20), url).toEqual({ n2: 10, n3: 10 });

    servers.get("n3")!.kill("SIGKILL");
    await waitUntil(
      () => agent!.log.some((l) => l.includes("198.18.0.13:80") && l.includes("is down")),
      5000,
      "the check to fail",
    );
    await waitUntil(() => agent!.log.some((l) => l.includes("dataplane updated")), 2000, "the update");
    for (const url of URLS) expect(httpLoad(lab, url, 10), url).toEqual({ n2: 10 });
  });
});
