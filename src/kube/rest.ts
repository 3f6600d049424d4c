// vipkeeper's own Kubernetes REST client: what the agent's main process needs (list, get, create,
// update, patch, server-side apply, watch) over node:https with one keep-alive Agent, JSON in and
// out. @kubernetes/client-node costs a Node process ~65 MB (its KubeConfig alone pulls in the
// generated models; BENCHMARKS.md), over half of the agent's memory goal; this is a few hundred
// lines and loads only node: built-ins (and `yaml` when a kubeconfig file is read).
import { readFileSync, statSync } from "node:fs";
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { homedir } from "node:os";
import { dirname, isAbsolute, join } from "node:path";
import { StringDecoder } from "node:string_decoder";

/** Where a pod's service-account credentials are mounted. */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** A bound service-account token rotates (the kubelet rewrites the file): read it again this often at least. */
export const TOKEN_REREAD_MS = 60_000;

/**
 * Requests (not watches) in flight at once by default; the rest wait their turn. 255 routers going
 * master make 510 Events and 255 status writes in a moment: unbounded, each would open its own
 * connection (client-go bounds the same burst with its QPS 5 / burst 10 limiter). The controller
 * asks for no bound (controller/main.ts).
 */
export const MAX_IN_FLIGHT = 8;

/** How a request that is not a watch may take before it fails (a dead connection must not hang a writer). */
export const REQUEST_TIMEOUT_MS = 30_000;

/** What the client needs to reach and authenticate to one API server. */
export interface RestConfig {
  /** https://host:port, maybe with a path prefix; http:// for tests. */
  server: string;
  /** PEM of the CAs to trust (none: the system's). */
  ca?: string | Buffer;
  /** Client certificate and key (PEM). */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** A bearer token, fixed. */
  token?: string;
  /** A file holding the bearer token, read again when it changes or every TOKEN_REREAD_MS. */
  tokenFile?: string;
  insecureSkipTLSVerify?: boolean;
  /** The name to check the server's certificate against (and send as SNI), if not the host's. */
  tlsServerName?: string;
}

/** An API request that failed: `code` is the HTTP status (undefined when none came back). */
export class KubeApiError extends Error {
  readonly code: number | undefined;
  /** The Status's reason (NotFound, Conflict, Expired, ...), when the server sent one. */
  readonly reason: string | undefined;
  /** The response body: a Status object, or the text. */
  readonly body: unknown;
  constructor(message: string, code: number | undefined, reason?: string, body?: unknown) {
    super(message);
    this.name = "KubeApiError";
    this.code = code;
    this.reason = reason;
    this.body = body;
  }
}

/** The kubeconfig could not be used: the message names the file and what is wrong. */
export class KubeConfigError extends Error {
  override name = "KubeConfigError";
}

export interface RestOptions {
  /** A request that is not a watch fails after this long (REQUEST_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Requests (not watches) in flight at once (MAX_IN_FLIGHT). */
  maxInFlight?: number;
}

export type PatchType = "merge" | "json" | "strategic";
const PATCH_CONTENT_TYPE: Record<PatchType | "apply", string> = {
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
  strategic: "application/strategic-merge-patch+json",
  // JSON is YAML: the server takes an apply configuration in JSON under the YAML type.
  apply: "application/apply-patch+yaml",
};

export type Query = Record<string, string | number | boolean | undefined>;

export interface WatchEvent<T = unknown> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

/** How a watch ended, when it did not fail. */
export type WatchEnd = "closed" | "inactive" | "aborted";

export interface WatchHandle {
  /** Resolves when the server ends the stream, it goes silent too long, or abort(); rejects on failure. */
  readonly done: Promise<WatchEnd>;
  abort(): void;
}

