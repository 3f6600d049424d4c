// keepalived's rules for the lines of a keepalived.conf, applied before blocks are built
// (keepalived.conf(5), "ADVANCED CONFIGURATION", checked against keepalived 2.2.7's `-t`):
// comments, `@ID` / `@^ID` lines kept only when the config id matches / does not match,
// `$NAME=value` parameters (one line, or several joined by trailing `\`s) and their `$NAME` /
// `${NAME}` references, `~SEQ` lines repeated over a sequence, and `include`. Lines are processed
// in file order across includes, as keepalived reads them, since a definition in one file holds
// in the files read after it. What follows a brace on a line is processed again as a line of its
// own, as keepalived does: in `global_defs { @lb1 router_id a }` the `@lb1` decides on
// `router_id a }`, its closing brace included.
import { globSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { KeepalivedSyntaxError } from "./syntax-error.ts";

/** A brace, or one statement's words (a keyword and its arguments). */
export type Piece =
  | { kind: "open"; file: string; line: number }
  | { kind: "close"; file: string; line: number }
  | { kind: "words"; words: string[]; file: string; line: number };

interface Place {
  file: string;
  line: number;
}

interface Context extends Place {
  /**
   * The text is not the file's own line but what a conditional, a parameter or a `~SEQ` made
   * of it. keepalived 2.2.7 finds includes in the file's own lines first, and reads a file that
   * such text includes a second time: refused rather than read differently.
   */
  derived: boolean;
  /** A line of a multi-line value or a `~SEQ` repetition: it cannot continue onto the file's next line. */
  expanded: boolean;
  /** How many expansions this line is inside: a multi-line value may name itself. */
  nesting: number;
  /** How many includes deep the file is. */
  depth: number;
}

type Definition = { value: string } | { lines: string[] };

const MAX_INCLUDE_DEPTH = 8;
/** keepalived stops at its 1024-byte line; a parameter that refers to itself would go on forever. */
const MAX_SUBSTITUTIONS = 1000;
const MAX_SEQUENCE = 100_000;
const MAX_NESTING = 64;

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DEFINITION = /^\$([A-Za-z_][A-Za-z0-9_]*)=[ \t]*(.*)$/s;
// A bare reference ends at a blank, a comma, a closing parenthesis or the end of the line;
// anything else after the name (`$A_x`, `"$A"`) leaves it as written, as keepalived does.
const BARE_REFERENCE = /\$([A-Za-z_][A-Za-z0-9_]*)(?=[ \t,)]|$)/y;
const BRACED_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)( [ 0-9]*)?\}/y;
const INCLUDE = /^include(?:[ \t]|$)/;

/** Splits files into pieces by keepalived's line rules; `configId` is keepalived's `-i`. */
export class Preprocessor {
  readonly pieces: Piece[] = [];
  private readonly defs = new Map<string, Definition>();
  private readonly configId: string | undefined;

  constructor(configId: string | undefined) {
    this.configId = configId;
  }

  /** A file; `from` is the include line that names it (its error then names that line). */
  file(path: string, depth: number, from?: Place): void {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (err) {
      const why = `cannot read: ${(err as Error).message}`;
      if (from) throw this.error(from, `include ${path}: ${why}`);
      throw new KeepalivedSyntaxError(path, 0, why);
    }
    this.text(text, path, depth);
  }

  text(text: string, file: string, depth: number): void {
    // The multi-line definition whose lines are being read, if any.
    let continuing: { name: string; lines: string[] } | undefined;
    text.split(/\r?\n/).forEach((raw, i) => {
      const at = { file, line: i + 1 };
      // Twice: keepalived's VRRP and checker processes read the copy of the files its parent wrote,
      // decommented once already, so an escaped `\#` there starts a comment after all.
      const line = decomment(decomment(raw, at), at);
      if (continuing) {
        // keepalived ends the definition at a line left empty by its comments (not part of it),
        // or after the first line that does not end in `\`.
        const more = line.endsWith("\\");
        const part = more ? line.slice(0, -1).trimEnd() : line;
        if (part !== "") continuing.lines.push(part);
        if (line === "" || !more) {
          if (continuing.lines.length === 0) this.defs.set(continuing.name, { value: "" });
          continuing = undefined;
        }
        return;
      }
      if (line !== "")
        continuing = this.line(line, { ...at, derived: false, expanded: false, nesting: 0, depth });
    });
  }

