// Label and field selectors as the API server parses them (equality- and set-based).
export type Requirement =
  | { key: string; op: "=" | "!="; values: [string] }
  | { key: string; op: "in" | "notin"; values: string[] }
  | { key: string; op: "exists" | "!exists"; values: [] };

export class SelectorError extends Error {}

/** Splits on commas outside parentheses. */
function terms(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const c of text) {
    if (c === "(") depth++;
    if (c === ")") depth--;
    if (c === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  if (cur.trim()) out.push(cur);
  return out.map((t) => t.trim()).filter(Boolean);
}

export function parseSelector(text: string | null | undefined): Requirement[] {
  if (!text) return [];
  return terms(text).map((t): Requirement => {
    let m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(t);
    if (m) return { key: m[1]!, op: m[2] as "in" | "notin", values: m[3]!.split(",").map((v) => v.trim()) };
    m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(t);
    if (m) return { key: m[1]!, op: m[2] === "!=" ? "!=" : "=", values: [m[3]!] };
    m = /^(!?)([\w./-]+)$/.exec(t);
    if (m) return { key: m[2]!, op: m[1] ? "!exists" : "exists", values: [] };
    throw new SelectorError(`unable to parse requirement: '${t}'`);
  });
}

export function matches(labels: Record<string, string> | undefined, reqs: readonly Requirement[]): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const v = l[r.key];
    switch (r.op) {
      case "=":
        return v === r.values[0];
      case "!=":
        return v !== r.values[0];
      case "in":
        return v !== undefined && r.values.includes(v);
      case "notin":
        return v === undefined || !r.values.includes(v);
      case "exists":
        return v !== undefined;
      case "!exists":
        return v === undefined;
    }
  });
}

/** Field selectors on the fields the API server indexes for the resources we serve. */
export function fieldsOf(obj: Record<string, unknown>): Record<string, string> {
  const meta = (obj.metadata ?? {}) as Record<string, string>;
  const spec = (obj.spec ?? {}) as Record<string, unknown>;
  const out: Record<string, string> = { "metadata.name": meta.name ?? "" };
  if (meta.namespace !== undefined) out["metadata.namespace"] = meta.namespace;
  if (typeof spec.nodeName === "string") out["spec.nodeName"] = spec.nodeName;
  return out;
}