/** Reads a token file when it changed (checked at most once a second) or every TOKEN_REREAD_MS. */
class TokenFile {
  private token = "";
  private mtimeMs = -1;
  private readAt = -Infinity;
  private checkedAt = -Infinity;
  private readonly path: string;
  private readonly now: () => number;
  constructor(path: string, now: () => number = () => performance.now()) {
    this.path = path;
    this.now = now;
  }

  get(): string {
    const now = this.now();
    if (now - this.checkedAt >= 1000 || now - this.readAt >= TOKEN_REREAD_MS) {
      this.checkedAt = now;
      const mtimeMs = statSync(this.path).mtimeMs;
      if (mtimeMs !== this.mtimeMs || now - this.readAt >= TOKEN_REREAD_MS) {
        this.token = readFileSync(this.path, "utf8").trim();
        this.mtimeMs = mtimeMs;
        this.readAt = now;
      }
    }
    return this.token;
  }

  /** The server refused the token: read the file again on the next request. */
  stale(): void {
    this.checkedAt = this.readAt = -Infinity;
  }
}

export class KubeRest {
  readonly server: URL;
  private readonly agent: HttpAgent;
  private readonly secure: boolean;
  private readonly token: string | undefined;
  private readonly tokenFile: TokenFile | undefined;
  private readonly basePath: string;
  private readonly tlsServerName: string | undefined;
  private readonly timeoutMs: number;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];

  private readonly maxInFlight: number;

  constructor(config: RestConfig, opts: RestOptions = {}) {
    let url: URL;
    try {
      url = new URL(config.server);
    } catch {
      throw new KubeConfigError(`server ${JSON.stringify(config.server)} is not a URL`);
    }
    if (url.protocol !== "https:" && url.protocol !== "http:")
      throw new KubeConfigError(`server ${config.server}: only https:// (or http://) is supported`);
    if (config.insecureSkipTLSVerify && config.ca)
      throw new KubeConfigError("insecure-skip-tls-verify and a certificate authority exclude each other");
    if (Boolean(config.cert) !== Boolean(config.key))
      throw new KubeConfigError("a client certificate needs its key, and a key its certificate");
    this.server = url;
    this.secure = url.protocol === "https:";
    this.basePath = url.pathname.replace(/\/+$/, "");
    this.token = config.token || undefined;
    this.tokenFile = config.tokenFile ? new TokenFile(config.tokenFile) : undefined;
    this.tlsServerName = config.tlsServerName;
    this.timeoutMs = opts.timeoutMs ?? REQUEST_TIMEOUT_MS;
    this.maxInFlight = opts.maxInFlight ?? MAX_IN_FLIGHT;
    if (!(this.maxInFlight >= 1))
      throw new KubeConfigError(`maxInFlight must be 1 or more, not ${opts.maxInFlight}`);
    // One Agent: connections are kept alive and shared by every request and watch.
    this.agent = this.secure
      ? new HttpsAgent({
          keepAlive: true,
          ...(config.ca ? { ca: config.ca } : {}),
          ...(config.cert ? { cert: config.cert, key: config.key } : {}),
          rejectUnauthorized: !config.insecureSkipTLSVerify,
          ...(config.tlsServerName ? { servername: config.tlsServerName } : {}),
        })
      : new HttpAgent({ keepAlive: true });
    if (this.tokenFile) this.tokenFile.get(); // a missing file is an error at start, not at the first request
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.agent.destroy();
  }

  list<T>(path: string, query?: Query): Promise<{ items: T[]; metadata?: { resourceVersion?: string } }> {
    return this.request("GET", path, { query });
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request("GET", path, { query });
  }

  /** POST to the collection. */
  create<T>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.request("POST", path, { body, query });
  }

  /** PUT: a resourceVersion in the body makes it conditional (409 when stale). */
  update<T>(path: string, body: unknown, query?: Query): Promise<T> {
    return this.request("PUT", path, { body, query });
  }

  patch<T>(path: string, body: unknown, type: PatchType = "merge", query?: Query): Promise<T> {
    return this.request("PATCH", path, { body, query, contentType: PATCH_CONTENT_TYPE[type] });
  }

  /** Server-side apply under `fieldManager`; `force` takes fields other managers own. */
  apply<T>(path: string, body: unknown, opts: { fieldManager: string; force?: boolean }): Promise<T> {
    return this.request("PATCH", path, {
      body,
      query: { fieldManager: opts.fieldManager, ...(opts.force ? { force: true } : {}) },
      contentType: PATCH_CONTENT_TYPE.apply,
    });
  }

  delete<T>(path: string, query?: Query): Promise<T> {
    return this.request("DELETE", path, { query });
  }

  /** One request; resolves with the parsed JSON (undefined for an empty body), rejects with KubeApiError. */
  async request<T>(
    method: string,
    path: string,
    opts: { query?: Query | undefined; body?: unknown; contentType?: string } = {},
  ): Promise<T> {
    if (this.inFlight >= this.maxInFlight) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.inFlight++;
    let res: IncomingMessage;
    let text: string;
    try {
      res = await this.send(method, path, opts, this.timeoutMs);
      text = await readBody(res, this.timeoutMs);
    } finally {
      // The slot passes to the next waiting request, or is freed.
      const next = this.waiting.shift();
      if (next) next();
      else this.inFlight--;
    }
    if (res.statusCode! >= 400) throw this.failure(method, path, res, text);
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new KubeApiError(`${method} ${path}: the response is not JSON`, res.statusCode);
    }
  }

  /**
   * Opens a watch on a collection: `onEvent` gets each event (an ERROR event ends the watch as a
   * failure with the Status's code, e.g. 410 when the version is too old). A watch silent for
   * `inactivityMs` (no event, no bookmark) is closed and ends "inactive".
   */
  watch<T>(
    path: string,
    query: Query,
    onEvent: (e: WatchEvent<T>) => void,
    opts: { inactivityMs: number },
  ): WatchHandle {
    let abort = () => {};
    const done = new Promise<WatchEnd>((resolve, reject) => {
      let ended = false;
      let res: IncomingMessage | undefined;
      let timer: NodeJS.Timeout | undefined;
      let req: ReturnType<typeof httpRequest> | undefined;
      const finish = (outcome: WatchEnd | Error) => {
        if (ended) return;
        ended = true;
        clearTimeout(timer);
        res?.destroy();
        // Silent before it even answered, aborted or failed: the request goes too.
        if (outcome !== "closed") req?.destroy();
        if (outcome instanceof Error) reject(outcome);
        else resolve(outcome);
      };
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => finish("inactive"), opts.inactivityMs);
      };
      abort = () => {
        req?.destroy();
        finish("aborted");
      };
      arm();
      this.send("GET", path, { query: { ...query, watch: true } }, undefined, (r) => (req = r)).then(
        async (response) => {
          res = response;
          if (ended) return void response.destroy();
          if (response.statusCode !== 200) {
            const text = await readBody(response, this.timeoutMs).catch(() => "");
            return finish(this.failure("WATCH", path, response, text));
          }
          const lines = new LineSplitter();
          response.on("data", (chunk: Buffer) => {
            arm();
            for (const line of lines.push(chunk)) {
              if (ended) return;
              let event: WatchEvent<T>;
              try {
                event = JSON.parse(line) as WatchEvent<T>;
              } catch {
                return finish(
                  new KubeApiError(`watch ${path}: a line is not JSON: ${line.slice(0, 100)}`, undefined),
                );
              }
              if (event?.type === "ERROR") return finish(statusError(`watch ${path}`, event.object));
              if (!event || typeof event.type !== "string" || typeof event.object !== "object")
                return finish(
                  new KubeApiError(`watch ${path}: not a watch event: ${line.slice(0, 100)}`, undefined),
                );
              try {
                onEvent(event);
              } catch (err) {
                return finish(err as Error);
              }
            }
          });
          response.on("end", () => {
            const rest = lines.end();
            if (rest.trim()) finish(new KubeApiError(`watch ${path}: the stream ended mid-event`, undefined));
            else finish("closed");
          });
          response.on("error", (err) => finish(new KubeApiError(`watch ${path}: ${err.message}`, undefined)));
          // Closed without an end: the connection broke mid-stream.
          response.on("close", () => finish(new KubeApiError(`watch ${path}: connection lost`, undefined)));
        },
        (err: Error) => finish(err),
      );
    });
    return { done, abort: () => abort() };
  }

  private headers(): Record<string, string> {
    const token = this.tokenFile ? this.tokenFile.get() : this.token;
    return {
      accept: "application/json",
      "user-agent": "vipkeeper",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    };
  }

  private send(
    method: string,
    path: string,
    opts: { query?: Query | undefined; body?: unknown; contentType?: string },
    timeoutMs: number | undefined,
    onRequest?: (req: ReturnType<typeof httpRequest>) => void,
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      let headers: Record<string, string>;
      try {
        headers = this.headers();
      } catch (err) {
        return reject(new KubeApiError(`token: ${(err as Error).message}`, undefined));
      }
      const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
      if (payload) {
        headers["content-type"] = opts.contentType ?? "application/json";
        headers["content-length"] = String(payload.length);
      }
      const url = new URL(this.server);
      url.pathname = this.basePath + path;
      for (const [k, v] of Object.entries(opts.query ?? {}))
        if (v !== undefined) url.searchParams.set(k, String(v));
      const req = (this.secure ? httpsRequest : httpRequest)(url, {
        method,
        headers,
        agent: this.agent,
        ...(this.tlsServerName ? { servername: this.tlsServerName } : {}),
      });
      onRequest?.(req);
      if (timeoutMs !== undefined)
        req.setTimeout(timeoutMs, () =>
          req.destroy(new KubeApiError(`${method} ${path}: no answer within ${timeoutMs} ms`, undefined)),
        );
      req.on("response", resolve);
      req.on("error", (err) =>
        reject(
          err instanceof KubeApiError
            ? err
            : new KubeApiError(`${method} ${path}: ${err.message}`, undefined),
        ),
      );
      req.end(payload);
    });
  }

  private failure(method: string, path: string, res: IncomingMessage, text: string): KubeApiError {
    if (res.statusCode === 401) this.tokenFile?.stale();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not a Status: the text is the message
    }
    return statusError(`${method} ${path}`, body, res.statusCode);
  }
}

