// Small shared helpers for subcommand option parsing (node:util parseArgs does the parsing).
export class UsageError extends Error {}

export function intOption(
  value: string | undefined,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer ${min}..${max}, got '${value}'`);
  return n;
}
