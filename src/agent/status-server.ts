// The --status-socket: a UNIX socket that answers every connection with one JSON document of the
// agent's instances and counters, then closes (`vipkeeper status` or `socat - UNIX:PATH` read it).
import { rmSync } from "node:fs";
import { createServer, type Server } from "node:net";

export async function serveStatus(path: string, snapshot: () => Promise<unknown>): Promise<Server> {
  rmSync(path, { force: true });
  const server = createServer((conn) => {
    void snapshot().then(
      (doc) => conn.end(`${JSON.stringify(doc)}\n`),
      (err: unknown) => conn.destroy(err as Error),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, resolve);
  });
  return server;
}
