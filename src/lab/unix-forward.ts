// Carries TCP connections across network namespaces through a UNIX socket (UNIX sockets live in
// the filesystem, which every namespace shares): lab nodes reach the test's in-process API server
// at 127.0.0.1 inside their own namespace, and no packet leaves the namespaces the test made.
//
//   test process:  unixToTcp(sock, apiPort)      (sock -> 127.0.0.1:apiPort)
//   in a node ns:  node unix-forward-main.ts PORT SOCK (127.0.0.1:PORT -> sock)
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { rmSync } from "node:fs";

function pipe(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on("error", end);
  b.on("error", end);
  a.on("close", end);
  b.on("close", end);
}

export function unixToTcp(socketPath: string, port: number): Promise<Server> {
  rmSync(socketPath, { force: true });
  const server = createServer((c) => pipe(c, createConnection({ host: "127.0.0.1", port })));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve(server));
  });
}

export function tcpToUnix(port: number, socketPath: string): Promise<Server> {
  const server = createServer((c) => pipe(c, createConnection({ path: socketPath })));
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}
