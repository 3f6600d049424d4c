// `vipkeeper import`: keepalived.conf files to VirtualRouter YAML on stdout; what could not be
// carried over goes to stderr, so the YAML stays clean to pipe into kubectl.
import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { validateVirtualRouter } from "../api/virtual-router.ts";
import { grantFor } from "../cluster/grants.ts";
import type { VirtualServer } from "../api/virtual-server.ts";
import { convertKeepalived, mergeRouters, type Finding } from "../keepalived/convert.ts";
import {
  configIdProblem,
  defaultConfigId,
  KeepalivedSyntaxError,
  parseKeepalivedFile,
} from "../keepalived/syntax.ts";

const HELP = `Usage: vipkeeper import [--node NAME] [--config-id ID] FILE | NODE=FILE ...

Prints the VirtualRouter and VirtualServer objects equivalent to keepalived.conf files, as
YAML, and reports on stderr every keyword it could not carry over and why, then a summary
line: "imported: N objects; changed: N; unmapped: N".

A keepalived.conf describes one node. Give each node's file as NODE=FILE to merge them into
one set of routers with every node's priority; a bare FILE is for node --node NAME, else the
file's router_id, else this host's name. One file shared by several nodes with @ID lines is
given once per node (n1=FILE n2=FILE): each is read with the node's name up to its first dot
as keepalived's config id, as keepalived takes its host name.

Options:
  --node NAME       node name for a bare FILE
  --config-id ID    keepalived's config id (-i) for every FILE, instead of the node's name
                    (for a bare FILE without --node, this host's name)
  --namespace NS    namespace of the VirtualServers (default: default); their routers grant
                    them that namespace (spec.virtualServers), with exec checks (MISC_CHECK)
                    and local real servers where the file has them, as keepalived ran them
  --strict          fail (exit 1, nothing on stdout) when any keyword is left unmapped
  -h, --help        show this help
`;

export function runImport(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        node: { type: "string" },
        "config-id": { type: "string" },
        strict: { type: "boolean" },
        namespace: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    process.stderr.write(`vipkeeper import: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const configIdArg = parsed.values["config-id"];
  const configIdError = configIdArg === undefined ? undefined : configIdProblem(configIdArg);
  if (configIdError) {
    process.stderr.write(`vipkeeper import: ${configIdError}\n\n${HELP}`);
    return 2;
  }
  if (parsed.positionals.length === 0) {
    process.stderr.write(`vipkeeper import: give at least one FILE\n\n${HELP}`);
    return 2;
  }
  const perNode = [];
  const findings: Finding[] = [];
  // A virtual_server is the same service in every node's file: the first file's is kept.
  const servers = new Map<string, VirtualServer>();
  const serverConflicts: string[] = [];
  for (const arg of parsed.positionals) {
    const eq = arg.indexOf("=");
    const file = eq > 0 ? arg.slice(eq + 1) : arg;
    let conversion;
    try {
      const node0 = eq > 0 ? arg.slice(0, eq) : parsed.values.node;
      // The config id must be known before the file is read, so a bare FILE's router_id cannot be it.
      const configId = configIdArg ?? defaultConfigId(node0 ?? hostname());
      const statements = parseKeepalivedFile(file, { configId });
      conversion = convertKeepalived(statements, node0 ?? "");
      const node = node0 ?? conversion.routerId ?? hostname();
      if (!node0) for (const r of conversion.routers) for (const p of r.spec.priorities ?? []) p.node = node;
    } catch (err) {
      if (!(err instanceof KeepalivedSyntaxError) && !(err as NodeJS.ErrnoException).code) throw err;
      process.stderr.write(`vipkeeper import: ${(err as Error).message}\n`);
      return 1;
    }
    findings.push(...conversion.findings);
    for (const v of conversion.virtualServers) {
      const have = servers.get(v.metadata.name);
      if (!have) servers.set(v.metadata.name, v);
      else if (JSON.stringify(have) !== JSON.stringify(v))
        serverConflicts.push(
          `VirtualServer ${v.metadata.name}: ${file} differs from the first file's virtual_server; the first is kept`,
        );
    }
    perNode.push({ file, routers: conversion.routers });
  }
  const { routers, conflicts } = mergeRouters(perNode);
  if (routers.length === 0 && servers.size === 0) {
    for (const f of findings)
      process.stderr.write(`${f.file}:${f.line}: ${f.keyword}: ${f.kind}: ${f.message}\n`);
    process.stderr.write(
      "vipkeeper import: no vrrp_instance or virtual_server found: is this a keepalived.conf?\n",
    );
    return 1;
  }
  let invalid = false;
  for (const r of routers) {
    for (const e of validateVirtualRouter(r)) {
      invalid = true;
      process.stderr.write(`vipkeeper import: VirtualRouter ${r.metadata.name}: ${e.field}: ${e.message}\n`);
    }
  }
  for (const f of findings)
    process.stderr.write(`${f.file}:${f.line}: ${f.keyword}: ${f.kind}: ${f.message}\n`);
  for (const c of [...conflicts, ...serverConflicts]) process.stderr.write(`conflict: ${c}\n`);
  const unmapped = findings.filter((f) => f.kind === "unmapped").length;
  const strictFails = parsed.values.strict === true && unmapped > 0;
  process.stderr.write(
    `${summaryLine(routers.length, servers.size, findings)}${strictFails ? " (--strict: unmapped keywords are errors; nothing printed)" : ""}\n`,
  );
  if (strictFails) return 1;
  // The file was the admin's: its virtual servers run as they did, in one namespace that their
  // routers grant them (cluster mode refuses a VirtualServer its router does not grant).
  const namespace = parsed.values.namespace ?? "default";
  for (const v of servers.values()) v.metadata.namespace = namespace;
  for (const r of routers) {
    const grant = grantFor(r, [...servers.values()], namespace);
    if (grant) r.spec.virtualServers = { from: [grant] };
  }
  process.stdout.write([...routers, ...servers.values()].map((r) => stringify(r)).join("---\n"));
  return invalid ? 1 : 0;
}

/** The report's last line: what was imported, and how many keywords changed behaviour or stayed out. */
export function summaryLine(routers: number, servers: number, findings: readonly Finding[]): string {
  const count = (kind: Finding["kind"]) => findings.filter((f) => f.kind === kind).length;
  return `imported: ${routers} VirtualRouter${routers === 1 ? "" : "s"}, ${servers} VirtualServer${servers === 1 ? "" : "s"}; changed: ${count("changed")}; unmapped: ${count("unmapped")}`;
}
