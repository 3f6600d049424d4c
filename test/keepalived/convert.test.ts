// keepalived.conf to VirtualRouter: the tutorial's configurations as users bring them, each keyword's
// mapping, the report of what cannot be carried over, and the merge of several nodes' files.
import { spawnSync } from "node:child_process";
import { parseAllDocuments } from "yaml";
import { refusal } from "../../src/cluster/grants.ts";
import type { VirtualServer } from "../../src/api/virtual-server.ts";
import type { RouterObject } from "../../src/cluster/routers.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { validateVirtualRouter } from "../../src/api/virtual-router.ts";
import { loadConfig } from "../../src/file-mode/config-file.ts";
import { planForNode } from "../../src/plan/plan.ts";
import {
  convertKeepalived,
  mergeRouters,
  objectName,
  secondsToDuration,
} from "../../src/keepalived/convert.ts";
import { parseKeepalived, parseKeepalivedFile } from "../../src/keepalived/syntax.ts";

const FIXTURES = join(import.meta.dirname, "../fixtures/keepalived");
const BIN = join(import.meta.dirname, "../../bin/vipkeeper.js");
const convertText = (text: string, node = "n1") => convertKeepalived(parseKeepalived(text, "k.conf"), node);

describe("the tutorial's configurations", () => {
  it("haproxy pair: a VRRPv2 router with PASS, weighted scripts, label, garp delay and notify scripts", () => {
    const { routers, findings } = convertKeepalived(
      parseKeepalivedFile(join(FIXTURES, "haproxy-pair-master.conf")),
      "lb1",
    );
    expect(routers).toHaveLength(1);
    const r = routers[0]!;
    expect(validateVirtualRouter(r)).toEqual([]);
    expect(r.metadata.name).toBe("vi-1");
    // keepalived's own name is kept, for notify scripts and mail (and the agent's plan carries it).
    expect(r.metadata.annotations).toEqual({ "vipkeeper.io/keepalived-instance": "VI_1" });
    expect(planForNode(routers, "lb1").instances[0]!.keepalivedName).toBe("VI_1");
    expect(r.spec).toMatchObject({
      vrid: 51,
      version: 2,
      interface: "eth0",
      priorities: [{ node: "lb1", priority: 101 }],
      authentication: { type: "PASS", password: "password" },
      addresses: [{ address: "172.16.100.1/16", dev: "eth0", label: "eth0:0" }],
      garp: { delay: "1s" },
      notify: {
        scripts: { master: "/etc/keepalived/notify.sh master", fault: "/etc/keepalived/notify.sh fault" },
      },
    });
    expect(r.spec.track?.scripts).toEqual([
      { name: "chk_haproxy", command: "killall -0 haproxy", interval: "1s", weight: 2 },
      {
        name: "chk_mantaince_down",
        command: "[[ -f /etc/keepalived/down ]] && exit 1 || exit 0",
        interval: "1s",
        weight: 2,
      },
    ]);
    // The own interface in track_interface is not tracked twice.
    expect(r.spec.track?.interfaces).toBeUndefined();
    const said = findings.map((f) => `${f.line} ${f.keyword} ${f.kind}`);
    expect(said).toContain("18 vrrp_script changed"); // the bash-only script, run with bash
    expect(said).toContain("3 notification_email changed"); // no smtp_alert: no mail, as in keepalived
    expect(said).toContain("26 state changed");
  });

  it("dual master: the two nodes' files merge into two routers whose masters sit on different nodes", () => {
    const lb1 = convertKeepalived(parseKeepalivedFile(join(FIXTURES, "haproxy-dual-master.conf")), "lb1");
    // The peer's file swaps MASTER/BACKUP and the priorities on each instance.
    const peerText = spawnSync("sed", [
      "-e",
      "s/priority 101/priority 9101/; s/priority 100/priority 101/; s/priority 9101/priority 100/",
      join(FIXTURES, "haproxy-dual-master.conf"),
    ]).stdout.toString();
    const lb2 = convertText(peerText, "lb2");
    const { routers, conflicts } = mergeRouters([
      { file: "lb1.conf", routers: lb1.routers },
      { file: "lb2.conf", routers: lb2.routers },
    ]);
    expect(conflicts).toEqual([]);
    expect(routers.map((r) => [r.metadata.name, r.spec.priorities])).toEqual([
      [
        "vi-1",
        [
          { node: "lb1", priority: 101 },
          { node: "lb2", priority: 100 },
        ],
      ],
      [
        "vi-2",
        [
          { node: "lb1", priority: 100 },
          { node: "lb2", priority: 101 },
        ],
      ],
    ]);
    const masterOf = (name: string) =>
      ["lb1", "lb2"].find((n) =>
        planForNode(routers, n).instances.some((i) => i.router === name && i.priority === 101),
      );
    expect([masterOf("vi-1"), masterOf("vi-2")]).toEqual(["lb1", "lb2"]);
  });

  it.each(["lvs-dr-http.conf", "lvs-dr-tcp.conf"])(
    "%s: the VRRP part converts and virtual_server is imported (test/keepalived/virtual-server.test.ts)",
    (file) => {
      const { routers, virtualServers, findings } = convertKeepalived(
        parseKeepalivedFile(join(FIXTURES, file)),
        "lb1",
      );
      for (const r of routers) expect(validateVirtualRouter(r)).toEqual([]);
      expect(virtualServers).toHaveLength(1);
      expect(findings.some((f) => f.keyword === "virtual_server" && f.kind === "unmapped")).toBe(false);
    },
  );
});

