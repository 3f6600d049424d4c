// keepalived's own configurations (test/fixtures/keepalived-samples: its 25 doc/samples, its default
// etc/keepalived/keepalived.conf and its docker example) through `vipkeeper import --node n1 FILE`,
// as a new user would run it: none refused, every object valid, the report ending with its summary,
// and no keyword left unmapped but those listed here, each for a reason the README gives.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { validateVirtualRouter } from "../../src/api/virtual-router.ts";
import { validateVirtualServer, type VirtualServer } from "../../src/api/virtual-server.ts";
import { refusal } from "../../src/cluster/grants.ts";
import type { RouterObject } from "../../src/cluster/routers.ts";

const BIN = join(import.meta.dirname, "../../bin/vipkeeper.js");
const DIR = join(import.meta.dirname, "../fixtures/keepalived-samples");

/** Out of scope on purpose (README: "What stays out"). */
const OUT_OF_SCOPE = new Set([
  "authentication", // auth_type AH, dropped by RFC 5798
  "lvs_sync_daemon_interface", // the LVS sync daemon
  "vrrp_strict", // global settings with no meaning here
  "vrrp_skip_check_adv_addr",
  "bindto", // a source address is one node's; an object runs on every node
]);
/** keepalived 2.2.7 refuses these lines of its own samples too (`keepalived -t`). */
const KEEPALIVED_REFUSES = new Set([
  "keepalived.conf.conditional_conf:6 vrrp_script", // "No script set for vrrp_script check_VI_0 - removing"
  "keepalived.conf.conditional_conf:25 check_VI_0", // "track script check_VI_0 not found, ignoring..."
  "keepalived.conf.vrrp.lvs_syncd:3 vrrp_sync_group", // its members are unknown keywords, so it has none
  "keepalived.conf.vrrp.lvs_syncd:4 VI_2", // "Unknown keyword 'VI_2'"
  "keepalived.conf.vrrp.lvs_syncd:5 VI_3",
  "keepalived.conf.vrrp.rules:11 to", // "Invalid rule to address 192.168.100./24"
  "keepalived.conf.vrrp.rules:26 to", // "Invalid rule to address 192.168.200./24"
]);
/** Lines of a mapped block that vipkeeper leaves out (README: "What stays out"). */
const LINES_LEFT_OUT = new Set([
  "keepalived.conf.vrrp.routes:30 192.168.113.0/24", // a multipath route (`or`): routes carry one gateway
]);
interface Doc {
  kind: string;
  metadata: { name: string };
  spec: Record<string, unknown> & { addresses: { address: string }[]; realServers: object[] };
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function importFile(file: string, ...extra: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "import", "--node", "n1", ...extra, join(DIR, file)]);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}

const FILES = readdirSync(DIR)
  .filter((f) => f.includes("keepalived.conf"))
  .sort();

