// Reads the agent's --config file: YAML documents of the same shape as the cluster's objects, or a
// keepalived.conf converted to them.
// Every problem is reported with the document and the field, and nothing is half-loaded.
import { withDefaults } from "../api/defaults.ts";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type * as Yaml from "yaml";
import { ConfigError } from "../agent/config-error.ts";
import { parseCidr } from "../base/ip.ts";
import { type FieldError } from "../api/field-errors.ts";
import { API_VERSION, validateVirtualRouter, type VirtualRouter } from "../api/virtual-router.ts";
import { validateVirtualServer, type VirtualServer } from "../api/virtual-server.ts";
import { convertKeepalived, type HostStatics, type SyncGroupScripts } from "../keepalived/convert.ts";
import { validateRoutesAndRules } from "../api/routes.ts";
import { defaultConfigId, KeepalivedSyntaxError, parseKeepalivedFile } from "../keepalived/syntax.ts";
import type { QuorumScripts, RealServerScripts } from "../keepalived/virtual-server.ts";

export { ConfigError } from "../agent/config-error.ts";

/**
 * The YAML parser, loaded on the first YAML file: an agent on a keepalived.conf (and the cluster
 * agent, which reads no file) never needs it, and it costs a process ~5 MB.
 */
const yaml = () => createRequire(import.meta.url)("yaml") as typeof Yaml;

export interface AgentConfig {
  routers: VirtualRouter[];
  virtualServers: VirtualServer[];
  /** What a keepalived.conf could not carry over, for the log. */
  notes: string[];
  /** keepalived.conf's notify_up / notify_down per real server (not in the VirtualServer API). */
  realServerScripts?: RealServerScripts[];
  /** keepalived.conf's quorum_up / quorum_down per virtual_server (not in the VirtualServer API). */
  quorumScripts?: QuorumScripts[];
  /** keepalived.conf's vrrp_sync_group notify scripts (not in the VirtualRouter API). */
  syncGroupScripts?: SyncGroupScripts[];
  /** keepalived.conf's static_ipaddress / static_routes / static_rules (file mode only). */
  statics?: HostStatics;
}

interface Candidate {
  /** Where the object came from, for messages: "document 2 (VirtualRouter web)". */
  label: string;
  obj: unknown;
}

export function parseConfig(text: string, file = "config"): AgentConfig {
  const problems: string[] = [];
  const candidates: Candidate[] = [];
  const docs = yaml().parseAllDocuments(text);
  if (Array.isArray(docs))
    docs.forEach((doc, i) => {
      const where = `document ${i + 1}`;
      if (doc.errors.length > 0) {
        for (const e of doc.errors) problems.push(`${where}: YAML: ${e.message.split("\n")[0]}`);
        return;
      }
      const obj: unknown = doc.toJS();
      if (obj === null || obj === undefined) return; // an empty document, e.g. after a trailing ---
      if (typeof obj !== "object" || Array.isArray(obj)) {
        problems.push(`${where}: expected an object with apiVersion and kind`);
        return;
      }
      const { kind, metadata } = obj as { kind?: unknown; metadata?: { name?: unknown } };
      const name = typeof metadata?.name === "string" ? metadata.name : "?";
      candidates.push({ label: `${where} (${String(kind)} ${name})`, obj });
    });
  return { ...checkObjects(file, candidates, problems), notes: [] };
}

/** keepalived's own format: anything that is not YAML objects of ours. */
export function isKeepalivedConfig(file: string, text: string): boolean {
  if (/\.ya?ml$/i.test(file)) return false;
  return !/^\s*apiVersion\s*:/m.test(text);
}

/**
 * A keepalived.conf for node `node`, read with keepalived's config id `configId` (its `@ID`
 * lines): converted, then checked like any file of ours.
 */
