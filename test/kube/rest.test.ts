// kube/rest.ts, vipkeeper's own REST client: its configuration (kubeconfig fields, in-cluster, what
// it refuses), TLS (CA, client certificates, tls-server-name, insecure), kept-alive connections, the
// service-account token re-read when it rotates, errors, and watch streams cut at any byte, against
// a TLS server of the test's own; the verbs against the in-process API server (test/kubeapi).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server as HttpServer,
  type ServerResponse,
} from "node:http";
import { createServer, type Server } from "node:https";
import type { TLSSocket } from "node:tls";
import { tmpdir } from "node:os";
import { PassThrough } from "node:stream";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  inClusterConfig,
  KubeApiError,
  kubeconfigFromText,
  KubeRest,
  LineSplitter,
  loadRestClient,
  MAX_IN_FLIGHT,
  readBody,
  type WatchEvent,
} from "../../src/kube/rest.ts";
import { startApiServer, type ApiServer } from "../kubeapi/server.ts";

let dir = "";
const path = (f: string) => join(dir, f);
const pem = (f: string) => readFileSync(path(f));
const b64 = (f: string) => pem(f).toString("base64");

/** A CA; the server's certificate (127.0.0.1 and kube.test) and a client's (CN vk-user), both signed by it. */
function makeCertificates() {
  const ossl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  ossl("req", "-x509", ...ec, "-days", "1", "-subj", "/CN=vk-test-ca", "-keyout", "ca.key", "-out", "ca.crt");
  for (const [name, subj, ext] of [
    ["server", "/CN=kube.test", "subjectAltName=IP:127.0.0.1,DNS:kube.test"],
    ["client", "/CN=vk-user", "extendedKeyUsage=clientAuth"],
  ] as const) {
    ossl("req", ...ec, "-subj", subj, "-keyout", `${name}.key`, "-out", `${name}.csr`);
    writeFileSync(path(`${name}.ext`), `${ext}\n`);
    ossl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
      "-days", "1", "-extfile", `${name}.ext`, "-out", `${name}.crt`); // prettier-ignore
  }
  // Another CA, which signed nothing the server shows.
  ossl(
    "req",
    "-x509",
    ...ec,
    "-days",
    "1",
    "-subj",
    "/CN=other",
    "-keyout",
    "other.key",
    "-out",
    "other.crt",
  );
}

