// Which functions a CRD's x-kubernetes-validations rules call, checked against what the test API
// server can evaluate. A rule calling anything else (Kubernetes' ip(), cidr(), quantity(), the
// strings extension...) must fail the server's start, loudly, instead of rejecting every object
// later with an evaluation error that looks like the object's fault.
import { parse } from "@bufbuild/cel";
import { CEL_FUNCTIONS } from "../kubeapi/schema.ts";

// Standard CEL (operators, macros after expansion, the built-in functions) as @bufbuild/cel runs it.
// https://github.com/google/cel-spec/blob/master/doc/langdef.md#list-of-standard-definitions
const STANDARD = new Set([
  "_?_:_",
  "_&&_",
  "_||_",
  "!_",
  "-_",
  "_==_",
  "_!=_",
  "_<_",
  "_<=_",
  "_>_",
  "_>=_",
  "_+_",
  "_-_",
  "_*_",
  "_/_",
  "_%_",
  "_[_]",
  "@in",
  "@not_strictly_false",
  "not_strictly_false",
  "size",
  "contains",
  "startsWith",
  "endsWith",
  "matches",
  "int",
  "uint",
  "double",
  "string",
  "bytes",
  "bool",
  "type",
  "dyn",
  "duration",
  "timestamp",
  "getFullYear",
  "getMonth",
  "getDate",
  "getDayOfMonth",
  "getDayOfWeek",
  "getDayOfYear",
  "getHours",
  "getMinutes",
  "getSeconds",
  "getMilliseconds",
]);

export const SUPPORTED_CEL_FUNCTIONS: ReadonlySet<string> = new Set([...STANDARD, ...CEL_FUNCTIONS]);

type Node = { exprKind?: { case?: string; value?: unknown } } | undefined;

function calls(e: Node, out: Set<string>): Set<string> {
  const k = e?.exprKind;
  if (!k?.case) return out;
  const v = k.value as Record<string, unknown>;
  switch (k.case) {
    case "callExpr":
      out.add(v.function as string);
      calls(v.target as Node, out);
      for (const a of v.args as Node[]) calls(a, out);
      break;
    case "selectExpr":
      calls(v.operand as Node, out);
      break;
    case "listExpr":
      for (const a of v.elements as Node[]) calls(a, out);
      break;
    case "structExpr":
      for (const en of v.entries as { mapKey?: Node; value?: Node }[]) {
        calls(en.mapKey, out);
        calls(en.value, out);
      }
      break;
    case "comprehensionExpr":
      for (const f of ["iterRange", "accuInit", "loopCondition", "loopStep", "result"])
        calls(v[f] as Node, out);
      break;
  }
  return out;
}

/** The functions a rule calls that the server cannot evaluate (empty when it can run them all). */
export function unsupportedCalls(rule: string): string[] {
  return [...calls(parse(rule).expr as Node, new Set())].filter((f) => !SUPPORTED_CEL_FUNCTIONS.has(f));
}

type Obj = Record<string, unknown>;

function* rules(s: unknown, path: string): Generator<{ path: string; rule: string }> {
  if (typeof s !== "object" || s === null) return;
  const o = s as Obj;
  for (const v of (o["x-kubernetes-validations"] as { rule: string }[] | undefined) ?? [])
    yield { path, rule: v.rule };
  for (const [k, x] of Object.entries((o.properties as Obj | undefined) ?? {}))
    yield* rules(x, `${path}.${k}`);
  if (o.items) yield* rules(o.items, `${path}[*]`);
  if (typeof o.additionalProperties === "object") yield* rules(o.additionalProperties, `${path}[*]`);
}

/** Throws, naming the CRD, the schema path and the functions, if any rule cannot be evaluated. */
export function checkCrdRules(crd: Obj): void {
  const spec = crd.spec as { versions?: { name: string; schema?: { openAPIV3Schema?: unknown } }[] };
  const name = (crd.metadata as { name?: string } | undefined)?.name ?? "?";
  const bad: string[] = [];
  for (const v of spec?.versions ?? [])
    for (const { path, rule } of rules(v.schema?.openAPIV3Schema, "")) {
      let missing: string[];
      try {
        missing = unsupportedCalls(rule);
      } catch (err) {
        bad.push(`${v.name}${path}: rule '${rule}' does not parse: ${(err as Error).message}`);
        continue;
      }
      if (missing.length)
        bad.push(
          `${v.name}${path}: rule '${rule}' calls ${missing.join(", ")}, which this test server does not implement`,
        );
    }
  if (bad.length)
    throw new Error(`CRD ${name}: CEL rules the test API server cannot evaluate:\n  ${bad.join("\n  ")}`);
}