describe("keyword mapping", () => {
  it("v3 with fractional advert_int, nopreempt, preempt_delay, unicast, and a host-route default prefix", () => {
    const { routers, findings } = convertText(`
      vrrp_instance web {
        version 3
        interface eth1
        virtual_router_id 7
        priority 150
        advert_int 0.1
        nopreempt
        preempt_delay 2.5
        unicast_src_ip 198.18.0.11
        unicast_peer {
          198.18.0.12
        }
        virtual_ipaddress {
          198.18.0.50
        }
        use_vmac
      }`);
    expect(routers[0]!.spec).toMatchObject({
      version: 3,
      interface: "eth1",
      advertInterval: "100ms",
      preempt: false,
      preemptDelay: "2500ms",
      unicast: { peers: ["198.18.0.11", "198.18.0.12"] },
      addresses: [{ address: "198.18.0.50/32" }],
      virtualMAC: {},
    });
    expect(validateVirtualRouter(routers[0])).toEqual([]);
    expect(findings).toEqual([]);
  });

  it("virtual_routes and virtual_rules become routes and rules; what cannot be carried over is left out and reported", () => {
    const { routers, findings } = convertText(`
      vrrp_instance gw {
        interface eth0
        virtual_router_id 52
        virtual_ipaddress {
          198.18.0.50/24
        }
        virtual_routes {
          src 198.18.0.50 198.19.9.0/24 via 198.18.0.1 dev eth1 metric 5
          blackhole 198.19.10.0/24
          default gw 198.18.0.1 table 100
          198.19.11.0/24 dev eth0 scope link table main
          198.19.12.0/24 via 198.18.0.1 or 198.18.0.2
          2001:db8:9::/64 via 2001:db8::1
        }
        virtual_rules {
          from 198.18.0.50 table 100
          fwmark 0x7/0xff lookup 100 priority 200
          to 198.19.0./24 table 2
          from 198.18.0.0/24 iif eth1 table 100 pref 300 goto 5
        }
      }`);
    expect(routers[0]!.spec.routes).toEqual([
      { src: "198.18.0.50", to: "198.19.9.0/24", via: "198.18.0.1", dev: "eth1", metric: 5 },
      { type: "Blackhole", to: "198.19.10.0/24" },
      { to: "0.0.0.0/0", via: "198.18.0.1", table: 100 },
      { to: "198.19.11.0/24", dev: "eth0", scope: "Link", table: 254 },
    ]);
    expect(routers[0]!.spec.rules).toEqual([
      { from: "198.18.0.50/32", table: 100, priority: 16383 },
      { fwmark: 7, fwmask: 255, table: 100, priority: 200 },
    ]);
    expect(validateVirtualRouter(routers[0])).toEqual([]);
    expect(findings.map((f) => [f.line, f.kind, f.message])).toEqual([
      [13, "unmapped", "'or' is not supported in a route (the line is left out)"],
      [19, "unmapped", "'198.19.0./24' is not an address or prefix"],
      [20, "unmapped", "'goto' is not supported in a rule (the line is left out)"],
      [
        2,
        "unmapped",
        "route 2001:db8:9::/64 is IPv6 and the instance has no IPv6 address: no instance would add it",
      ],
    ]);
  });

  it("use_vmac with a name and vmac_xmit_base; vmac_xmit_base alone is reported", () => {
    const { routers, findings } = convertText(`
      vrrp_instance named {
        interface eth1
        virtual_router_id 51
        use_vmac vmac51
        vmac_xmit_base
        virtual_ipaddress {
          198.18.0.50/24
        }
      }
      vrrp_instance base_only {
        interface eth1
        virtual_router_id 52
        vmac_xmit_base
        virtual_ipaddress {
          198.18.0.52/24
        }
      }`);
    expect(routers[0]!.spec.virtualMAC).toEqual({ interface: "vmac51", advertsOnParent: true });
    expect(routers[1]!.spec.virtualMAC).toBeUndefined();
    expect(validateVirtualRouter(routers[0])).toEqual([]);
    expect(findings).toEqual([
      expect.objectContaining({ keyword: "vmac_xmit_base", kind: "unmapped", line: 14 }),
    ]);
  });

  it("IPv6 addresses without a version get VRRPv3; track_interface weights are kept; notify takes keepalived's arguments", () => {
    const { routers } = convertText(`
      vrrp_instance V6 {
        interface eth0
        virtual_router_id 9
        track_interface {
          eth1 weight -20
          eth2
        }
        virtual_ipaddress {
          2001:db8::50/64
        }
        notify "/usr/local/bin/tell"
      }`);
    const spec = routers[0]!.spec;
    expect(spec.version).toBe(3);
    expect(spec.priorities).toEqual([{ node: "n1", priority: 100 }]);
    expect(spec.track?.interfaces).toEqual([{ name: "eth1", weight: -20 }, { name: "eth2" }]);
    expect(spec.notify?.scripts?.any).toBe("/usr/local/bin/tell");
    expect(validateVirtualRouter(routers[0])).toEqual([]);
  });

  it("a track_script naming no vrrp_script, and AH authentication, are reported with their lines", () => {
    const { findings } = convertText(`vrrp_instance X {
  virtual_router_id 3
  authentication {
    auth_type AH
  }
  track_script {
    nothing_here
  }
  virtual_ipaddress {
    198.18.0.9/24
  }
}`);
    expect(findings.map((f) => [f.line, f.keyword, f.kind])).toEqual([
      [3, "authentication", "unmapped"],
      [7, "nothing_here", "unmapped"],
    ]);
  });

  it("vrrp_priority and checker_priority point to where the priorities are set", () => {
    const { findings } = convertText(`global_defs {
  vrrp_priority -5
  checker_priority 5
}
vrrp_instance X {
  virtual_router_id 3
  virtual_ipaddress {
    198.18.0.9/24
  }
}`);
    expect(findings.map((f) => [f.line, f.keyword, f.kind])).toEqual([
      [2, "vrrp_priority", "unmapped"],
      [3, "checker_priority", "unmapped"],
    ]);
    expect(findings[0]!.message).toContain("--engine-nice");
  });

  it("smtp_alert with global mail settings becomes mail notification; router_id names the sender", () => {
    const { routers, findings } = convertText(`global_defs {
  notification_email {
    ops@example.org
    oncall@example.org
  }
  notification_email_from vk@example.org
  smtp_server 198.18.0.25 2525
  smtp_connect_timeout 3
  router_id LB_A
}
vrrp_instance A {
  interface eth0
  virtual_router_id 1
  smtp_alert
  virtual_ipaddress {
    198.18.0.9/24
  }
}`);
    expect(findings).toEqual([]);
    expect(routers[0]!.spec.notify?.mail).toEqual({
      to: ["ops@example.org", "oncall@example.org"],
      from: "vk@example.org",
      server: "198.18.0.25:2525",
      connectTimeout: "3s",
      routerId: "LB_A",
    });
    expect(validateVirtualRouter(routers[0])).toEqual([]);
  });

  it("units and names", () => {
    expect(secondsToDuration("1")).toBe("1s");
    expect(secondsToDuration("0.05")).toBe("50ms");
    expect(secondsToDuration("x")).toBeUndefined();
    expect(objectName("VI_1")).toBe("vi-1");
    expect(objectName("__")).toBe("router");
  });
});