  /**
   * One line (comments gone): keepalived's conditional, definition, `~SEQ` and substitution
   * rules, then its pieces. Returns the multi-line definition it starts, for the file's next lines.
   */
  private line(text: string, ctx: Context): { name: string; lines: string[] } | undefined {
    let rest: string[] = []; // further lines of a multi-line value, read after this one
    for (;;) {
      if (text.startsWith("@")) {
        const { kept, remainder } = this.conditional(text);
        if (!kept) {
          if (DEFINITION.test(remainder) && remainder.endsWith("\\"))
            throw this.error(
              ctx,
              "a multi-line definition on a conditional line: where the line is skipped, keepalived 2.2.7 reads its continuation lines as configuration; put the condition on the lines that use the parameter",
            );
          return undefined;
        }
        text = remainder;
        ctx = { ...ctx, derived: true };
      }
      const def = DEFINITION.exec(text);
      if (def) return this.define(def[1]!, def[2]!, ctx);
      if (text.startsWith("~SEQ")) {
        this.sequence(text, ctx);
        return undefined;
      }
      if (text.startsWith("~LST"))
        throw this.error(ctx, "~LST lists are not supported: write the lines out, or use ~SEQ");
      if (text.startsWith("~") || !text.includes("$")) break; // keepalived substitutes nothing in other `~` lines
      const wasInclude = INCLUDE.test(text);
      const substituted = this.substitute(text, ctx);
      if (!substituted) break;
      rest = [...substituted.rest, ...rest];
      // A value may bring a comment start (`${_HASH}`) or a condition (`$IF_LB1=@lb1`): keepalived
      // reads the line again.
      text = decomment(substituted.text, ctx);
      if (!wasInclude && INCLUDE.test(text)) ctx = { ...ctx, derived: true };
      if (!text.startsWith("@") && !text.includes("$")) break;
    }
    const started = text === "" ? undefined : this.emit(text, ctx);
    for (const line of rest) this.line(line, this.expansion(ctx));
    return started;
  }

  /** The context of the lines a multi-line value or a `~SEQ` makes of a line. */
  private expansion(ctx: Context): Context {
    if (ctx.nesting >= MAX_NESTING)
      throw this.error(ctx, "parameters expand inside each other too deeply: does one refer to itself?");
    return { ...ctx, derived: true, expanded: true, nesting: ctx.nesting + 1 };
  }

  /** `@ID rest` / `@^ID rest`: whether the rest is kept for this config id. */
  private conditional(text: string): { kept: boolean; remainder: string } {
    const negated = text[1] === "^";
    const start = negated ? 2 : 1;
    const blank = text.slice(start).search(/[ \t]/);
    // keepalived needs a blank after the id: `@lb1` alone, or `@ lb1 ...`'s empty id, never match.
    if (blank === -1) return { kept: false, remainder: "" };
    const id = text.slice(start, start + blank);
    const matches = this.configId !== undefined && id === this.configId;
    return { kept: matches !== negated, remainder: text.slice(start + blank).replace(/^[ \t]+/, "") };
  }

  private define(name: string, value: string, ctx: Context): { name: string; lines: string[] } | undefined {
    if (!value.endsWith("\\")) {
      this.defs.set(name, { value });
      return undefined;
    }
    if (ctx.expanded)
      throw this.error(ctx, `$${name}: a definition continued with '\\' must be written in the file itself`);
    const first = value.slice(0, -1).trimEnd();
    const lines = first === "" ? [] : [first];
    this.defs.set(name, { lines });
    return { name, lines };
  }

  /**
   * Replaces the references to defined parameters, and again in what replaced them (keepalived
   * substitutes when a line is read, not when a parameter is defined). Undefined if nothing was.
   */
  private substitute(text: string, ctx: Context): { text: string; rest: string[] } | undefined {
    let out = text;
    let rest: string[] = [];
    let done = 0;
    let pos = out.indexOf("$");
    while (pos !== -1 && pos + 1 < out.length) {
      const ref = reference(out, pos);
      const def = ref && this.lookup(ref.name, ref.text, ctx);
      if (!ref || !def) {
        // An undefined `$NAME` stays as written, as in keepalived (a script's own `$` words pass
        // through); an undefined `${NAME}` outside quotes would be read as a block by its braces.
        if (ref?.braced && !insideQuotes(out, pos))
          throw this.error(ctx, `${ref.text}: parameter ${ref.name} is not defined`);
        pos = out.indexOf("$", pos + 1);
        continue;
      }
      if (++done > MAX_SUBSTITUTIONS)
        throw this.error(ctx, `parameter substitution does not end: does $${ref.name} refer to itself?`);
      let value: string;
      if ("lines" in def) {
        // keepalived only expands a multi-line value where its reference ends the line.
        if (pos + ref.text.length !== out.length)
          throw this.error(
            ctx,
            `parameter ${ref.name} has several lines, so its reference ${ref.text} must end the line`,
          );
        value = def.lines[0] ?? "";
        rest = [...def.lines.slice(1), ...rest];
      } else value = def.value;
      out = out.slice(0, pos) + value + out.slice(pos + ref.text.length);
      // A value that is a `~SEQ` line is left for the ~SEQ rule, which defines its variable first.
      if (value.trimStart().startsWith("~")) break;
      pos = out.indexOf("$", pos); // the value's own references next
    }
    return done > 0 ? { text: out, rest } : undefined;
  }