export function parseKeepalivedConfig(file: string, node: string, configId: string): AgentConfig {
  let conversion;
  try {
    conversion = convertKeepalived(parseKeepalivedFile(file, { configId }), node);
  } catch (err) {
    if (err instanceof KeepalivedSyntaxError) throw new ConfigError(file, [err.message]);
    throw err;
  }
  const candidates = [
    ...conversion.routers.map((r) => ({
      label: `vrrp_instance for VirtualRouter ${r.metadata.name}`,
      obj: r,
    })),
    ...conversion.virtualServers.map((v) => ({
      label: `virtual_server for VirtualServer ${v.metadata.name}`,
      obj: v,
    })),
  ];
  const objects = checkObjects(file, candidates, []);
  const notes = conversion.findings.map((f) => `${f.file}:${f.line}: ${f.keyword}: ${f.message}`);
  const { statics } = conversion;
  const staticProblems: string[] = [];
  validateRoutesAndRules(
    statics.routes,
    statics.rules,
    new Set([4, 6]),
    (field, message) => staticProblems.push(`${field}: ${message}`),
    { routes: "static_routes", rules: "static_rules" },
  );
  if (staticProblems.length > 0) throw new ConfigError(file, staticProblems);
  return {
    ...objects,
    notes,
    realServerScripts: conversion.realServerScripts,
    quorumScripts: conversion.quorumScripts,
    syncGroupScripts: conversion.syncGroupScripts,
    statics,
  };
}

function checkObjects(
  file: string,
  candidates: Candidate[],
  problems: string[],
): { routers: VirtualRouter[]; virtualServers: VirtualServer[] } {
  const routers: VirtualRouter[] = [];
  const virtualServers: VirtualServer[] = [];
  const names = new Set<string>();
  for (const { label, obj } of candidates) {
    const { kind, apiVersion } = obj as { kind?: unknown; apiVersion?: unknown };
    if (apiVersion !== API_VERSION) {
      problems.push(`${label}: apiVersion: must be ${API_VERSION}, got ${String(apiVersion)}`);
      continue;
    }
    if (kind === "VirtualServer") {
      const errors = validateVirtualServer(obj);
      for (const e of errors) problems.push(`${label}: ${e.field}: ${e.message}`);
      if (errors.length === 0) virtualServers.push(obj as VirtualServer);
      continue;
    }
    if (kind !== "VirtualRouter") {
      problems.push(`${label}: kind: '${String(kind)}' is not supported here (VirtualRouter, VirtualServer)`);
      continue;
    }
    const errors: FieldError[] = validateVirtualRouter(obj);
    for (const e of errors) problems.push(`${label}: ${e.field}: ${e.message}`);
    if (errors.length > 0) continue;
    const router = obj as VirtualRouter;
    if (names.has(router.metadata.name))
      problems.push(`${label}: metadata.name: another VirtualRouter has this name`);
    names.add(router.metadata.name);
    routers.push(router);
  }
  // Two routers on one interface with one VRID and family would fight over the same packets.
  const seen = new Map<string, string>();
  for (const r of routers) {
    if (r.spec.vrid === undefined) continue;
    const families = new Set(r.spec.addresses.map((a) => parseCidr(a.address)?.family));
    for (const f of families) {
      const key = `${r.spec.interface ?? ""}/${f}/${r.spec.vrid}`;
      const other = seen.get(key);
      if (other)
        problems.push(
          `VirtualRouter ${r.metadata.name}: spec.vrid: ${r.spec.vrid} is already used by ${other} on the same interface and family`,
        );
      else seen.set(key, r.metadata.name);
    }
  }
  virtualServers.forEach((vs) => {
    const ref = vs.spec.routerRef;
    if (ref !== undefined && !routers.some((r) => r.metadata.name === ref))
      problems.push(
        `VirtualServer ${vs.metadata.name}: spec.routerRef: no VirtualRouter named ${ref} in this file`,
      );
  });
  if (problems.length > 0) throw new ConfigError(file, problems);
  return { routers, virtualServers };
}

/**
 * Reads the agent's file: VirtualRouter YAML, or a keepalived.conf (then `node` names this node,
 * and `configId` is keepalived's config id: by default the node name plays keepalived's host
 * name, so its first label). The objects come back with the schemas' defaults filled in, as the
 * API server fills them.
 */
export function loadConfig(file: string, node = "local", configId = defaultConfigId(node)): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, [(err as Error).message]);
  }
  const config = isKeepalivedConfig(file, text)
    ? parseKeepalivedConfig(file, node, configId)
    : parseConfig(text, file);
  return {
    ...config,
    routers: config.routers.map(withDefaults),
    virtualServers: config.virtualServers.map(withDefaults),
  };
}