interface Seen {
  authorization: string | undefined;
  clientCN: string | undefined;
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

describe("KubeRest over TLS", () => {
  let server: Server;
  let port = 0;
  let handshakes = 0;
  const seen: Seen[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vkku-rest-"));
    makeCertificates();
    server = createServer(
      { key: pem("server.key"), cert: pem("server.crt"), ca: pem("ca.crt"), requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          const peer = (req.socket as TLSSocket).getPeerCertificate();
          seen.push({
            authorization: req.headers.authorization,
            clientCN: peer?.subject?.CN as string | undefined,
            method: req.method!,
            url: req.url!,
            contentType: req.headers["content-type"],
            body: Buffer.concat(chunks).toString(),
          });
          if (req.url?.startsWith("/prefix/api/v1/namespaces/missing") || req.url?.startsWith("/api/v1/namespaces/missing"))
            res.writeHead(404, { "content-type": "application/json" }).end(
              JSON.stringify({ kind: "Status", status: "Failure", reason: "NotFound", code: 404, message: 'namespaces "missing" not found' }),
            );
          else if (req.url === "/api/v1/plain-error") res.writeHead(503).end("the server is busy\n");
          else
            res
              .writeHead(200, { "content-type": "application/json" })
              .end(JSON.stringify({ kind: "NamespaceList", apiVersion: "v1", metadata: { resourceVersion: "7" }, items: [] }));
        });
      },
    ); // prettier-ignore
    server.on("secureConnection", () => handshakes++);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const kubeconfig = (cluster: Record<string, unknown>, user: Record<string, unknown> = {}) => {
    const file = path(`kc-${Math.random().toString(16).slice(2)}.yaml`);
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "c", cluster: { server: `https://127.0.0.1:${port}`, ...cluster } }],
        users: [{ name: "u", user }],
        contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
        "current-context": "x",
      }),
    );
    return file;
  };
  const last = () => seen.at(-1)!;

  it("a token and the CA as data: 20 requests over one kept-alive TLS connection", async () => {
    const rest = await loadRestClient(
      kubeconfig({ "certificate-authority-data": b64("ca.crt") }, { token: "t0k" }),
    );
    const before = handshakes;
    for (let i = 0; i < 20; i++)
      expect((await rest.list("/api/v1/namespaces")).metadata?.resourceVersion).toBe("7");
    expect(handshakes - before).toBe(1);
    expect(last().authorization).toBe("Bearer t0k");
    rest.close();
  });

  it("client certificate and key from files relative to the kubeconfig; the CA from a file", async () => {
    const rest = await loadRestClient(
      kubeconfig(
        { "certificate-authority": "ca.crt" },
        { "client-certificate": "client.crt", "client-key": "client.key" },
      ),
    );
    await rest.get("/api/v1/namespaces/default");
    expect(last()).toMatchObject({ clientCN: "vk-user", authorization: undefined });
    rest.close();
    const inline = await loadRestClient(
      kubeconfig(
        { "certificate-authority-data": b64("ca.crt") },
        { "client-certificate-data": b64("client.crt"), "client-key-data": b64("client.key") },
      ),
    );
    await inline.get("/api/v1/namespaces/default");
    expect(last().clientCN).toBe("vk-user");
    inline.close();
  });

  it("verifies the server: another CA fails, insecure-skip-tls-verify passes, tls-server-name is the name checked", async () => {
    const other = await loadRestClient(kubeconfig({ "certificate-authority": "other.crt" }));
    await expect(other.get("/api/v1/namespaces")).rejects.toThrow(/certificate/);
    other.close();
    const insecure = await loadRestClient(kubeconfig({ "insecure-skip-tls-verify": true }));
    await insecure.get("/api/v1/namespaces");
    insecure.close();
    const named = await loadRestClient(
      kubeconfig({ "certificate-authority": "ca.crt", "tls-server-name": "kube.test" }),
    );
    await named.get("/api/v1/namespaces");
    named.close();
    const wrong = await loadRestClient(
      kubeconfig({ "certificate-authority": "ca.crt", "tls-server-name": "elsewhere.test" }),
    );
    await expect(wrong.get("/api/v1/namespaces")).rejects.toThrow(/elsewhere\.test/);
    wrong.close();
  });

  it("a server URL's path is a prefix of every request", async () => {
    const rest = new KubeRest({ server: `https://127.0.0.1:${port}/prefix/`, ca: pem("ca.crt") });
    await expect(rest.get("/api/v1/namespaces/missing")).rejects.toMatchObject({ code: 404 });
    expect(last().url).toBe("/prefix/api/v1/namespaces/missing");
    rest.close();
  });

  it("errors carry the HTTP status as code, the Status's reason and message; a plain body is the message", async () => {
    const rest = new KubeRest({ server: `https://127.0.0.1:${port}`, ca: pem("ca.crt") });
    const err = (await rest.get("/api/v1/namespaces/missing").catch((e: unknown) => e)) as KubeApiError;
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ code: 404, reason: "NotFound" });
    expect(err.message).toBe('GET /api/v1/namespaces/missing: 404 namespaces "missing" not found');
    await expect(rest.get("/api/v1/plain-error")).rejects.toMatchObject({
      code: 503,
      message: "GET /api/v1/plain-error: 503 the server is busy",
    });
    rest.close();
    // Nothing listens: no status, no code.
    const dead = new KubeRest({ server: "https://127.0.0.1:1", insecureSkipTLSVerify: true });
    await expect(dead.get("/api/v1/namespaces")).rejects.toMatchObject({
      code: undefined,
      message: /ECONNREFUSED/,
    });
  });

  it("in a pod: the service's address, the mounted CA, and the token file re-read when it changes", async () => {
    const sa = mkdtempSync(join(dir, "sa-"));
    writeFileSync(join(sa, "ca.crt"), pem("ca.crt"));
    writeFileSync(join(sa, "token"), "first\n");
    const rest = await loadRestClient(undefined, {
      env: {
        KUBERNETES_SERVICE_HOST: "127.0.0.1",
        KUBERNETES_SERVICE_PORT: String(port),
        KUBECONFIG: "/nonexistent",
      },
      serviceAccountDir: sa,
    });
    await rest.get("/api/v1/namespaces");
    expect(last().authorization).toBe("Bearer first");
    // The kubelet rotates the token: the next request after the change check (1 s) sends the new one.
    writeFileSync(join(sa, "token"), "second\n");
    const t = Date.now() / 1000 + 5;
    utimesSync(join(sa, "token"), t, t);
    await new Promise((r) => setTimeout(r, 1100));
    await rest.get("/api/v1/namespaces");
    expect(last().authorization).toBe("Bearer second");
    rest.close();
    expect(
      inClusterConfig({ KUBERNETES_SERVICE_HOST: "2001:db8::1", KUBERNETES_SERVICE_PORT: "443" }, sa).server,
    ).toBe("https://[2001:db8::1]:443");
    expect(() =>
      inClusterConfig(
        { KUBERNETES_SERVICE_HOST: "198.18.0.1", KUBERNETES_SERVICE_PORT: "443" },
        join(dir, "none"),
      ),
    ).toThrow(/in-cluster: the service account's CA: ENOENT/);
  });

  it("a tokenFile in the kubeconfig is read (relative to it); an inline token wins", async () => {
    writeFileSync(path("user.token"), "from-file");
    const rest = await loadRestClient(
      kubeconfig({ "certificate-authority": "ca.crt" }, { tokenFile: "user.token" }),
    );
    await rest.get("/api/v1/namespaces");
    expect(last().authorization).toBe("Bearer from-file");
    rest.close();
    const both = await loadRestClient(
      kubeconfig({ "certificate-authority": "ca.crt" }, { tokenFile: "user.token", token: "inline" }),
    );
    await both.get("/api/v1/namespaces");
    expect(last().authorization).toBe("Bearer inline");
    both.close();
  });
});

