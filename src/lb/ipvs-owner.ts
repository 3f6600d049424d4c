// Which IPVS services are vipkeeper's. IPVS has no comment field, so ownership is a file of the
// service keys (serviceIdKey: "tcp|198.18.0.50|80", "fwmark|4|7") we created, under /run (gone at
// reboot, as IPVS's table is). Only keys in this file or in the desired set are ever touched: a
// service someone else made (ipvsadm, kube-proxy) is never flushed or deleted.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export const DEFAULT_OWNER_FILE = "/run/vipkeeper/ipvs-services.json";

/** The keys in the file; none when it is missing or unreadable (then nothing is deleted). */
export function readOwned(path: string): Set<string> {
  try {
    const data = JSON.parse(readFileSync(path, "utf8")) as { services?: unknown };
    return new Set(Array.isArray(data.services) ? data.services.filter((s) => typeof s === "string") : []);
  } catch {
    return new Set();
  }
}

/** Written whole and renamed into place, so a crash leaves the old file or the new one. */
export function writeOwned(path: string, keys: Iterable<string>): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ version: 1, services: [...new Set(keys)].sort() })}\n`);
  renameSync(tmp, path);
}
