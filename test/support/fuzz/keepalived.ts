// keepalived.conf text through what `vipkeeper import` and the file agent run: the preprocessor
// and parser (parseKeepalived), the converter (convertKeepalived) and the API validators. Inputs
// are copies of the configurations in test/fixtures/keepalived and keepalived-samples, mostly
// mutated: tokens deleted, duplicated or swapped, lines dropped or repeated, the text cut, braces,
// quotes and keepalived's line syntax (@ID, $NAME, ~SEQ, include, continuation) injected, random
// bytes. Every input must give a result or a KeepalivedSyntaxError naming a line of the text.
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateVirtualRouter } from "../../../src/api/virtual-router.ts";
import { validateVirtualServer } from "../../../src/api/virtual-server.ts";
import { convertKeepalived } from "../../../src/keepalived/convert.ts";
import { KeepalivedSyntaxError, parseKeepalived } from "../../../src/keepalived/syntax.ts";
import type { Random } from "./random.ts";
import type { FuzzTarget, Outcome } from "./run.ts";

const FIXTURES = join(import.meta.dirname, "../../fixtures");

/** Every configuration of the two fixture directories (their READMEs and the tutorial's prose aside). */
export function keepalivedCorpus(): string[] {
  const out: string[] = [];
  for (const dir of ["keepalived", "keepalived-samples"])
    for (const f of readdirSync(join(FIXTURES, dir)).sort())
      if (!/\.(md|txt)$/.test(f)) out.push(readFileSync(join(FIXTURES, dir, f), "utf8"));
  return out;
}

/** Pieces of keepalived's syntax and keywords to inject: what a hand edit or a bad merge leaves. */
const INJECT = [
  "{",
  "}",
  "{ }",
  '"',
  "\\",
  "!",
  "#",
  "@lb1 ",
  "@^lb1 ",
  "@",
  "$A=1",
  "$A",
  "${A}",
  "$B=$B$B",
  "$M=a \\",
  "${_RANDOM 1 2}",
  "~SEQ(i, 1, 3) ",
  "~SEQ(i, 99999)",
  "~SEQx(i, -1, 1)",
  "~LST",
  "$i",
  "include missing.conf",
  "include *.conf",
  "vrrp_instance X {",
  "virtual_server 198.18.0.1 80 {",
  "virtual_ipaddress {",
  "real_server",
  "priority",
  "255",
  "-1",
  "0",
  "4294967296",
  "1e999",
  "NaN",
  "::",
  "198.18.0.1/33",
  "2001:db8::/129",
  "unicast_peer {",
  "authentication { auth_type PASS auth_pass",
  "track_script {",
  "vrrp_sync_group G {",
  "virtual_server_group G {",
  "fwmark 0",
];

const tokens = (line: string) => line.split(/([ \t]+)/);

type TextMutation = (rng: Random, lines: string[]) => string[];

const lineAt = (rng: Random, lines: string[]) => rng.below(lines.length);