/** A Status object (or any body) as an error, its code from the HTTP status or the Status. */
function statusError(what: string, body: unknown, httpStatus?: number): KubeApiError {
  const status = (typeof body === "object" && body !== null ? body : {}) as {
    message?: string;
    reason?: string;
    code?: number;
  };
  const code = httpStatus ?? status.code;
  const message =
    status.message ?? (typeof body === "string" && body.trim() ? body.trim().slice(0, 500) : `HTTP ${code}`);
  return new KubeApiError(
    `${what}: ${code ?? ""} ${message}`.replace(/: {2}/, ": "),
    code,
    status.reason,
    body,
  );
}

/** An error after the body was read (or given up on) has no one left to tell; outside any closure. */
const ignoreError = () => {};

export function readBody(res: IncomingMessage, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    // Settled, the listeners go: they hold this promise, and with it the body. A keep-alive TLS
    // socket's listeners keep the first request made on it, and its response, for the socket's
    // life (a heap snapshot of the cluster agent found a 0.5 MB list of 255 routers kept so).
    const settle = () => {
      clearTimeout(timer);
      res.off("data", onData).off("end", onEnd).off("error", onError).on("error", ignoreError);
    };
    const onData = (c: Buffer) => chunks.push(c);
    const onEnd = () => {
      settle();
      resolve(Buffer.concat(chunks).toString("utf8"));
    };
    const onError = (err: Error) => {
      settle();
      reject(new KubeApiError(err.message, res.statusCode));
    };
    const timer = setTimeout(() => {
      settle();
      res.destroy();
      reject(new KubeApiError(`the response did not end within ${timeoutMs} ms`, res.statusCode));
    }, timeoutMs);
    res.on("data", onData).on("end", onEnd).on("error", onError);
  });
}

