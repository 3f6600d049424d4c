// JSON-lines logs (pino) with stable field names: component, node, instance, from, to, reason.
import { pino, type Logger } from "pino";

export type { Logger };

export function createLogger(component: string, fields: Record<string, string> = {}): Logger {
  return pino({
    level: process.env.VIPKEEPER_LOG_LEVEL ?? "info",
    base: { component, ...fields },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