describe("keepalived's own configurations", () => {
  it("are all here: 25 samples, the default configuration and the docker example", () => {
    expect(FILES).toHaveLength(27);
    expect(FILES.filter((f) => f.startsWith("keepalived.conf."))).toHaveLength(25);
    expect(FILES).toContain("etc-keepalived.conf");
    expect(FILES).toContain("docker-keepalived.conf");
  });

  it("import with no refusal, valid objects, a summary line, and only the listed keywords unmapped", async () => {
    // Four at a time: each is a Node process, and the machine has two cores.
    const runs: (readonly [string, Run])[] = [];
    for (let i = 0; i < FILES.length; i += 4)
      runs.push(
        ...(await Promise.all(FILES.slice(i, i + 4).map(async (f) => [f, await importFile(f)] as const))),
      );
    const unexpected: string[] = [];
    let granted = 0;
    for (const [file, r] of runs) {
      expect(r.status, `${file}: ${r.stderr}`).toBe(0);
      const docs = parseAllDocuments(r.stdout).map((d) => d.toJS() as { kind: string });
      expect(docs.length, file).toBeGreaterThan(0);
      for (const o of docs) {
        const errors = o.kind === "VirtualRouter" ? validateVirtualRouter(o) : validateVirtualServer(o);
        expect(errors, `${file}: ${o.kind}`).toEqual([]);
      }
      // In cluster mode each VirtualServer runs as the file ran it: its router grants it all it uses.
      const routerObjects = docs.filter((o) => o.kind === "VirtualRouter") as unknown as RouterObject[];
      for (const vs of docs.filter((o) => o.kind === "VirtualServer") as unknown as VirtualServer[]) {
        expect(vs.metadata.namespace, file).toBe("default");
        if (!vs.spec.routerRef) continue;
        const refused = refusal(vs, {
          router: routerObjects.find((x) => x.metadata.name === vs.spec.routerRef),
          namespaceLabels: { "kubernetes.io/metadata.name": "default" },
          allowScripts: true,
          nodeAddresses: new Set(),
        });
        expect(refused, `${file}: VirtualServer ${vs.metadata.name}`).toBeUndefined();
        granted++;
      }
      const lines = r.stderr.trimEnd().split("\n");
      const summary = lines.at(-1)!;
      const routers = docs.filter((o) => o.kind === "VirtualRouter").length;
      const servers = docs.filter((o) => o.kind === "VirtualServer").length;
      const count = (kind: string) => lines.filter((l) => l.includes(`: ${kind}: `)).length;
      expect(summary, file).toBe(
        `imported: ${routers} VirtualRouter${routers === 1 ? "" : "s"}, ${servers} VirtualServer${servers === 1 ? "" : "s"}; changed: ${count("changed")}; unmapped: ${count("unmapped")}`,
      );
      for (const l of lines) {
        const m = /^.*\/([^/]+):(\d+): (\S+): unmapped: /.exec(l);
        if (!m) continue;
        const [, f, line, keyword] = m;
        if (
          OUT_OF_SCOPE.has(keyword!) ||
          KEEPALIVED_REFUSES.has(`${f}:${line} ${keyword}`) ||
          LINES_LEFT_OUT.has(`${f}:${line} ${keyword}`)
        )
          continue;
        unexpected.push(l);
      }
    }
    expect(unexpected).toEqual([]);
    expect(granted).toBeGreaterThan(0);
  }, 180_000);

  it("the samples that were refused: fwmark real servers without a port, a group, a repeated address", async () => {
    const object = async (file: string) => {
      const r = await importFile(file);
      expect(r.status, r.stderr).toBe(0);
      return {
        docs: parseAllDocuments(r.stdout).map((d) => d.toJS() as Doc),
        stderr: r.stderr,
      };
    };
    const fwmark = await object("keepalived.conf.fwmark");
    expect(fwmark.docs[0]).toMatchObject({
      spec: {
        fwmark: 1,
        realServers: [{ address: "192.168.201.100" }, { address: "192.168.201.101" }],
        healthCheck: { tcp: { port: 80 } },
      },
    });
    expect((fwmark.docs[0] as { spec: { realServers: object[] } }).spec.realServers[0]).not.toHaveProperty(
      "port",
    );

    const group = await object("keepalived.conf.virtual_server_group");
    expect(group.docs[0]).toMatchObject({
      metadata: { name: "vs-group-vsg-1" },
      spec: {
        group: [
          { address: "10.0.0.1", port: 8080 },
          { address: "10.0.0.2", port: 80 },
          { address: "192.168.200.1", port: 1358 },
          { address: "192.168.200.3-192.168.200.10", port: 80 },
          { fwmark: 1 },
          { fwmark: 2 },
        ],
      },
    });

    const vrrp = await object("keepalived.conf.vrrp");
    const vi1 = vrrp.docs.find((d) => d.metadata.name === "vi-1");
    expect(vi1!.spec.addresses.map((a) => a.address)).toEqual([
      "192.168.200.16/32",
      "192.168.200.17/32",
      "192.168.200.18/32",
    ]);
    expect(vrrp.stderr).toContain("192.168.200.18 is listed twice (lines 28 and 32)");
  }, 60_000);

  it("--strict makes an unmapped keyword an error and prints nothing; a file with none passes", async () => {
    const strict = await importFile("keepalived.conf.vrrp.routes", "--strict");
    expect(strict.status).toBe(1);
    expect(strict.stdout).toBe("");
    expect(strict.stderr).toMatch(
      /unmapped: 1 \(--strict: unmapped keywords are errors; nothing printed\)\n$/,
    );
    const clean = await importFile("keepalived.conf.fwmark", "--strict");
    expect(clean.status).toBe(0);
    expect(clean.stdout).toContain("kind: VirtualServer");
  }, 60_000);
});