/**
 * Splits a byte stream into lines. Chunks break anywhere, inside a line or a multi-byte
 * character: the decoder keeps an incomplete character, `partial` an incomplete line.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private partial = "";

  push(chunk: Buffer): string[] {
    const text = this.partial + this.decoder.write(chunk);
    const lines = text.split("\n");
    this.partial = lines.pop()!;
    return lines.filter((l) => l.trim() !== "");
  }

  /** What is left at the end of the stream (an incomplete last line, or ""). */
  end(): string {
    const rest = this.partial + this.decoder.end();
    this.partial = "";
    return rest;
  }
}

// ---------------------------------------------------------------------------------------------
// Configuration: in-cluster, or a kubeconfig file.

/** In a pod: the service's address from the environment, the mounted token (re-read) and CA. */
export function inClusterConfig(
  env: NodeJS.ProcessEnv = process.env,
  dir: string = SERVICE_ACCOUNT_DIR,
): RestConfig {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port)
    throw new KubeConfigError("in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
  let ca: Buffer;
  try {
    ca = readFileSync(join(dir, "ca.crt"));
  } catch (err) {
    throw new KubeConfigError(`in-cluster: the service account's CA: ${(err as Error).message}`);
  }
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    ca,
    tokenFile: join(dir, "token"),
  };
}

