// PooledKubeConfig against a real TLS server: requests share kept-alive connections. client-node's
// own KubeConfig opens a TLS connection per request (a new undici Agent each time), which the same
// test shows, so the count is the pool's doing.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PooledKubeConfig } from "../../src/kube/client.ts";

describe("PooledKubeConfig", () => {
  let dir: string;
  let server: Server;
  let port = 0;
  let handshakes = 0;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vk-tls-"));
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
      "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
      "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ], { stdio: "ignore" }); // prettier-ignore
    server = createServer(
      { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) },
      (_req, res) =>
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ kind: "NamespaceList", apiVersion: "v1", metadata: {}, items: [] })),
    );
    server.on("secureConnection", () => handshakes++);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const load = (kc: KubeConfig) => {
    kc.loadFromOptions({
      clusters: [
        {
          name: "c",
          server: `https://127.0.0.1:${port}`,
          caData: readFileSync(join(dir, "cert.pem")).toString("base64"),
        },
      ],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    return kc.makeApiClient(CoreV1Api);
  };
  const twenty = async (api: CoreV1Api) => {
    const before = handshakes;
    for (let i = 0; i < 20; i++) await api.listNamespace();
    return handshakes - before;
  };

  it("makes 20 requests over one or two TLS connections, where client-node's KubeConfig makes 20", async () => {
    // undici here opens a second connection at the second request, then reuses it for the rest.
    expect(await twenty(load(new PooledKubeConfig()))).toBeLessThanOrEqual(2);
    expect(await twenty(load(new KubeConfig()))).toBe(20);
  });
});
