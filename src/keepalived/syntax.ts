// keepalived.conf as admins write it: line-oriented statements (a keyword and its words), blocks
// in braces, comments from `!` or `#` to the end of the line, double-quoted words, `include` of
// further files (glob patterns, relative to the including file), and the lines one file shared by
// several hosts uses: `@ID` conditional lines and `$NAME` parameters (preprocess.ts). The result is
// a plain tree; what the keywords mean is the converter's business.
import { Preprocessor, type Piece } from "./preprocess.ts";
import { KeepalivedSyntaxError } from "./syntax-error.ts";

export { KeepalivedSyntaxError };

export interface Statement {
  keyword: string;
  args: string[];
  /** Present when the statement opens a block. */
  children?: Statement[];
  file: string;
  line: number;
}

export interface ParseOptions {
  /**
   * keepalived's config id (its `-i`): `@ID` lines are read only when it is ID, `@^ID` lines only
   * when it is not. Without one, as keepalived without an id, no `@ID` line is read and every
   * `@^ID` line is.
   */
  configId?: string;
}

/** keepalived's config id when `-i` is not given: the host name up to its first dot. */
export function defaultConfigId(hostname: string): string {
  return hostname.split(".")[0]!;
}

/** What is wrong with a config id given on a command line, if anything (`@ID` lines name one word). */
export function configIdProblem(id: string): string | undefined {
  return /^\S+$/.test(id) ? undefined : `--config-id: '${id}' must be one word`;
}

/** Parses a file and the files it includes into one list of top-level statements. */
export function parseKeepalivedFile(path: string, options: ParseOptions = {}): Statement[] {
  const pre = new Preprocessor(options.configId);
  pre.file(path, 0);
  return tree(pre.pieces);
}

export function parseKeepalived(
  text: string,
  file = "keepalived.conf",
  options: ParseOptions = {},
): Statement[] {
  const pre = new Preprocessor(options.configId);
  pre.text(text, file, 0);
  return tree(pre.pieces);
}

/**
 * How deep blocks may nest. keepalived's deepest is 4 (virtual_server, real_server, HTTP_GET,
 * url); a `~SEQ` repeating an opening brace could otherwise nest them deep enough to exhaust the
 * stack, which is no syntax error but a crash.
 */
const MAX_BLOCK_DEPTH = 64;

/** Statements from pieces: a statement followed by `{` has the statements up to its `}` as children. */
function tree(pieces: Piece[]): Statement[] {
  let pos = 0;
  const block = (opener: Piece | undefined, depth = 0): Statement[] => {
    if (depth > MAX_BLOCK_DEPTH && opener)
      throw new KeepalivedSyntaxError(
        opener.file,
        opener.line,
        `blocks nested more than ${MAX_BLOCK_DEPTH} deep`,
      );
    const out: Statement[] = [];
    while (pos < pieces.length) {
      const p = pieces[pos++]!;
      if (p.kind === "close") {
        if (!opener) throw new KeepalivedSyntaxError(p.file, p.line, "'}' without a matching '{'");
        return out;
      }
      if (p.kind === "open")
        throw new KeepalivedSyntaxError(p.file, p.line, "'{' without a keyword before it");
      const [keyword, ...args] = p.words;
      const stmt: Statement = { keyword: keyword!, args, file: p.file, line: p.line };
      const next = pieces[pos];
      if (next?.kind === "open") {
        pos++;
        stmt.children = block(next, depth + 1);
      }
      out.push(stmt);
    }
    if (opener) throw new KeepalivedSyntaxError(opener.file, opener.line, "'{' is never closed");
    return out;
  };
  return block(undefined);
}