  /** A defined parameter, then keepalived's predefined ones (which a definition overrides). */
  private lookup(name: string, text: string, ctx: Context): Definition | undefined {
    const def = this.defs.get(name);
    if (def) return def;
    switch (name) {
      case "_PWD":
        return { value: resolve(dirname(ctx.file)) };
      case "_INSTANCE":
        return this.configId === undefined ? undefined : { value: this.configId };
      case "_HASH":
        return { value: "#" };
      case "_BANG":
        return { value: "!" };
      case "_RANDOM":
        throw this.error(ctx, `${text}: \${_RANDOM} is not supported`);
      default:
        return undefined;
    }
  }

  /**
   * `~SEQ(VAR, START, STEP, END) rest` (or `~SEQx`, hexadecimal): the rest once for each value of
   * $VAR, with keepalived's defaults for a missing START (1, or -1 below zero) and STEP (1 or -1).
   */
  private sequence(text: string, ctx: Context): void {
    const usage = `${text}: expected ~SEQ(VAR, START, STEP, END) or ~SEQ(VAR, START, END) or ~SEQ(VAR, END)`;
    const open = /^~SEQ(x?)[ \t]*\(/.exec(text);
    const close = text.indexOf(")");
    if (!open || close === -1) throw this.error(ctx, usage);
    const hex = open[1] === "x";
    const [variable, ...params] = text.slice(open[0].length, close).split(",");
    const name = variable!.trim();
    if (!NAME.test(name) || params.length < 1 || params.length > 3) throw this.error(ctx, usage);
    const joined = params.join(",");
    const substituted = joined.includes("$") ? this.substitute(joined, ctx) : undefined;
    if (substituted?.rest.length) throw this.error(ctx, `${text}: a ~SEQ parameter has several lines`);
    const numbers = (substituted?.text ?? joined).split(",").map(seqNumber);
    if (numbers.length !== params.length || numbers.some((n) => n === undefined))
      throw this.error(ctx, `${text}: ~SEQ takes whole numbers`);
    const [a, b, c] = numbers as number[];
    let start: number, step: number, end: number;
    if (b === undefined) [end, step, start] = [a!, a! < 1 ? -1 : 1, a! < 0 ? -1 : 1];
    else if (c === undefined) [start, end, step] = [a!, b, a! <= b ? 1 : -1];
    else [start, step, end] = [a!, b, c];
    if (step === 0 || (start < end && step < 0) || (start > end && step > 0))
      throw this.error(ctx, `${text}: the step never reaches the end`);
    if (hex && (start < 0 || end < 0)) throw this.error(ctx, `${text}: ~SEQx takes positive numbers only`);
    if (Math.floor((end - start) / step) >= MAX_SEQUENCE)
      throw this.error(ctx, `${text}: more than ${MAX_SEQUENCE} repetitions`);
    const body = text.slice(close + 1).replace(/^[ \t]+/, "");
    for (let v = start; step > 0 ? v <= end : v >= end; v += step) {
      // Like keepalived, the variable stays defined, with its last value, after the sequence.
      this.defs.set(name, { value: hex ? v.toString(16) : String(v) });
      if (body !== "") this.line(body, this.expansion(ctx));
    }
  }

  /** A processed line's pieces: braces, each statement, and the includes it names. */
  private emit(text: string, ctx: Context): { name: string; lines: string[] } | undefined {
    const brace = firstBrace(text);
    if (brace === 0) {
      this.pieces.push({ kind: text[0] === "{" ? "open" : "close", file: ctx.file, line: ctx.line });
      const after = text.slice(1).replace(/^[ \t]+/, "");
      return after === "" ? undefined : this.line(after, ctx);
    }
    const head = brace === -1 ? text : text.slice(0, brace).trimEnd();
    const words = splitWords(head, ctx);
    if (words[0]?.text === "include" && !words[0].quoted) this.include(words.slice(1), ctx);
    else if (words.length > 0)
      this.pieces.push({ kind: "words", words: words.map((w) => w.text), file: ctx.file, line: ctx.line });
    return brace === -1 ? undefined : this.line(text.slice(brace), ctx);
  }

  /** `include` of files or glob patterns, relative to the including file. */
  private include(patterns: { text: string }[], ctx: Context): void {
    if (ctx.derived)
      throw this.error(
        ctx,
        "include made by a conditional or a parameter: keepalived 2.2.7 reads the file twice there (its include does not work with conditional configuration or parameter substitution); start the line with include, and put the conditions in the included file",
      );
    if (ctx.depth >= MAX_INCLUDE_DEPTH) throw this.error(ctx, "include nested too deeply");
    for (const { text: pattern } of patterns) {
      const abs = isAbsolute(pattern) ? pattern : join(dirname(ctx.file), pattern);
      const matches = /[*?[]/.test(abs) ? globSync(abs).sort() : [abs];
      for (const m of matches) this.file(m, ctx.depth + 1, ctx);
    }
  }

  private error(at: Place, message: string): KeepalivedSyntaxError {
    return new KeepalivedSyntaxError(at.file, at.line, message);
  }
}

/**
 * keepalived's decomment(): leading and trailing blanks and comments (`!` or `#` outside double
 * quotes, to the end of the line) removed, `\#` and `\!` made plain characters; a trailing `\`
 * (which continues a definition) is kept, with the blanks before it removed.
 */
export function decomment(raw: string, at: Place): string {
  const s = raw.replace(/^[ \t]+/, "");
  let out = "";
  let quoted = false;
  let comment = false;
  let continued = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "\\") {
      if (i + 1 === s.length) {
        continued = true; // even at the end of a comment, as in keepalived
        break;
      }
      const next = s[++i]!;
      if (!comment) out += !quoted && (next === "#" || next === "!") ? next : c + next;
    } else if (comment) {
      continue;
    } else if (c === '"') {
      quoted = !quoted;
      out += c;
    } else if (!quoted && (c === "!" || c === "#")) {
      comment = true;
    } else out += c;
  }
  if (quoted) throw new KeepalivedSyntaxError(at.file, at.line, "unterminated quoted string");
  out = out.replace(/[ \t]+$/, "");
  return continued ? `${out}\\` : out;
}

