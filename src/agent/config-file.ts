// Reads the agent's --config file: YAML documents of the same shape as the cluster's objects.
// Every problem is reported with the document and the field, and nothing is half-loaded.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { parseCidr } from "../api/cidr.ts";
import { type FieldError } from "../api/field-errors.ts";
import { API_VERSION, validateVirtualRouter, type VirtualRouter } from "../api/virtual-router.ts";

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super(`${file}: invalid configuration\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.problems = problems;
  }
}

export interface AgentConfig {
  routers: VirtualRouter[];
}

export function parseConfig(text: string, file = "config"): AgentConfig {
  const problems: string[] = [];
  const routers: VirtualRouter[] = [];
  const names = new Set<string>();
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return { routers }; // an empty stream
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
    const { kind, apiVersion, metadata } = obj as {
      kind?: unknown;
      apiVersion?: unknown;
      metadata?: { name?: unknown };
    };
    const name = typeof metadata?.name === "string" ? metadata.name : "?";
    const label = `${where} (${String(kind)} ${name})`;
    if (apiVersion !== API_VERSION) {
      problems.push(`${label}: apiVersion: must be ${API_VERSION}, got ${String(apiVersion)}`);
      return;
    }
    if (kind !== "VirtualRouter") {
      problems.push(`${label}: kind: '${String(kind)}' is not supported here (VirtualRouter)`);
      return;
    }
    const errors: FieldError[] = validateVirtualRouter(obj);
    for (const e of errors) problems.push(`${label}: ${e.field}: ${e.message}`);
    if (errors.length > 0) return;
    const router = obj as VirtualRouter;
    if (names.has(router.metadata.name))
      problems.push(`${label}: metadata.name: another VirtualRouter has this name`);
    names.add(router.metadata.name);
    routers.push(router);
  });
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
  if (problems.length > 0) throw new ConfigError(file, problems);
  return { routers };
}

export function loadConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, [(err as Error).message]);
  }
  return parseConfig(text, file);
}
