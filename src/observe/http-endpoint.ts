// The agent's and the controller's small HTTP endpoints (metrics, health), on HOST:PORT as the
// command lines take it (an empty host or [v6] allowed).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Registry } from "./prom.ts";

/** What --metrics and --health accept. */
export const LISTEN_ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[^:]*):\d{1,5}$/;

/** Listens on HOST:PORT (no host: every address); resolves once listening. */
export function listen(
  address: string,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Server> {
  const i = address.lastIndexOf(":");
  const host = address.slice(0, i).replace(/^\[|\]$/g, "") || "0.0.0.0";
  const server = createServer(handler);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(address.slice(i + 1)), host, () => resolve(server));
  });
}

/** /metrics from `registry`, after `before` (e.g. fresh snapshots from the engines). */
export function serveMetrics(
  address: string,
  registry: Registry,
  before: () => Promise<void> = () => Promise.resolve(),
): Promise<Server> {
  return listen(address, (req, res) => {
    if (req.url !== "/metrics") {
      res.writeHead(404).end("see /metrics\n");
      return;
    }
    before()
      .then(() => registry.metrics())
      .then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500).end(String(err)),
      );
  });
}
