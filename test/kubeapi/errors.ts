// An API error: the HTTP code, the Status reason and, for 422, the causes naming each field.
import type { Cause } from "./schema.ts";

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly causes: Cause[];

  constructor(code: number, reason: string, message: string, causes: Cause[] = []) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.causes = causes;
  }
}