const MUTATIONS: Record<string, TextMutation> = {
  "delete-token": (rng, lines) => {
    const i = lineAt(rng, lines);
    const t = tokens(lines[i] ?? "");
    t.splice(rng.below(t.length), 1);
    lines[i] = t.join("");
    return lines;
  },
  "duplicate-token": (rng, lines) => {
    const i = lineAt(rng, lines);
    const t = tokens(lines[i] ?? "");
    const k = rng.below(t.length);
    t.splice(k, 0, t[k] ?? "", " ");
    lines[i] = t.join("");
    return lines;
  },
  "swap-tokens": (rng, lines) => {
    const i = lineAt(rng, lines);
    const j = lineAt(rng, lines);
    const a = tokens(lines[i] ?? "");
    const b = tokens(lines[j] ?? "");
    const x = rng.below(a.length);
    const y = rng.below(b.length);
    const t = a[x] ?? "";
    a[x] = b[y] ?? "";
    b[y] = t;
    lines[i] = a.join("");
    if (i !== j) lines[j] = b.join("");
    return lines;
  },
  "delete-line": (rng, lines) => (lines.splice(lineAt(rng, lines), 1), lines),
  "duplicate-line": (rng, lines) => {
    const i = lineAt(rng, lines);
    lines.splice(i, 0, lines[i] ?? "");
    return lines;
  },
  truncate: (rng, lines) => {
    const text = lines.join("\n");
    return text.slice(0, rng.below(text.length + 1)).split("\n");
  },
  inject: (rng, lines) => {
    const i = lineAt(rng, lines);
    const line = lines[i] ?? "";
    const at = rng.below(line.length + 1);
    const piece = rng.pick(INJECT);
    if (rng.chance(0.5)) lines.splice(i, 0, piece);
    else
      lines[i] =
        `${line.slice(0, at)}${rng.chance(0.5) ? " " : ""}${piece}${rng.chance(0.5) ? " " : ""}${line.slice(at)}`;
    return lines;
  },
  "random-bytes": (rng, lines) => {
    const text = lines.join("\n");
    const at = rng.below(text.length + 1);
    // Any byte, read as the file would be (UTF-8, with replacement characters for bad sequences).
    return (text.slice(0, at) + rng.bytes(rng.int(1, 16)).toString("utf8") + text.slice(at)).split("\n");
  },
};
const MUTATION_NAMES = Object.keys(MUTATIONS);

let corpus: string[] | undefined;
let emptyDir: string | undefined;

/** The error's message without its place and particulars: the kind of error, for the report. */
function errorKind(message: string): string {
  // "file:line: what it was about: why": the last part, its names and numbers left out.
  return message
    .split(": ")
    .pop()!
    .replace(/'[^']*'|"[^"]*"|\$\{?\w+\}?|~SEQx?\([^)]*\)|\b\d+\b/g, "_")
    .slice(0, 70);
}

/** One input: a fixture's text, mutated or not, and the config id to read it with. */
export function keepalivedInput(rng: Random): { text: string; mutated: boolean; configId?: string } {
  corpus ??= keepalivedCorpus();
  const original = rng.pick(corpus);
  const mutated = !rng.chance(0.05);
  let lines = original.split("\n");
  if (mutated)
    for (let n = rng.int(1, 4); n > 0; n--) lines = MUTATIONS[rng.pick(MUTATION_NAMES)]!(rng, lines);
  const configId = rng.pick(["lb1", "lb2", undefined]);
  return { text: lines.join("\n"), mutated, ...(configId === undefined ? {} : { configId }) };
}

export const keepalivedTarget: FuzzTarget = {
  name: "keepalived",
  one(rng) {
    // Includes resolve beside the file: an empty directory, so no include reads anything real.
    emptyDir ??= mkdtempSync(join(tmpdir(), "vk-fuzz-"));
    const file = join(emptyDir, "keepalived.conf");
    const { text, mutated, configId } = keepalivedInput(rng);

    // The decoder's part: a KeepalivedSyntaxError is a rejection, anything else thrown a crash.
    try {
      const statements = parseKeepalived(text, file, configId === undefined ? {} : { configId });
      const conversion = convertKeepalived(statements, "n1");
      for (const r of conversion.routers) validateVirtualRouter(r);
      for (const v of conversion.virtualServers) validateVirtualServer(v);
      for (const f of conversion.findings)
        if (!Number.isInteger(f.line) || f.line < 1)
          return wrong(`a finding without a line: ${JSON.stringify(f)}`);
      return { kind: "accepted" };
    } catch (err) {
      if (!(err instanceof KeepalivedSyntaxError)) throw err;
      if (!mutated) return wrong(`a fixture refused: ${err.message}`);
      // The line must be one of the text's (an include's unreadable file names the include's line).
      const count = text.split("\n").length;
      if (err.file !== file || !Number.isInteger(err.line) || err.line < 1 || err.line > count)
        return wrong(
          `error without a line of the text (${count} lines): ${err.file}:${err.line}: ${err.message}`,
        );
      return { kind: "rejected", reason: errorKind(err.message) };
    }
  },
};

const wrong = (detail: string): Outcome => ({ kind: "wrong", detail });
