// keepalived's virtual_server to VirtualServer: the LVS tutorial's files, every checker kind, and
// the report of what cannot be carried over (with its line).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/file-mode/config-file.ts";
import { validateVirtualServer } from "../../src/api/virtual-server.ts";
import { checkJobs } from "../../src/lb/from-api.ts";
import { convertKeepalived } from "../../src/keepalived/convert.ts";
import { parseKeepalived, parseKeepalivedFile } from "../../src/keepalived/syntax.ts";

const FIXTURES = join(import.meta.dirname, "../fixtures/keepalived");
const BIN = join(import.meta.dirname, "../../bin/vipkeeper.js");
const convertText = (text: string) => convertKeepalived(parseKeepalived(text, "k.conf"), "n1");
const said = (findings: { line: number; keyword: string; kind: string }[]) =>
  findings.map((f) => `${f.line} ${f.keyword} ${f.kind}`);

const ROUTER = `vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  virtual_ipaddress {
    10.0.0.100/24
    2001:db8::100/64
  }
}
`;

describe("the tutorial's LVS configurations", () => {
  it("lvs-dr-http: DR, rr, persistence 50 s, HTTP_GET with nb_get_retry, routed by VI_1", () => {
    const { virtualServers, findings } = convertKeepalived(
      parseKeepalivedFile(join(FIXTURES, "lvs-dr-http.conf")),
      "lb1",
    );
    expect(virtualServers).toHaveLength(1);
    const vs = virtualServers[0]!;
    expect(validateVirtualServer(vs)).toEqual([]);
    expect(vs.metadata.name).toBe("vs-172-16-100-1-80");
    expect(vs.spec).toMatchObject({
      address: "172.16.100.1",
      port: 80,
      protocol: "TCP",
      scheduler: "rr",
      forwarding: "DR",
      routerRef: "vi-1",
      realServers: [
        { address: "172.16.100.11", port: 80, weight: 1 },
        { address: "172.16.100.12", port: 80, weight: 1 },
      ],
      healthCheck: {
        httpGet: { path: "/", statusCodes: [200] },
        interval: "6s",
        timeout: "3s",
        retries: 3,
        delayBeforeRetry: "3s",
      },
    });
    expect(vs.spec.sorryServer).toBeUndefined(); // commented out in the file
    const persistence = (vs.spec as { persistence?: unknown }).persistence;
    const lines = said(findings);
    // Either the API carries persistence, or the importer says it does not.
    if (persistence) expect(persistence).toEqual({ timeout: "50s" });
    else expect(lines).toContain("53 persistence_timeout unmapped");
    expect(lines).toContain("60 nb_get_retry changed");
    expect(lines).toContain("73 nb_get_retry changed");
    // Nothing else in the virtual_server block is left out: the LVS file imports fully.
    expect(findings.filter((f) => f.line >= 48 && f.kind === "unmapped")).toEqual([]);
    // The checks the load balancer will run.
    const jobs = checkJobs(vs);
    expect(jobs.map((j) => [j.target, j.intervalMs, j.timeoutMs, j.retries])).toEqual([
      [{ address: "172.16.100.11", port: 80 }, 6000, 3000, 3],
      [{ address: "172.16.100.12", port: 80 }, 6000, 3000, 3],
    ]);
  });

  it("lvs-dr-tcp: TCP_CHECK, sorry server, tcp_port read as connect_port (keepalived rejects it)", () => {
    const { virtualServers, findings } = convertKeepalived(
      parseKeepalivedFile(join(FIXTURES, "lvs-dr-tcp.conf")),
      "lb1",
    );
    const vs = virtualServers[0]!;
    expect(validateVirtualServer(vs)).toEqual([]);
    expect(vs.spec).toMatchObject({
      forwarding: "DR",
      sorryServer: { address: "127.0.0.1", port: 80 },
      healthCheck: { tcp: {}, interval: "6s", timeout: "3s" },
    });
    expect(vs.spec.routerRef).toBeUndefined();
    const lines = said(findings);
    expect(lines).toContain("13 tcp_port changed");
    expect(lines).toContain("1 virtual_server changed"); // no vrrp_instance in this file
  });

  it("the haproxy files have no virtual_server and import as before", () => {
    for (const f of ["haproxy-pair-master.conf", "haproxy-dual-master.conf"]) {
      const c = convertKeepalived(parseKeepalivedFile(join(FIXTURES, f)), "lb1");
      expect(c.virtualServers).toEqual([]);
      expect(c.routers.length).toBeGreaterThan(0);
    }
  });
});

