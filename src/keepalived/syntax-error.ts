// The one error a keepalived.conf's syntax gives, with the file and line it is about.
export class KeepalivedSyntaxError extends Error {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, message: string) {
    super(`${file}:${line}: ${message}`);
    this.file = file;
    this.line = line;
  }
}
