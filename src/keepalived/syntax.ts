// keepalived.conf as admins write it: line-oriented statements (a keyword and its words), blocks
// in braces, comments from `!` or `#` to the end of the line, double-quoted words, and `include`
// of further files (glob patterns, relative to the including file). The result is a plain tree;
// what the keywords mean is the converter's business.
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";
import { globSync } from "node:fs";

export interface Statement {
  keyword: string;
  args: string[];
  /** Present when the statement opens a block. */
  children?: Statement[];
  file: string;
  line: number;
}

export class KeepalivedSyntaxError extends Error {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.file = file;
    this.line = line;
  }
}

interface Token {
  text: string;
  line: number;
  /** `{` or `}` standing alone as punctuation (not inside quotes). */
  brace: boolean;
  /** A quoted word: never a brace or a keyword's block. */
  quoted: boolean;
  /** The first token on its line. */
  startsLine: boolean;
}

function tokenize(text: string, file: string): Token[] {
  const tokens: Token[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    let first = true;
    const push = (t: Omit<Token, "line" | "startsLine">) => {
      tokens.push({ ...t, line, startsLine: first });
      first = false;
    };
    for (let p = 0; p < raw.length;) {
      const c = raw[p]!;
      if (c === " " || c === "\t") {
        p++;
      } else if (c === "!" || c === "#") {
        break; // comment to end of line
      } else if (c === "{" || c === "}") {
        push({ text: c, brace: true, quoted: false });
        p++;
      } else if (c === '"') {
        const end = raw.indexOf('"', p + 1);
        if (end === -1) throw new KeepalivedSyntaxError(file, line, "unterminated quoted string");
        push({ text: raw.slice(p + 1, end), brace: false, quoted: true });
        p = end + 1;
      } else {
        let q = p;
        while (q < raw.length && !' \t{}"'.includes(raw[q]!) && raw[q] !== "!" && raw[q] !== "#") q++;
        push({ text: raw.slice(p, q), brace: false, quoted: false });
        p = q;
      }
    }
  });
  return tokens;
}

const MAX_INCLUDE_DEPTH = 8;

/** Parses a file and the files it includes into one list of top-level statements. */
export function parseKeepalivedFile(path: string, depth = 0): Statement[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new KeepalivedSyntaxError(path, 0, `cannot read: ${(err as Error).message}`);
  }
  return parseKeepalived(text, path, depth);
}

export function parseKeepalived(text: string, file = "keepalived.conf", depth = 0): Statement[] {
  const tokens = tokenize(text, file);
  let pos = 0;

  const block = (opener: Token | undefined): Statement[] => {
    const out: Statement[] = [];
    while (pos < tokens.length) {
      const t = tokens[pos]!;
      if (t.brace && t.text === "}") {
        if (!opener) throw new KeepalivedSyntaxError(file, t.line, "'}' without a matching '{'");
        pos++;
        return out;
      }
      if (t.brace) throw new KeepalivedSyntaxError(file, t.line, "'{' without a keyword before it");
      // A statement: this token and the following ones on the same line, up to a brace.
      const stmt: Statement = { keyword: t.text, args: [], file, line: t.line };
      pos++;
      while (pos < tokens.length && !tokens[pos]!.startsLine && !tokens[pos]!.brace)
        stmt.args.push(tokens[pos++]!.text);
      const next = tokens[pos];
      if (next?.brace && next.text === "{") {
        pos++;
        stmt.children = block(next);
      }
      if (stmt.keyword === "include" && !t.quoted) out.push(...include(stmt));
      else out.push(stmt);
    }
    if (opener) throw new KeepalivedSyntaxError(file, opener.line, "'{' is never closed");
    return out;
  };

  const include = (stmt: Statement): Statement[] => {
    if (depth >= MAX_INCLUDE_DEPTH)
      throw new KeepalivedSyntaxError(file, stmt.line, "include nested too deeply");
    const out: Statement[] = [];
    for (const pattern of stmt.args) {
      const abs = isAbsolute(pattern) ? pattern : join(dirname(file), pattern);
      const matches = /[*?[]/.test(abs) ? globSync(abs).sort() : [abs];
      for (const m of matches) out.push(...parseKeepalivedFile(m, depth + 1));
    }
    return out;
  };

  return block(undefined);
}