describe("virtual_server keywords", () => {
  it("SSL_GET with several status codes, digest, connect_port, virtualhost; NAT, wlc, quorum, hysteresis, inhibit", () => {
    const { virtualServers, findings } = convertText(`${ROUTER}
virtual_server 10.0.0.100 443 {
  delay_loop 2.5
  lb_algo wlc
  lb_kind NAT
  quorum 2
  hysteresis 1
  virtualhost www.example.org
  persistence_timeout 120
  persistence_granularity 255.255.255.0
  real_server 10.0.0.11 443 {
    weight 3
    inhibit_on_failure
    SSL_GET {
      url {
        path /healthz
        status_code 200-202 204
        digest 0123456789ABCDEF0123456789abcdef
      }
      connect_port 8443
      retry 2
    }
  }
  real_server 10.0.0.12 443 {
    weight 0
    SSL_GET {
      url {
        path /healthz
        status_code 200-202 204
        digest 0123456789ABCDEF0123456789abcdef
      }
      connect_port 8443
      retry 2
    }
  }
}
`);
    const vs = virtualServers[0]!;
    expect(validateVirtualServer(vs)).toEqual([]);
    expect(vs.spec).toMatchObject({
      scheduler: "wlc",
      forwarding: "NAT",
      quorum: 2,
      hysteresis: 1,
      inhibitOnFailure: true,
      routerRef: "vi-1",
      realServers: [
        { address: "10.0.0.11", port: 443, weight: 3 },
        { address: "10.0.0.12", port: 443, weight: 0 },
      ],
      healthCheck: {
        httpsGet: {
          path: "/healthz",
          statusCodes: [200, 201, 202, 204],
          digest: "0123456789abcdef0123456789abcdef",
          port: 8443,
          host: "www.example.org",
          insecureSkipVerify: true,
        },
        interval: "2500ms",
        timeout: "5s", // keepalived's default connect_timeout
        retries: 2,
      },
    });
    const persistence = (vs.spec as { persistence?: unknown }).persistence;
    if (persistence) expect(persistence).toEqual({ timeout: "120s", ipv4PrefixLength: 24 });
    else expect(said(findings)).toContain("17 persistence_timeout unmapped");
  });

  it("MISC_CHECK, DNS_CHECK, UDP, IPv6; misc_dynamic, fwmark, groups, unknown schedulers and checkers reported", () => {
    const { virtualServers, findings } = convertText(`${ROUTER}
virtual_server 10.0.0.100 80 {
  lb_algo lblc
  alpha
  omega
  ha_suspend
  quorum_up "/bin/true"
  real_server 10.0.0.11 80 {
    MISC_CHECK {
      misc_path "/usr/local/bin/check 10.0.0.11"
      misc_timeout 4
      misc_dynamic
    }
    notify_up "/bin/echo up"
    notify_down "/bin/echo down"
    uthreshold 10
  }
  real_server 10.0.0.12 80 {
    MISC_CHECK {
      misc_path "/usr/local/bin/check 10.0.0.12"
    }
  }
}
virtual_server 2001:db8::100 53 {
  protocol UDP
  delay_loop 1
  real_server 2001:db8::11 53 {
    DNS_CHECK {
      name example.org
      type AAAA
    }
    SMTP_CHECK {
    }
  }
}
virtual_server 2001:db8::100 5000 {
  protocol UDP
  real_server 2001:db8::12 5000 {
    UDP_CHECK {
      connect_port 5001
    }
  }
}
virtual_server fwmark 7 {
  real_server 10.0.0.11 80 {
  }
}
virtual_server group web {
}
virtual_server_group web {
  10.0.0.100 80
}
virtual_server 10.0.0.200 80 {
  real_server 10.0.0.13 80 {
    PING_CHECK {
    }
  }
}
`);
    expect(virtualServers.map((v) => v.metadata.name)).toEqual([
      "vs-10-0-0-100-80",
      "vs-2001-db8-100-53-udp",
      "vs-2001-db8-100-5000-udp",
      "vs-fwmark-7",
      "vs-10-0-0-200-80",
    ]);
    for (const v of virtualServers) expect(validateVirtualServer(v)).toEqual([]);
    const [misc, dns, udp] = virtualServers;
    const unrouted = virtualServers.at(-1);
    expect(virtualServers[3]!.spec).toMatchObject({ fwmark: 7, realServers: [{ address: "10.0.0.11" }] });
    expect(virtualServers[3]!.spec.routerRef).toBeUndefined();
    expect(misc!.spec.scheduler).toBeUndefined();
    expect(misc!.spec.healthCheck).toMatchObject({
      exec: { command: "/usr/local/bin/check 10.0.0.11" },
      timeout: "4s",
      interval: "60s", // keepalived's default delay_loop
    });
    expect(dns!.spec).toMatchObject({
      protocol: "UDP",
      routerRef: "vi-1",
      healthCheck: { dns: { name: "example.org", type: "AAAA" }, interval: "1s" },
    });
    expect(udp!.spec.healthCheck).toMatchObject({ udp: { port: 5001 } });
    expect(unrouted!.spec.healthCheck).toMatchObject({ ping: {} });
    expect(unrouted!.spec.routerRef).toBeUndefined();
    const lines = said(findings);
    for (const l of [
      "11 lb_algo unmapped",
      "12 alpha changed",
      "13 omega changed", // run by the agent on its shutdown
      "14 ha_suspend changed",
      "15 quorum_up changed", // run by the agent from the file
      "20 misc_dynamic unmapped",
      "22 notify_up changed",
      "23 notify_down changed",
      "24 uthreshold unmapped",
      "27 MISC_CHECK changed", // a different command than the first server's
      "40 SMTP_CHECK unmapped",
      "52 virtual_server changed", // fwmark
      "56 virtual_server unmapped", // group: no real servers
      "10 virtual_server changed", // no protocol line: keepalived would take UDP
      "61 virtual_server changed", // no routerRef
    ])
      expect(lines).toContain(l);
    // Every finding names the file.
    expect(findings.every((f) => f.file === "k.conf")).toBe(true);
  });

  it("virtual_server group: IPv4 and IPv6 ranges as keepalived writes them (last octet; last group in hex), routerRef by any address", () => {
    const { virtualServers, findings } = convertText(`${ROUTER}
virtual_server_group v6 {
  2001:db8::a-f 443
  2001:db8::100 80
}
virtual_server_group v4 {
  10.0.0.98-100 80
  fwmark 3
}
virtual_server_group unused {
  10.0.0.1 80
}
virtual_server group v6 {
  protocol TCP
  real_server 2001:db8::11 8443 {
    SSL_GET {
      url {
        path /a
      }
      url {
        path /b
        status_code 200-201
        digest 0123456789ABCDEF0123456789ABCDEF
      }
    }
  }
}
virtual_server group v4 {
  protocol TCP
  real_server 10.0.0.11 80 {
    TCP_CHECK {
      connect_ip 10.0.0.21
    }
  }
}
virtual_server group nowhere {
  real_server 10.0.0.11 80 {
  }
}
`);
    expect(virtualServers.map((v) => [v.metadata.name, v.spec.group, v.spec.routerRef])).toEqual([
      [
        "vs-group-v6",
        [
          { address: "2001:db8::a-2001:db8::f", port: 443 },
          { address: "2001:db8::100", port: 80 },
        ],
        "vi-1",
      ],
      ["vs-group-v4", [{ address: "10.0.0.98-10.0.0.100", port: 80 }, { fwmark: 3 }], "vi-1"],
    ]);
    for (const v of virtualServers) expect(validateVirtualServer(v)).toEqual([]);
    expect(virtualServers[0]!.spec.healthCheck?.httpsGet).toEqual({
      path: "/a",
      urls: [{ path: "/b", statusCodes: [200, 201], digest: "0123456789abcdef0123456789abcdef" }],
      insecureSkipVerify: true,
    });
    expect(virtualServers[1]!.spec.realServers[0]!.checkTargets).toEqual([{ address: "10.0.0.21" }]);
    const lines = said(findings);
    expect(lines).toContain("18 virtual_server_group changed"); // unused: keepalived ignores it too
    expect(lines).toContain("44 virtual_server unmapped"); // no such group
  });

  it("notify_up / notify_down are kept for the agent with the load balancer's keys", () => {
    const { realServerScripts } = convertText(`${ROUTER}
virtual_server 2001:db8::100 80 {
  real_server 2001:db8::11 8080 {
    notify_up "/bin/echo up"
    notify_down /bin/echo down
  }
}
`);
    expect(realServerScripts).toEqual([
      {
        service: "default/vs-2001-db8-100-80",
        server: "[2001:db8::11]:8080",
        up: "/bin/echo up",
        down: "/bin/echo down",
      },
    ]);
  });

  it("bad addresses and ports are reported, never a crash", () => {
    const { virtualServers, findings } = convertText(`
virtual_server 10.0.0.300 80 {
  real_server 10.0.0.1 80 {
  }
}
virtual_server 10.0.0.1 http {
}
virtual_server 10.0.0.1 80 {
  real_server fe80::1 80 {
  }
  real_server 10.0.0.2 {
  }
  sorry_server 10.0.0.9
}
`);
    expect(virtualServers).toEqual([]);
    const lines = said(findings);
    expect(lines).toContain("2 virtual_server unmapped");
    expect(lines).toContain("6 virtual_server unmapped");
    expect(lines).toContain("11 real_server unmapped");
    expect(lines).toContain("13 sorry_server unmapped");
    // The mixed-family server fails validation, reported on the virtual_server line with the field.
    expect(findings.find((f) => f.line === 8 && f.kind === "unmapped")?.message).toMatch(
      /spec\.realServers\[0\]\.address/,
    );
  });
  it("a group entry whose word holds a lone carriage return is reported, not a crash (found by bench/fuzz.ts)", () => {
    const { findings } = convertText(
      "virtual_server_group g {\n  10.0.0.1\r-5 80\n}\nvirtual_server group g {\n}\n",
    );
    expect(findings.some((f) => f.line === 2 && f.kind === "unmapped")).toBe(true);
  });
});