describe("reading a response's body", () => {
  // A keep-alive TLS socket keeps the first request made on it, and its response, for the socket's
  // life: a response's listeners must not keep the body (a 0.5 MB list of 255 routers was, seen in
  // a heap snapshot of the cluster agent).
  it("lets go of the response once read: no listener of its own is left on it, an error after is harmless", async () => {
    const res = new PassThrough() as unknown as IncomingMessage;
    const body = readBody(res, 5000);
    res.emit("data", Buffer.from('{"items":'));
    res.emit("data", Buffer.from("[]}"));
    res.emit("end");
    expect(await body).toBe('{"items":[]}');
    expect(res.listenerCount("data")).toBe(0);
    expect(res.listenerCount("end")).toBe(0);
    expect(res.listenerCount("error")).toBe(1); // one shared no-op, holding nothing of this read
    expect(() => res.emit("error", new Error("late"))).not.toThrow();
  });

  it("lets go of it after an error too, and says what failed", async () => {
    const res = new PassThrough() as unknown as IncomingMessage;
    const body = readBody(res, 5000);
    res.emit("error", new Error("socket hang up"));
    await expect(body).rejects.toThrow("socket hang up");
    expect(res.listenerCount("data") + res.listenerCount("end")).toBe(0);
  });
});

describe("kubeconfig and configuration errors", () => {
  const doc = (cluster: Record<string, unknown>, user: Record<string, unknown> = {}, extra = {}) =>
    JSON.stringify({
      clusters: [{ name: "c", cluster: { server: "https://198.18.0.1:6443", ...cluster } }],
      users: [{ name: "u", user }],
      contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
      "current-context": "x",
      ...extra,
    });
  const load = (text: string) => kubeconfigFromText(text, "/etc/kc.yaml", parse);

  it("takes the current context's cluster and user", () => {
    const two = JSON.stringify({
      clusters: [
        { name: "a", cluster: { server: "https://198.18.0.1:6443" } },
        { name: "b", cluster: { server: "https://198.18.0.2:6443", "insecure-skip-tls-verify": true } },
      ],
      users: [
        { name: "ua", user: { token: "A" } },
        { name: "ub", user: { token: "B" } },
      ],
      contexts: [
        { name: "ca", context: { cluster: "a", user: "ua" } },
        { name: "cb", context: { cluster: "b", user: "ub", namespace: "x" } },
      ],
      "current-context": "cb",
    });
    expect(load(two)).toEqual({ server: "https://198.18.0.2:6443", insecureSkipTLSVerify: true, token: "B" });
  });

  it("names what it does not support, and what is missing or malformed", () => {
    const exec = { exec: { command: "aws", apiVersion: "client.authentication.k8s.io/v1" } };
    expect(() => load(doc({}, exec))).toThrow('kubeconfig /etc/kc.yaml: user "u": exec is not supported');
    expect(() => load(doc({}, { "auth-provider": { name: "gcp" } }))).toThrow(
      /auth-provider is not supported/,
    );
    expect(() => load(doc({}, { username: "a", password: "b" }))).toThrow(/username is not supported/);
    expect(() => load(doc({}, { as: "admin" }))).toThrow(/user "u": as is not supported/);
    expect(() => load(doc({ "proxy-url": "http://proxy:3128" }))).toThrow(
      /cluster "c": proxy-url is not supported/,
    );
    expect(() => load(doc({}, {}, { "current-context": "" }))).toThrow(/no current-context/);
    expect(() => load(doc({}, {}, { "current-context": "y" }))).toThrow(/no context named "y"/);
    expect(() => load(doc({ server: "" }))).toThrow(/cluster "c" has no server/);
    expect(() => load(doc({ "insecure-skip-tls-verify": "yes" }))).toThrow(/true or false/);
    expect(() => load(doc({ "certificate-authority": "/nonexistent/ca.crt" }))).toThrow(
      /certificate-authority: ENOENT/,
    );
    expect(() => load(doc({ "certificate-authority": "a", "certificate-authority-data": "b" }))).toThrow(
      /exclude each other/,
    );
    expect(() => load("clusters: [")).toThrow(/kubeconfig \/etc\/kc.yaml: not YAML/);
    expect(() => load("- a\n- b\n")).toThrow(/not a mapping/);
  });

  it("the client refuses a bad server URL, a certificate without its key, and a CA beside insecure", async () => {
    expect(() => new KubeRest({ server: "198.18.0.1:6443" })).toThrow(/not a URL|only https/);
    expect(() => new KubeRest({ server: "ftp://198.18.0.1" })).toThrow(/only https/);
    expect(() => new KubeRest({ server: "https://198.18.0.1", cert: "x" })).toThrow(/needs its key/);
    expect(
      () => new KubeRest({ server: "https://198.18.0.1", ca: "x", insecureSkipTLSVerify: true }),
    ).toThrow(/exclude each other/);
    expect(() => new KubeRest({ server: "https://198.18.0.1", tokenFile: "/nonexistent/token" })).toThrow(
      /ENOENT/,
    );
    await expect(loadRestClient("/nonexistent/kubeconfig")).rejects.toThrow(
      /kubeconfig \/nonexistent\/kubeconfig: ENOENT/,
    );
  });

  it("elsewhere than a pod: the file given, else the first of KUBECONFIG", async () => {
    const d = mkdtempSync(join(tmpdir(), "vkku-kc-"));
    try {
      const f = (server: string) => {
        const p = join(d, `${Math.random().toString(16).slice(2)}.yaml`);
        writeFileSync(p, doc({ server }));
        return p;
      };
      const env = { KUBECONFIG: `${f("https://198.18.0.8:6443")}:${f("https://198.18.0.9:6443")}` };
      expect((await loadRestClient(undefined, { env })).server.href).toBe("https://198.18.0.8:6443/");
      // An explicit file wins, even in a pod.
      const pod = { ...env, KUBERNETES_SERVICE_HOST: "198.18.0.1", KUBERNETES_SERVICE_PORT: "443" };
      expect((await loadRestClient(f("https://198.18.0.7:6443"), { env: pod })).server.href).toBe(
        "https://198.18.0.7:6443/",
      );
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
  it("reads a JSON kubeconfig without the yaml package, and YAML's block and flow styles with it", () => {
    const d = mkdtempSync(join(tmpdir(), "vkku-kc-"));
    try {
      const json = doc({ server: "https://198.18.0.5:6443" }, { token: "T" });
      const block = `clusters:\n- name: c\n  cluster: {server: "https://198.18.0.5:6443"}\nusers:\n- {name: u, user: {token: T}}\ncontexts:\n- {name: x, context: {cluster: c, user: u}}\ncurrent-context: x\n`;
      const flow = `{clusters: [{name: c, cluster: {server: "https://198.18.0.5:6443"}}], users: [{name: u, user: {token: T}}], contexts: [{name: x, context: {cluster: c, user: u}}], current-context: x}`;
      // Each in a process of its own, which says whether the yaml package was loaded.
      const read = (text: string) => {
        const file = join(d, `${Math.random().toString(16).slice(2)}.kubeconfig`);
        writeFileSync(file, text);
        const script = `
          import { registerHooks } from "node:module";
          let yaml = false;
          registerHooks({ resolve(s, c, next) { const r = next(s, c); if (r.url.includes("/node_modules/yaml/")) yaml = true; return r; } });
          const { kubeconfigFile } = await import(${JSON.stringify(join(import.meta.dirname, "../../src/kube/rest.ts"))});
          const config = await kubeconfigFile(${JSON.stringify(file)});
          process.stdout.write(JSON.stringify({ server: config.server, token: config.token, yaml }));`;
        return JSON.parse(
          execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" }),
        ) as unknown;
      };
      const config = { server: "https://198.18.0.5:6443", token: "T" };
      expect(read(json)).toEqual({ ...config, yaml: false });
      expect(read(block)).toEqual({ ...config, yaml: true });
      expect(read(flow)).toEqual({ ...config, yaml: true });
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe("watch streams", () => {
  let server: HttpServer;
  let url = "";
  /** How the next watch answers: the test sets it. */
  let answer: (req: IncomingMessage, res: ServerResponse) => void = () => {};
  beforeAll(async () => {
    server = createHttpServer((req, res) => answer(req, res));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const events = [
    { type: "ADDED", object: { metadata: { name: "é-ü-日本", resourceVersion: "1" } } },
    {
      type: "MODIFIED",
      object: { metadata: { name: "b", resourceVersion: "2" }, data: { v: "x".repeat(300) } },
    },
    { type: "BOOKMARK", object: { metadata: { resourceVersion: "5" } } },
    { type: "DELETED", object: { metadata: { name: "b", resourceVersion: "6" } } },
  ];
  const bytes = Buffer.from(events.map((e) => JSON.stringify(e) + "\n").join(""));

  it("the line splitter: any cut of the bytes, inside a line or a character, gives the same lines", () => {
    for (let cut = 1; cut < bytes.length; cut += 7)
      for (const size of [1, 3, cut]) {
        const s = new LineSplitter();
        const lines: string[] = [];
        for (let i = 0; i < bytes.length; i += size) lines.push(...s.push(bytes.subarray(i, i + size)));
        expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual(events);
        expect(s.end()).toBe("");
      }
  });

  it("parses events sent in chunks cut anywhere (one byte at a time), asks with the query, ends when the server ends", async () => {
    let query = "";
    answer = (req, res) => {
      query = req.url!;
      res.writeHead(200, { "content-type": "application/json" });
      let i = 0;
      const t = setInterval(() => {
        if (i >= bytes.length) {
          clearInterval(t);
          res.end();
          return;
        }
        // Cuts of 1..13 bytes: through the multi-byte name and across event boundaries.
        const n = 1 + (i % 13);
        res.write(bytes.subarray(i, i + n));
        i += n;
      }, 0);
    };
    const rest = new KubeRest({ server: url });
    const got: WatchEvent[] = [];
    const w = rest.watch(
      "/api/v1/configmaps",
      { resourceVersion: "1", allowWatchBookmarks: true },
      (e) => void got.push(e),
      {
        inactivityMs: 5000,
      },
    );
    expect(await w.done).toBe("closed");
    expect(got).toEqual(events);
    expect(new URLSearchParams(query.split("?")[1]).get("watch")).toBe("true");
    expect(new URLSearchParams(query.split("?")[1]).get("allowWatchBookmarks")).toBe("true");
    rest.close();
  });

  it("an ERROR event fails with its Status's code (410 Gone); a bad line and a cut event fail", async () => {
    const rest = new KubeRest({ server: url });
    const gone = {
      type: "ERROR",
      object: { kind: "Status", code: 410, reason: "Expired", message: "too old resource version: 1 (9)" },
    };
    answer = (_req, res) =>
      res.writeHead(200).end(JSON.stringify(events[0]) + "\n" + JSON.stringify(gone) + "\n");
    const got: WatchEvent[] = [];
    await expect(
      rest.watch("/w", {}, (e) => void got.push(e), { inactivityMs: 5000 }).done,
    ).rejects.toMatchObject({
      code: 410,
      reason: "Expired",
      message: "watch /w: 410 too old resource version: 1 (9)",
    });
    expect(got).toHaveLength(1);
    answer = (_req, res) => res.writeHead(200).end("{not json}\n");
    await expect(rest.watch("/w", {}, () => {}, { inactivityMs: 5000 }).done).rejects.toThrow(
      /a line is not JSON: \{not json\}/,
    );
    answer = (_req, res) => res.writeHead(200).end('{"type":"ADDED","obj');
    await expect(rest.watch("/w", {}, () => {}, { inactivityMs: 5000 }).done).rejects.toThrow(
      /ended mid-event/,
    );
    answer = (_req, res) => res.writeHead(200).end('["ADDED"]\n');
    await expect(rest.watch("/w", {}, () => {}, { inactivityMs: 5000 }).done).rejects.toThrow(
      /not a watch event/,
    );
    answer = (_req, res) =>
      res
        .writeHead(403, { "content-type": "application/json" })
        .end(JSON.stringify({ kind: "Status", code: 403, reason: "Forbidden", message: "no" }));
    await expect(rest.watch("/w", {}, () => {}, { inactivityMs: 5000 }).done).rejects.toMatchObject({
      code: 403,
    });
    rest.close();
  });

  it("a silent watch ends 'inactive' after the inactivity timeout; data re-arms it; abort ends it 'aborted'", async () => {
    const rest = new KubeRest({ server: url });
    const open: ServerResponse[] = [];
    answer = (_req, res) => {
      res.writeHead(200).flushHeaders();
      open.push(res);
    };
    const t0 = performance.now();
    expect(await rest.watch("/w", {}, () => {}, { inactivityMs: 150 }).done).toBe("inactive");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    // Bookmarks every 60 ms keep a 150 ms watch open past 400 ms.
    answer = (_req, res) => {
      res.writeHead(200).flushHeaders();
      open.push(res);
      const t = setInterval(() => res.write(JSON.stringify(events[2]) + "\n"), 60);
      res.on("close", () => clearInterval(t));
    };
    const w = rest.watch("/w", {}, () => {}, { inactivityMs: 150 });
    const state = await Promise.race([w.done, new Promise((r) => setTimeout(() => r("open"), 400))]);
    expect(state).toBe("open");
    w.abort();
    expect(await w.done).toBe("aborted");
    // No answer at all: inactive too, and the request is dropped (the server sees it close).
    let closed = false;
    answer = (req) => req.socket.on("close", () => (closed = true));
    expect(await rest.watch("/w", {}, () => {}, { inactivityMs: 100 }).done).toBe("inactive");
    await new Promise((r) => setTimeout(r, 100));
    expect(closed).toBe(true);
    // The connection broken mid-stream is a failure, not an end.
    answer = (_req, res) => {
      res.writeHead(200).write(JSON.stringify(events[0]) + "\n");
      setTimeout(() => res.socket?.destroy(), 50);
    };
    await expect(rest.watch("/w", {}, () => {}, { inactivityMs: 5000 }).done).rejects.toThrow(
      /connection lost|aborted|socket hang up/,
    );
    for (const r of open) r.destroy();
    rest.close();
  });

  it("at most MAX_IN_FLIGHT requests at once, the others queued; watches take no turn", async () => {
    const rest = new KubeRest({ server: url });
    let open = 0;
    let most = 0;
    const watches: ServerResponse[] = [];
    answer = (req, res) => {
      if (req.url?.includes("watch=true")) {
        res.writeHead(200).flushHeaders();
        watches.push(res);
        return;
      }
      most = Math.max(most, ++open);
      setTimeout(() => {
        open--;
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      }, 20);
    };
    const ws = Array.from({ length: MAX_IN_FLIGHT + 2 }, () =>
      rest.watch("/w", {}, () => {}, { inactivityMs: 5000 }),
    );
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => rest.get(`/r${i}`)));
    expect(answers).toHaveLength(30);
    expect(most).toBe(MAX_IN_FLIGHT);
    // A failing request gives its turn back too.
    answer = (_req, res) => res.writeHead(500).end("no");
    await Promise.all(
      Array.from({ length: 20 }, () => expect(rest.get("/f")).rejects.toMatchObject({ code: 500 })),
    );
    answer = (_req, res) => res.writeHead(200).end("{}");
    await rest.get("/after");
    // A client may ask for another bound.
    const wider = new KubeRest({ server: url }, { maxInFlight: 12 });
    most = 0;
    answer = (_req, res) => {
      most = Math.max(most, ++open);
      setTimeout(() => {
        open--;
        res.writeHead(200).end("{}");
      }, 20);
    };
    await Promise.all(Array.from({ length: 30 }, () => wider.get("/x")));
    expect(most).toBe(12);
    wider.close();
    expect(() => new KubeRest({ server: url }, { maxInFlight: 0 })).toThrow(/maxInFlight/);
    for (const w of ws) w.abort();
    for (const w of watches) w.destroy();
    rest.close();
  });

  it("a request with no answer fails after the timeout", async () => {
    answer = () => {}; // never answers
    const rest = new KubeRest({ server: url }, { timeoutMs: 150 });
    await expect(rest.get("/slow")).rejects.toThrow("GET /slow: no answer within 150 ms");
    rest.close();
  });
});

describe("KubeRest against the in-process API server", () => {
  let api: ApiServer;
  let rest: KubeRest;
  const NS = "vkku-rest";
  const CM = `/api/v1/namespaces/${NS}/configmaps`;
  beforeAll(async () => {
    api = await startApiServer();
    rest = api.rest();
  });
  afterAll(() => api.close());

  interface Cm {
    metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
    data?: Record<string, string>;
  }

  it("create, get, list with a selector, conditional update (409 when stale), merge and JSON patch, delete", async () => {
    const made = await rest.create<Cm>(CM, { metadata: { name: "a", labels: { k: "1" } }, data: { v: "1" } });
    await rest.create(CM, { metadata: { name: "b" }, data: { v: "1" } });
    expect((await rest.get<Cm>(`${CM}/a`)).data).toEqual({ v: "1" });
    const listed = await rest.list<Cm>(CM, { labelSelector: "k=1" });
    expect(listed.items.map((i) => i.metadata.name)).toEqual(["a"]);
    expect(Number(listed.metadata?.resourceVersion)).toBeGreaterThan(0);
    const updated = await rest.update<Cm>(`${CM}/a`, { ...made, data: { v: "2" } });
    await expect(rest.update(`${CM}/a`, { ...made, data: { v: "3" } })).rejects.toMatchObject({ code: 409 });
    expect((await rest.patch<Cm>(`${CM}/a`, { data: { w: "x" } })).data).toEqual({ v: "2", w: "x" });
    expect((await rest.patch<Cm>(`${CM}/a`, [{ op: "remove", path: "/data/v" }], "json")).data).toEqual({
      w: "x",
    });
    expect(updated.metadata.resourceVersion).not.toBe(made.metadata.resourceVersion);
    await rest.delete(`${CM}/b`);
    await expect(rest.get(`${CM}/b`)).rejects.toMatchObject({ code: 404, reason: "NotFound" });
    await expect(rest.create(CM, { metadata: { name: "a" } })).rejects.toMatchObject({
      code: 409,
      reason: "AlreadyExists",
    });
  });

  it("server-side apply: the field manager is recorded; another's field is a conflict unless forced", async () => {
    const body = {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "ssa", namespace: NS },
      data: { owner: "one" },
    };
    await rest.apply(`${CM}/ssa`, body, { fieldManager: "one" });
    const got = await rest.get<
      Cm & { metadata: { managedFields?: { manager: string; operation: string }[] } }
    >(`${CM}/ssa`);
    expect(got.metadata.managedFields?.map((m) => [m.manager, m.operation])).toEqual([["one", "Apply"]]);
    const other = { ...body, data: { owner: "two" } };
    await expect(rest.apply(`${CM}/ssa`, other, { fieldManager: "two" })).rejects.toMatchObject({
      code: 409,
    });
    await rest.apply(`${CM}/ssa`, other, { fieldManager: "two", force: true });
    expect((await rest.get<Cm>(`${CM}/ssa`)).data).toEqual({ owner: "two" });
  });

  it("watch from a list's version sees what follows, bookmarks included; from a compacted version, 410", async () => {
    const list = await rest.list<Cm>(CM);
    const got: WatchEvent<Cm>[] = [];
    const w = rest.watch<Cm>(
      CM,
      { resourceVersion: list.metadata!.resourceVersion!, allowWatchBookmarks: true },
      (e) => void got.push(e),
      {
        inactivityMs: 5000,
      },
    );
    await rest.create(CM, { metadata: { name: "w1" } });
    await rest.delete(`${CM}/w1`);
    const end = Date.now() + 5000;
    while (got.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    expect(got.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(["ADDED w1", "DELETED w1"]);
    w.abort();
    expect(await w.done).toBe("aborted");
    api.compact();
    await rest.create(CM, { metadata: { name: "w2" } });
    await expect(
      rest.watch(CM, { resourceVersion: list.metadata!.resourceVersion! }, () => {}, { inactivityMs: 5000 })
        .done,
    ).rejects.toMatchObject({ code: 410 });
  });
});