describe("the agent and the import command read keepalived.conf", () => {
  it("the agent's loader converts a keepalived.conf for the node it is given and keeps the notes", () => {
    const { routers, notes } = loadConfig(join(FIXTURES, "haproxy-pair-master.conf"), "lb1");
    expect(routers.map((r) => r.metadata.name)).toEqual(["vi-1"]);
    expect(planForNode(routers, "lb1").instances[0]).toMatchObject({ priority: 101, version: 2 });
    expect(notes.some((n) => n.includes("smtp_alert"))).toBe(true);
  });

  it("`vipkeeper import n1=FILE n2=FILE` prints valid YAML on stdout and its report on stderr", () => {
    const file = join(FIXTURES, "haproxy-pair-master.conf");
    const r = spawnSync(process.execPath, [BIN, "import", `lb1=${file}`, `lb2=${file}`], {
      encoding: "utf8",
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("kind: VirtualRouter");
    expect(r.stdout).not.toContain("unmapped");
    expect(r.stdout).toMatch(/node: lb1\n\s+priority: 101\n\s+- node: lb2/);
    expect(r.stderr).toContain("haproxy-pair-master.conf:3: notification_email: changed");
  });

  it("`vipkeeper import --namespace NS`: the routers grant the VirtualServers what the file ran, and no more", () => {
    const dir = mkdtempSync(join(tmpdir(), "vk-import-"));
    const file = join(dir, "lb.conf");
    writeFileSync(
      file,
      `vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 150
    virtual_ipaddress {
        198.18.0.50/24
    }
}
virtual_server 198.18.0.50 80 {
    lb_algo rr
    protocol TCP
    real_server 198.18.0.13 8080 {
        MISC_CHECK {
            misc_path "/usr/local/bin/check.sh 198.18.0.13"
        }
    }
}
virtual_server 198.18.0.50 443 {
    lb_algo rr
    protocol TCP
    real_server 127.0.0.1 8443 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
`,
    );
    const r = spawnSync(process.execPath, [BIN, "import", "--node", "n1", "--namespace", "shop", file], {
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind: string });
    const router = docs.find((d) => d.kind === "VirtualRouter") as unknown as RouterObject;
    expect(router.spec.virtualServers).toEqual({
      from: [
        {
          namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "shop" } },
          allowExec: true,
          allowNodeLocal: true,
        },
      ],
    });
    const servers = docs.filter((d) => d.kind === "VirtualServer") as unknown as VirtualServer[];
    expect(servers.map((v) => v.metadata.namespace)).toEqual(["shop", "shop"]);
    for (const vs of servers)
      expect(
        refusal(vs, {
          router,
          namespaceLabels: { "kubernetes.io/metadata.name": "shop" },
          allowScripts: true,
          nodeAddresses: new Set(),
        }),
      ).toBeUndefined();
    // Another namespace is granted nothing.
    expect(
      refusal(servers[0]!, {
        router,
        namespaceLabels: { "kubernetes.io/metadata.name": "other" },
        allowScripts: true,
        nodeAddresses: new Set(),
      }),
    ).toMatchObject({ rule: "NamespaceNotAllowed" });
  });

  it("a syntax error names file and line, and exits 1; a file without vrrp_instance exits 1", () => {
    const dir = mkdtempSync(join(tmpdir(), "vk-import-"));
    writeFileSync(join(dir, "bad.conf"), "vrrp_instance X {\n  interface eth0\n");
    const r = spawnSync(process.execPath, [BIN, "import", join(dir, "bad.conf")], { encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bad\.conf:\d+: /);
    const none = spawnSync(process.execPath, [BIN, "import", join(FIXTURES, "README.md")], {
      encoding: "utf8",
    });
    expect(none.status).toBe(1);
    expect(none.stderr).toContain("no vrrp_instance");
  });
});

describe("vrrp_sync_group", () => {
  it("gives its members one syncGroup (the engine moves them together); group notify scripts are reported", () => {
    const { routers, findings, syncGroupScripts } = convertText(`
vrrp_sync_group VG_1 {
  group {
    VI_EXT
    VI_INT
  }
  notify_master /usr/local/bin/both-master
}
vrrp_instance VI_EXT {
  state MASTER
  interface eth0
  virtual_router_id 51
  priority 150
  virtual_ipaddress { 198.18.0.50/24 }
  track_interface { eth2 }
}
vrrp_instance VI_INT {
  state MASTER
  interface eth1
  virtual_router_id 52
  priority 150
  virtual_ipaddress { 198.19.0.1/24 }
}
`);
    const ext = routers.find((r) => r.metadata.name === "vi-ext")!;
    const int = routers.find((r) => r.metadata.name === "vi-int")!;
    expect(ext.spec.syncGroup).toBe("vg-1");
    expect(int.spec.syncGroup).toBe("vg-1");
    expect(ext.spec.track?.interfaces).toEqual([{ name: "eth2" }]);
    expect(int.spec.track).toBeUndefined();
    for (const r of routers) expect(validateVirtualRouter(r)).toEqual([]);
    expect(
      findings.find((f) => f.kind === "changed" && /VG_1: .* get syncGroup vg-1/.test(f.message))?.line,
    ).toBe(2);
    // The group's notify scripts: on the first member's spec.notify.syncGroupScripts (the import's
    // output), and with keepalived's group name for the agent reading the file.
    expect(ext.spec.notify?.syncGroupScripts).toEqual({ master: "/usr/local/bin/both-master" });
    expect(int.spec.notify?.syncGroupScripts).toBeUndefined();
    expect(syncGroupScripts).toEqual([
      { syncGroup: "vg-1", group: "VG_1", master: "/usr/local/bin/both-master" },
    ]);
    expect(findings.find((f) => f.keyword === "notify_master")).toMatchObject({
      kind: "changed",
      message: expect.stringMatching(/vi-ext's spec.notify.syncGroupScripts.*GROUP vg-1/) as string,
    });
  });

  it("reports a group whose instances are not there", () => {
    const { findings } = convertText(`
vrrp_sync_group VG_2 {
  group {
    NOPE
  }
}
`);
    expect(findings.find((f) => /VG_2: fewer than two/.test(f.message))?.kind).toBe("unmapped");
  });
});
