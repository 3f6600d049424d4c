// An API error: the HTTP code, the Status reason and, for 422, the causes naming each field.
import type { Cause } from "./schema.ts";

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly causes: Cause[];
  /** The object named in the Status (AlreadyExists, NotFound...). */
  readonly details: { name?: string; kind?: string; group?: string } | undefined;

  constructor(
    code: number,
    reason: string,
    message: string,
    causes: Cause[] = [],
    details?: { name?: string; kind?: string; group?: string },
  ) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.causes = causes;
    this.details = details;
  }
}
