// keepalived's SSL_GET against a real TLS server on this host's loopback: a keepalived.conf's
// virtual_server read by the agent's loader, its httpsGet run by the checker. The good digest is
// the one keepalived's own genhash computes for the page (when genhash is installed), so the two
// agree on what is digested; a wrong digest fails, and so does a certificate nobody vouches for
// when verification is asked for (SSL_GET itself never verifies, as keepalived does not).
import { execFile, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/file-mode/config-file.ts";
import { runCheck, type CheckSpec } from "../../src/health/checkers.ts";
import { checkJobs } from "../../src/lb/from-api.ts";

const HAVE_OPENSSL = spawnSync("openssl", ["version"]).status === 0;
const HAVE_GENHASH = spawnSync("genhash", ["-h"]).error === undefined;
const BODY = "vipkeeper behind TLS\n";
const MD5 = createHash("md5").update(BODY).digest("hex");
const LO = "127.0.0.1";

describe.skipIf(!HAVE_OPENSSL)("SSL_GET against a real TLS server", () => {
  let dir: string;
  let server: Server;
  let port: number;
  const requests: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vk-tls-"));
    // A self-signed certificate made for this run (P-256: quick to make).
    const made = spawnSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=www.example.test",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { encoding: "utf8" },
    );
    if (made.status !== 0) throw new Error(`openssl: ${made.stderr}`);
    server = createServer(
      { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) },
      (req, res) => {
        requests.push(`${req.method} ${req.url} HTTP/${req.httpVersion}`);
        if (req.url === "/") res.writeHead(200, { "content-type": "text/plain" }).end(BODY);
        else res.writeHead(404).end("no\n");
      },
    );
    port = await new Promise<number>((r) =>
      server.listen(0, LO, () => r((server.address() as AddressInfo).port)),
    );
  });
  afterAll(() => {
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The health check jobs of a keepalived.conf with one SSL_GET virtual_server, as the agent loads it. */
  const jobsFor = (digest: string, path = "/") => {
    const file = join(dir, "keepalived.conf");
    writeFileSync(
      file,
      `virtual_server 198.18.0.50 443 {
    delay_loop 5
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server ${LO} ${port} {
        SSL_GET {
            url {
                path ${path}
                digest ${digest}
            }
            connect_timeout 2
        }
    }
}
`,
    );
    const vs = loadConfig(file, "n1").virtualServers;
    expect(vs).toHaveLength(1);
    return checkJobs(vs[0]!);
  };

  it.skipIf(!HAVE_GENHASH)("keepalived's genhash digests the page as the checker does", async () => {
    const { stdout } = await promisify(execFile)("genhash", ["-S", "-s", LO, "-p", String(port), "-u", "/"]);
    expect(stdout.trim().toLowerCase()).toBe(MD5); // genhash prints the digest alone
  });

  it("the good digest passes, over TLS, with the certificate unverified as keepalived's SSL_GET", async () => {
    const [job] = jobsFor(MD5);
    expect(job!.spec).toMatchObject({ type: "https", insecure: true, digest: MD5 });
    expect(job!.target).toEqual({ address: LO, port });
    requests.length = 0;
    const r = await runCheck(job!.spec, job!.target, 2000);
    expect(r).toMatchObject({ ok: true, detail: "status 200" });
    expect(requests).toEqual(["GET / HTTP/1.1"]); // it went through the TLS server
  });

  it("a wrong digest fails (without naming the digest the page has); so does a wrong page", async () => {
    const [job] = jobsFor("0123456789abcdef0123456789abcdef");
    const r = await runCheck(job!.spec, job!.target, 2000);
    expect(r.ok).toBe(false);
    expect(r.detail).toBe("body digest differs from spec"); // never the page's own digest (SECURITY.md)
    const [missing] = jobsFor(MD5, "/missing");
    expect(await runCheck(missing!.spec, missing!.target, 2000)).toMatchObject({
      ok: false,
      detail: "status 404",
    });
  });

  it("with verification asked for (httpsGet without insecureSkipVerify), a self-signed certificate fails", async () => {
    const [job] = jobsFor(MD5);
    const verified: CheckSpec = { type: "https", path: "/", statusCodes: [200], digest: MD5 };
    expect(job!.spec).toEqual({ ...verified, insecure: true });
    const r = await runCheck(verified, job!.target, 2000);
    expect(r.ok).toBe(false);
    expect(r.detail).toMatch(/self[- ]signed|certificate/i);
  });

  it("plain HTTP to the TLS port fails (no TLS, no answer that parses)", async () => {
    const [job] = jobsFor(MD5);
    const r = await runCheck({ type: "http", path: "/", statusCodes: [200], digest: MD5 }, job!.target, 1000);
    expect(r.ok).toBe(false);
  });
});
