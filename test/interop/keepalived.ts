// Real keepalived (Debian's 2.2.7) as a peer in the lab: a configuration written from the same
// settings a vipkeeper VirtualRouter has, and a process run in a lab node's namespace.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface KeepalivedInstance {
  name: string;
  version: 2 | 3;
  vrid: number;
  priority: number;
  interfaceName: string;
  /** advert_int in seconds (keepalived accepts fractions for v3). */
  advertIntervalS: number;
  /** CIDR strings, all of one family (keepalived picks the VRRP family from them). */
  addresses: string[];
  preempt?: boolean;
  password?: string;
  unicastSource?: string;
  unicastPeers?: string[];
  /** A vrrp_script tracked with a weight (the script is written once, before the instances). */
  trackScript?: KeepalivedScript;
}

export interface KeepalivedScript {
  name: string;
  /** The command; keepalived's script security wants its executable in a root-only path. */
  script: string;
  intervalS: number;
  weight: number;
}

export function keepalivedConfig(instances: KeepalivedInstance[], routerId = "lab"): string {
  const lines = [
    "global_defs {",
    `  router_id ${routerId}`,
    "  enable_script_security",
    "  vrrp_garp_master_delay 1",
    "}",
  ];
  const scripts = new Map(
    instances.flatMap((i) => (i.trackScript ? [[i.trackScript.name, i.trackScript]] : [])),
  );
  for (const t of scripts.values())
    lines.push(
      `vrrp_script ${t.name} {`,
      `  script "${t.script}"`,
      `  interval ${t.intervalS}`,
      `  weight ${t.weight}`,
      "  rise 1",
      "  fall 1",
      "}",
    );
  for (const i of instances) {
    lines.push(
      `vrrp_instance ${i.name} {`,
      "  state BACKUP",
      `  version ${i.version}`,
      `  interface ${i.interfaceName}`,
      `  virtual_router_id ${i.vrid}`,
      `  priority ${i.priority}`,
      `  advert_int ${i.advertIntervalS}`,
    );
    if (i.preempt === false) lines.push("  nopreempt");
    if (i.password)
      lines.push("  authentication {", "    auth_type PASS", `    auth_pass ${i.password}`, "  }");
    if (i.unicastPeers?.length) {
      if (i.unicastSource) lines.push(`  unicast_src_ip ${i.unicastSource}`);
      lines.push("  unicast_peer {", ...i.unicastPeers.map((p) => `    ${p}`), "  }");
    }
    if (i.trackScript) lines.push("  track_script {", `    ${i.trackScript.name}`, "  }");
    lines.push("  virtual_ipaddress {", ...i.addresses.map((a) => `    ${a}`), "  }", "}");
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Writes the configuration and returns the argv that runs keepalived's VRRP in the foreground.
 * `configId`: keepalived's -i, for a file whose @ID lines differ by node; `logDetail: false` leaves
 * out --log-detail (with hundreds of routers, its console lines are load of their own).
 */
export function keepalivedCommand(
  config: string,
  opts: { configId?: string; logDetail?: boolean } = {},
): { argv: string[]; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "vk-keepalived-"));
  const file = join(dir, "keepalived.conf");
  writeFileSync(file, config);
  return {
    dir,
    argv: [
      "keepalived",
      "--dont-fork",
      "--log-console",
      ...(opts.logDetail === false ? [] : ["--log-detail"]),
      "--vrrp",
      ...(opts.configId ? ["-i", opts.configId] : []),
      "-f",
      file,
      "-p",
      join(dir, "keepalived.pid"),
      "-r",
      join(dir, "vrrp.pid"),
    ],
  };
}