describe("the agent and the import command read virtual servers", () => {
  it("the agent's loader returns the VirtualServers and the notify scripts of a keepalived.conf", () => {
    const dir = mkdtempSync(join(tmpdir(), "vk-lvs-"));
    const file = join(dir, "keepalived.conf");
    writeFileSync(
      file,
      `${ROUTER}
virtual_server 10.0.0.100 80 {
  real_server 10.0.0.11 80 {
    notify_down "/bin/echo down"
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
`,
    );
    const config = loadConfig(file, "n1");
    expect(config.routers.map((r) => r.metadata.name)).toEqual(["vi-1"]);
    expect(config.virtualServers.map((v) => v.metadata.name)).toEqual(["vs-10-0-0-100-80"]);
    expect(config.realServerScripts).toEqual([
      { service: "default/vs-10-0-0-100-80", server: "10.0.0.11:80", down: "/bin/echo down" },
    ]);
    expect(config.notes.some((n) => n.includes("notify_down"))).toBe(true);
  });

  it("`vipkeeper import` prints the LVS file's VirtualRouter and VirtualServer", () => {
    const r = spawnSync(process.execPath, [BIN, "import", `lb1=${join(FIXTURES, "lvs-dr-http.conf")}`], {
      encoding: "utf8",
    });
    expect(r.status).toBe(0);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind: string });
    expect(docs.map((d) => d.kind)).toEqual(["VirtualRouter", "VirtualServer"]);
    expect(validateVirtualServer(docs[1])).toEqual([]);
    expect(r.stderr).toMatch(/lvs-dr-http\.conf:60: nb_get_retry: changed/);
  });

  it("`vipkeeper import` keeps one VirtualServer for several nodes' files and reports a difference", () => {
    const dir = mkdtempSync(join(tmpdir(), "vk-lvs2-"));
    const http = join(FIXTURES, "lvs-dr-http.conf");
    const other = join(dir, "lb2.conf");
    writeFileSync(
      other,
      readFileSync(http, "utf8").replace("lb_algo rr", "lb_algo wrr").replace("priority 101", "priority 100"),
    );
    const r = spawnSync(process.execPath, [BIN, "import", `lb1=${http}`, `lb2=${other}`], {
      encoding: "utf8",
    });
    const docs = parseAllDocuments(r.stdout).map(
      (d) => d.toJS() as { kind: string; spec: { scheduler?: string } },
    );
    expect(docs.filter((d) => d.kind === "VirtualServer").map((d) => d.spec.scheduler)).toEqual(["rr"]);
    expect(r.stderr).toContain("conflict: VirtualServer vs-172-16-100-1-80: ");
  });
});