type Named<K extends string, V> = { name?: string } & Partial<Record<K, V>>;
interface KubeconfigFile {
  clusters?: Named<"cluster", Record<string, unknown>>[];
  users?: Named<"user", Record<string, unknown>>[];
  contexts?: Named<"context", { cluster?: string; user?: string; namespace?: string }>[];
  "current-context"?: string;
}

const CLUSTER_FIELDS = new Set([
  "server",
  "certificate-authority",
  "certificate-authority-data",
  "insecure-skip-tls-verify",
  "tls-server-name",
  "extensions",
  "disable-compression",
]);
const USER_FIELDS = new Set([
  "token",
  "tokenFile",
  "client-certificate",
  "client-certificate-data",
  "client-key",
  "client-key-data",
  "extensions",
]);

/**
 * The current context of a kubeconfig's text: its cluster and user. What vipkeeper does not
 * implement (exec and auth-provider plugins, basic auth, impersonation, proxies) is an error that
 * names the field, never silently ignored.
 */
export function kubeconfigFromText(text: string, file: string, parse: (t: string) => unknown): RestConfig {
  const fail = (why: string) => new KubeConfigError(`kubeconfig ${file}: ${why}`);
  let doc: unknown;
  try {
    doc = parse(text) ?? {};
  } catch (err) {
    throw fail(`not YAML: ${(err as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw fail("not a mapping");
  const config = doc as KubeconfigFile;
  const current = config["current-context"];
  if (!current) throw fail("no current-context");
  const find = <K extends "cluster" | "user" | "context">(list: unknown, key: K, name: string) => {
    const entry = (Array.isArray(list) ? list : []).find((e: { name?: string }) => e?.name === name) as
      Record<K, unknown> | undefined;
    if (!entry) throw fail(`no ${key} named ${JSON.stringify(name)}`);
    const v = entry[key] ?? {};
    if (typeof v !== "object" || Array.isArray(v))
      throw fail(`${key} ${JSON.stringify(name)} is not a mapping`);
    return v as Record<string, unknown>;
  };
  const context = find(config.contexts, "context", current);
  if (typeof context.cluster !== "string") throw fail(`context ${JSON.stringify(current)} names no cluster`);
  const cluster = find(config.clusters, "cluster", context.cluster);
  const user = typeof context.user === "string" ? find(config.users, "user", context.user) : {};
  for (const k of Object.keys(cluster))
    if (!CLUSTER_FIELDS.has(k))
      throw fail(`cluster ${JSON.stringify(context.cluster)}: ${k} is not supported`);
  for (const k of Object.keys(user))
    if (!USER_FIELDS.has(k)) throw fail(`user ${JSON.stringify(context.user)}: ${k} is not supported`);
  const str = (o: Record<string, unknown>, k: string) => {
    const v = o[k];
    if (v === undefined || v === null || v === "") return undefined;
    if (typeof v !== "string") throw fail(`${k} must be a string`);
    return v;
  };
  const path = (p: string) => (isAbsolute(p) ? p : join(dirname(file), p));
  const readFile = (k: string, p: string) => {
    try {
      return readFileSync(path(p));
    } catch (err) {
      throw fail(`${k}: ${(err as Error).message}`);
    }
  };
  // One of data (base64 PEM) or a file, as kubectl takes them.
  const pem = (o: Record<string, unknown>, k: string) => {
    const data = str(o, `${k}-data`);
    const f = str(o, k);
    if (data && f) throw fail(`${k} and ${k}-data exclude each other`);
    if (data) return Buffer.from(data, "base64");
    return f ? readFile(k, f) : undefined;
  };
  const server = str(cluster, "server");
  if (!server) throw fail(`cluster ${JSON.stringify(context.cluster)} has no server`);
  const insecure = cluster["insecure-skip-tls-verify"];
  if (insecure !== undefined && typeof insecure !== "boolean")
    throw fail("insecure-skip-tls-verify must be true or false");
  const token = str(user, "token");
  const tokenFile = str(user, "tokenFile");
  const ca = pem(cluster, "certificate-authority");
  const cert = pem(user, "client-certificate");
  const key = pem(user, "client-key");
  const tlsServerName = str(cluster, "tls-server-name");
  return {
    server,
    ...(ca ? { ca } : {}),
    ...(insecure ? { insecureSkipTLSVerify: true } : {}),
    ...(tlsServerName ? { tlsServerName } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    // A token given inline wins over a file, as in client-go.
    ...(token ? { token } : tokenFile ? { tokenFile: path(tokenFile) } : {}),
  };
}

/**
 * A kubeconfig file's current context. A JSON one (`kubectl config view -o json`; JSON is YAML) is
 * read without the yaml package, ~70 modules a process otherwise keeps; only a YAML one loads it.
 */
export async function kubeconfigFile(file: string): Promise<RestConfig> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new KubeConfigError(`kubeconfig ${file}: ${(err as Error).message}`);
  }
  if (text.trimStart().startsWith("{")) {
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined; // YAML's flow style, not JSON: the yaml package reads it below
    }
    if (json !== undefined) return kubeconfigFromText(text, file, () => json);
  }
  const { parse } = await import("yaml");
  return kubeconfigFromText(text, file, parse);
}

/**
 * The client, configured as client-node's loadKubeConfig was: an explicit file wins; in a pod,
 * in-cluster; else the first file of KUBECONFIG, else ~/.kube/config.
 */
export async function loadRestClient(
  file?: string,
  {
    env = process.env,
    serviceAccountDir = SERVICE_ACCOUNT_DIR,
    ...opts
  }: RestOptions & { env?: NodeJS.ProcessEnv; serviceAccountDir?: string } = {},
): Promise<KubeRest> {
  if (file) return new KubeRest(await kubeconfigFile(file), opts);
  if (env.KUBERNETES_SERVICE_HOST) return new KubeRest(inClusterConfig(env, serviceAccountDir), opts);
  const fromEnv = env.KUBECONFIG?.split(":").find((f) => f !== "");
  return new KubeRest(await kubeconfigFile(fromEnv ?? join(homedir(), ".kube", "config")), opts);
}
