// src/'s layers (DESIGN.md, "Layers"): a directory imports from its own files and from the bands
// below its own, never from its own band or above. Every import form counts: static, type-only,
// re-exports, dynamic import() and import("...") types.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { posix } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/** Lowest band first. DESIGN.md's block lists the same bands, highest first. */
const LAYERS: readonly (readonly string[])[] = [
  ["base"],
  ["vrrp"],
  ["api", "kube", "net"],
  ["cluster", "health", "install", "keepalived"],
  ["lb", "lbprovider", "plan"],
  ["observe"],
  ["engine"],
  ["agent"],
  ["cluster-mode", "controller", "file-mode", "lab"],
  ["cli"],
];

const ROOT = posix.join(import.meta.dirname, "../..");
const SRC = posix.join(ROOT, "src");

/** Every module specifier in a TypeScript file, in order of appearance. */
function specifiers(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    )
      out.push(node.moduleSpecifier.text);
    else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    )
      out.push(node.moduleReference.expression.text);
    else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === "require")) &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    )
      out.push(node.arguments[0].text);
    else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    )
      out.push(node.argument.literal.text);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/**
 * The imports that break the layers, one line each. `files` maps a path under src/ ("health/x.ts")
 * to its text; packages (no leading dot) are not the layers' business.
 */
function layerViolations(
  files: ReadonlyMap<string, string>,
  layers: readonly (readonly string[])[] = LAYERS,
): string[] {
  const band = new Map<string, number>();
  layers.forEach((dirs, i) => dirs.forEach((d) => band.set(d, i)));
  const out: string[] = [];
  for (const [file, text] of files) {
    const from = file.split("/")[0]!;
    const fromBand = file.includes("/") ? band.get(from) : undefined;
    if (fromBand === undefined) {
      out.push(`${file}: ${from} is in no layer`);
      continue;
    }
    for (const spec of specifiers(file, text)) {
      if (!spec.startsWith(".")) continue;
      const target = posix.normalize(posix.join(posix.dirname(file), spec));
      if (target.startsWith("../")) {
        out.push(`${file} imports ${spec}: outside src/`);
        continue;
      }
      const to = target.split("/")[0]!;
      if (to === from) continue;
      const toBand = target.includes("/") ? band.get(to) : undefined;
      if (toBand === undefined) out.push(`${file} imports ${spec}: ${to} is in no layer`);
      else if (toBand === fromBand) out.push(`${file} imports ${spec}: ${to}/ is in ${from}/'s own band`);
      else if (toBand > fromBand) out.push(`${file} imports ${spec}: ${to}/ is above ${from}/`);
    }
  }
  return out;
}

/** The bands of DESIGN.md's layer block, lowest first (the block lists them highest first). */
function designLayers(design: string): string[][] {
  const section = design.slice(design.indexOf("## Layers (src/)"));
  const block = /```\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  const bands: string[][] = [[]];
  for (const line of block.split("\n")) {
    if (/^-{3,}\s*$/.test(line)) bands.push([]);
    else {
      const dir = /^([a-z][a-z0-9-]*)\/\s/.exec(line)?.[1];
      if (dir) bands[bands.length - 1]!.push(dir);
    }
  }
  return bands.map((b) => b.sort()).reverse();
}

function sourceFiles(): Map<string, string> {
  const files = new Map<string, string>();
  for (const entry of readdirSync(SRC, { recursive: true, encoding: "utf8" }))
    if (entry.endsWith(".ts")) files.set(entry, readFileSync(posix.join(SRC, entry), "utf8"));
  return files;
}

describe("layers", () => {
  it("no module in src/ imports from its own band or above", () => {
    const files = sourceFiles();
    expect(files.size).toBeGreaterThan(100);
    expect(layerViolations(files)).toEqual([]);
  });

  it("every directory of src/ is in exactly one band, and every band's directory exists", () => {
    const dirs = readdirSync(SRC).filter((d) => statSync(posix.join(SRC, d)).isDirectory());
    expect(LAYERS.flat().sort()).toEqual(dirs.sort());
  });

  it("DESIGN.md's layer block lists the same bands", () => {
    const design = readFileSync(posix.join(ROOT, "DESIGN.md"), "utf8");
    expect(designLayers(design)).toEqual(LAYERS.map((b) => [...b].sort()));
  });

  describe("the check fails on bad imports", () => {
    const one = (file: string, text: string) => layerViolations(new Map([[file, text]]));

    it("an import from a higher layer", () => {
      expect(one("health/checkers.ts", `import { runShell } from "../agent/shell.ts";\n`)).toEqual([
        "health/checkers.ts imports ../agent/shell.ts: agent/ is above health/",
      ]);
    });

    it("an import from another directory of the same band", () => {
      expect(
        one("cluster-mode/cluster-main.ts", `import { toClusterNode } from "../controller/controller.ts";`),
      ).toEqual([
        "cluster-mode/cluster-main.ts imports ../controller/controller.ts: controller/ is in cluster-mode/'s own band",
      ]);
    });

    it("every import form: multi-line, type-only, re-export, dynamic, import type, require", () => {
      const text = [
        `import {`,
        `  a,`,
        `  b,`,
        `} from "../agent/a.ts";`,
        `import type { T } from "../agent/t.ts";`,
        `export type { U } from "../agent/u.ts";`,
        `export * from "../agent/star.ts";`,
        `const m = await import("../agent/lazy.ts");`,
        `let x: import("../agent/typeof.ts").X;`,
        `const r = require("../agent/cjs.ts");`,
        `import "../agent/side-effect.ts";`,
        `// import { c } from "../agent/comment.ts";`,
        `const s = "from \\"../agent/string.ts\\"";`,
      ].join("\n");
      const found = one("observe/x.ts", text).map((v) => / imports (\S+):/.exec(v)?.[1]);
      expect(found).toEqual([
        "../agent/a.ts",
        "../agent/t.ts",
        "../agent/u.ts",
        "../agent/star.ts",
        "../agent/lazy.ts",
        "../agent/typeof.ts",
        "../agent/cjs.ts",
        "../agent/side-effect.ts",
      ]);
    });

    it("an import out of src/, and directories in no layer", () => {
      expect(one("net/x.ts", `import { y } from "../../test/support/y.ts";`)).toEqual([
        "net/x.ts imports ../../test/support/y.ts: outside src/",
      ]);
      expect(one("net/x.ts", `import { y } from "../misc/y.ts";`)).toEqual([
        "net/x.ts imports ../misc/y.ts: misc is in no layer",
      ]);
      expect(one("misc/x.ts", ``)).toEqual(["misc/x.ts: misc is in no layer"]);
      expect(one("x.ts", ``)).toEqual(["x.ts: x.ts is in no layer"]);
    });

    it("lets through what the layers allow", () => {
      const text = [
        `import { a } from "./a.ts";`,
        `import { b } from "../health/b.ts";`,
        `import { c } from "../base/c.ts";`,
        `import ts from "typescript";`,
        `import { d } from "node:fs";`,
      ].join("\n");
      expect(one("lb/x.ts", text)).toEqual([]);
    });

    it("reads DESIGN.md's bands, highest first, a rule of dashes between bands", () => {
      const design = [
        "## Layers (src/)",
        "",
        "```",
        "top/          the top",
        "-----",
        "mid/          one directory, described",
        "              over two lines",
        "alsomid/      another",
        "-----",
        "low/          the bottom",
        "```",
      ].join("\n");
      expect(designLayers(design)).toEqual([["low"], ["alsomid", "mid"], ["top"]]);
    });
  });
});