function reference(text: string, pos: number): { name: string; text: string; braced: boolean } | undefined {
  for (const re of [BRACED_REFERENCE, BARE_REFERENCE]) {
    re.lastIndex = pos;
    const m = re.exec(text);
    // Arguments inside the braces are for keepalived's ${_RANDOM MIN MAX} only.
    if (m && (m[2] === undefined || m[1] === "_RANDOM"))
      return { name: m[1]!, text: m[0], braced: re === BRACED_REFERENCE };
  }
  return undefined;
}

function insideQuotes(text: string, pos: number): boolean {
  let quotes = 0;
  for (let i = text.indexOf('"'); i !== -1 && i < pos; i = text.indexOf('"', i + 1)) quotes++;
  return quotes % 2 === 1;
}

/** The first `{` or `}` outside double quotes, or -1. */
function firstBrace(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "{" || c === "}") return i;
    if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end === -1) return -1;
      i = end;
    }
  }
  return -1;
}

/** A statement's words: separated by blanks; a double-quoted word keeps its blanks. */
function splitWords(text: string, at: Place): { text: string; quoted: boolean }[] {
  const words: { text: string; quoted: boolean }[] = [];
  for (let p = 0; p < text.length;) {
    const c = text[p]!;
    if (c === " " || c === "\t") {
      p++;
    } else if (c === '"') {
      const end = text.indexOf('"', p + 1);
      if (end === -1) throw new KeepalivedSyntaxError(at.file, at.line, "unterminated quoted string");
      words.push({ text: text.slice(p + 1, end), quoted: true });
      p = end + 1;
    } else {
      let q = p;
      while (q < text.length && !' \t"'.includes(text[q]!)) q++;
      words.push({ text: text.slice(p, q), quoted: false });
      p = q;
    }
  }
  return words;
}

/** A number as C's strtol(…, 0) reads it: decimal, 0x hexadecimal or 0 octal. */
function seqNumber(s: string): number | undefined {
  const m = /^[ \t]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)[ \t]*$/.exec(s);
  if (!m) return undefined;
  const digits = m[2]!;
  const n = /^0[xX]/.test(digits)
    ? parseInt(digits.slice(2), 16)
    : digits.length > 1 && digits.startsWith("0")
      ? parseInt(digits, 8)
      : parseInt(digits, 10);
  return m[1] === "-" ? -n : n;
}
