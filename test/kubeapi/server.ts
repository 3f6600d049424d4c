// An in-process Kubernetes API server for tests: @kubernetes/client-node talks to it unchanged over
// HTTP. It keeps the semantics vipkeeper relies on, as the Kubernetes API documents them:
// - resourceVersion: one counter for every write; list returns it; watch replays history after a
//   given version, answers a compacted one with an ERROR event carrying 410 Gone, and sends
//   BOOKMARKs when asked; selectors filter lists and watches.
// - update (PUT) with a stale resourceVersion is 409 Conflict; generation counts spec changes.
// - the status subresource: /status writes change only status, the main resource ignores status.
// - patches: merge patch (RFC 7386), JSON patch (RFC 6902), server-side apply with field managers,
//   conflicts (409 unless force) and list-map merge by the schema's keys; strategic merge patch on
//   built-ins (lists merged by the API types' patchMergeKey, strategic-merge.ts), refused for
//   custom resources (415), as the real server does.
// - finalizers: delete sets deletionTimestamp; the object goes when its last finalizer does.
// - custom resources are defaulted, pruned and validated against their CRD (schema.ts).
// Not modelled: namespaces' lifecycle, garbage collection by ownerReferences, pagination (limit
// and continue are ignored: every list is complete), admission webhooks, authentication.
import { strategicMergePatch } from "./strategic-merge.ts";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeRest } from "../../src/kube/rest.ts";
import { parse as parseYaml } from "yaml";
import { fieldsOf, matches, parseSelector, SelectorError } from "./selectors.ts";
import { applyDefaults, prune, validate, type Cause, type Schema } from "./schema.ts";
import { applyFields, type ManagedFields } from "./apply.ts";
import { ApiError } from "./errors.ts";

export { ApiError };

type Obj = Record<string, any>;

export interface Resource {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  status: boolean;
  custom: boolean;
  schema?: Schema;
}

const BUILTIN: Omit<Resource, "custom">[] = [
  { group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false, status: true },
  { group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false, status: true },
  { group: "", version: "v1", plural: "pods", kind: "Pod", namespaced: true, status: true },
  { group: "", version: "v1", plural: "services", kind: "Service", namespaced: true, status: true },
  { group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true, status: false },
  { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true, status: false },
  { group: "", version: "v1", plural: "events", kind: "Event", namespaced: true, status: false },
  {
    group: "",
    version: "v1",
    plural: "serviceaccounts",
    kind: "ServiceAccount",
    namespaced: true,
    status: false,
  },
  { group: "apps", version: "v1", plural: "daemonsets", kind: "DaemonSet", namespaced: true, status: true },
  { group: "apps", version: "v1", plural: "deployments", kind: "Deployment", namespaced: true, status: true },
  {
    group: "coordination.k8s.io",
    version: "v1",
    plural: "leases",
    kind: "Lease",
    namespaced: true,
    status: false,
  },
  {
    group: "discovery.k8s.io",
    version: "v1",
    plural: "endpointslices",
    kind: "EndpointSlice",
    namespaced: true,
    status: false,
  },
  { group: "events.k8s.io", version: "v1", plural: "events", kind: "Event", namespaced: true, status: false },
];

interface Change {
  rv: number;
  type: "ADDED" | "MODIFIED" | "DELETED";
  resource: Resource;
  object: Obj;
}

interface Watcher {
  resource: Resource;
  namespace?: string;
  labels: ReturnType<typeof parseSelector>;
  fields: ReturnType<typeof parseSelector>;
  res: ServerResponse;
}

export interface ApiServerOptions {
  crds?: Obj[];
  /** How many changes the server remembers for watches (older versions get 410 Gone). */
  historyLimit?: number;
  /** BOOKMARK cadence on watches that ask (60 s, as kube-apiserver 1.37 sends them once going). */
  bookmarkIntervalMs?: number;
}

export class ApiServer {
  readonly resources: Resource[];
  /** The query of every watch opened, for tests of what clients ask for. */
  readonly watchQueries: string[] = [];
  private readonly objects = new Map<string, Obj>();
  private history: Change[] = [];
  private compactedRv = 0;
  private rv = 1;
  private readonly watchers = new Set<Watcher>();
  private server: Server | undefined;
  private unavailable = false;
  /** Warnings of the request being handled (Warning headers, RFC 7234 form as the server sends). */
  private warnings: string[] = [];
  private readonly opts: ApiServerOptions;
  private readonly clients: KubeRest[] = [];
  url = "";

  constructor(opts: ApiServerOptions = {}) {
    this.opts = opts;
    this.resources = [
      ...BUILTIN.map((r) => ({ ...r, custom: false })),
      ...(opts.crds ?? []).flatMap(fromCrd),
    ];
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const addr = this.server.address() as { port: number };
    this.url = `http://127.0.0.1:${addr.port}`;
    return this;
  }

  get port(): number {
    return Number(new URL(this.url).port);
  }

  async close(): Promise<void> {
    for (const c of this.clients.splice(0)) c.close();
    this.cutWatches();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "test", server: this.url, skipTLSVerify: true }],
      users: [{ name: "test" }],
      contexts: [{ name: "test", cluster: "test", user: "test" }],
      currentContext: "test",
    });
    return kc;
  }

  /** vipkeeper's own REST client for this server (closed with the server). */
  rest(): KubeRest {
    const rest = new KubeRest({ server: this.url });
    this.clients.push(rest);
    return rest;
  }

  /** The kubeconfig file content, for processes (agents) that read one. */
  kubeConfigYaml(server = this.url): string {
    return `apiVersion: v1\nkind: Config\nclusters: [{name: test, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]\nusers: [{name: test, user: {}}]\ncontexts: [{name: test, context: {cluster: test, user: test}}]\ncurrent-context: test\n`;
  }

  /** Forgets history: watches from older versions get 410 Gone. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history = [];
  }

  /** Ends every open watch, as an API server restart would. */
  cutWatches(): void {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  /** While true, every request gets 503 and open watches are cut. */
  setUnavailable(on: boolean): void {
    this.unavailable = on;
    if (on) this.cutWatches();
  }

  /** Direct access for tests: the stored object, as a GET would return it. */
  peek(plural: string, name: string, namespace?: string): Obj | undefined {
    const r = this.resources.find((x) => x.plural === plural);
    const o = r && this.objects.get(key(r, namespace, name));
    return o && structuredClone(o);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (this.unavailable)
        throw new ApiError(503, "ServiceUnavailable", "the server is currently unable to handle the request");
      const url = new URL(req.url ?? "/", "http://x");
      const body = await readBody(req);
      this.warnings = []; // handling is synchronous from here to the response
      const discovery = this.discovery(url.pathname);
      if (discovery) return send(res, 200, discovery);
      const route = this.route(url.pathname);
      if (!route)
        throw new ApiError(
          404,
          "NotFound",
          `the server could not find the requested resource (${url.pathname})`,
        );
      const { resource, namespace, name, sub } = route;
      const q = url.searchParams;
      switch (req.method ?? "") {
        case "GET":
          if (name) return send(res, 200, this.get(resource, namespace, name));
          if (q.get("watch") === "true" || q.get("watch") === "1")
            return this.watch(resource, namespace, q, res);
          return send(res, 200, this.list(resource, namespace, q));
        case "POST":
          return send(res, 201, this.create(resource, namespace, parseJson(body), q), this.warnings);
        case "PUT":
          return send(
            res,
            200,
            this.update(resource, namespace, name!, parseJson(body), sub === "status", q),
            this.warnings,
          );
        case "PATCH":
          return send(
            res,
            200,
            this.patch(
              resource,
              namespace,
              name!,
              body,
              req.headers["content-type"] ?? "",
              sub === "status",
              q,
            ),
            this.warnings,
          );
        case "DELETE":
          return send(res, 200, this.delete(resource, namespace, name!));
        default:
          break;
      }
      throw new ApiError(405, "MethodNotAllowed", `${req.method} is not supported`);
    } catch (err) {
      const e =
        err instanceof ApiError
          ? err
          : err instanceof SelectorError
            ? new ApiError(400, "BadRequest", err.message)
            : new ApiError(500, "InternalError", (err as Error).message);
      if (!res.headersSent)
        send(res, e.code, {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          message: e.message,
          reason: e.reason,
          code: e.code,
          ...(e.causes.length || e.details
            ? {
                details: {
                  ...e.details,
                  ...(e.causes.length
                    ? {
                        causes: e.causes.map((c) => ({
                          reason: causeReason(c.message),
                          field: c.field,
                          message: c.message,
                        })),
                      }
                    : {}),
                },
              }
            : {}),
        });
      else res.end();
    }
  }

  private discovery(path: string): Obj | undefined {
    if (path === "/api") return { kind: "APIVersions", versions: ["v1"] };
    if (path === "/apis") {
      const groups = [
        ...new Set(this.resources.filter((r) => r.group).map((r) => `${r.group}/${r.version}`)),
      ];
      return {
        kind: "APIGroupList",
        groups: groups.map((gv) => {
          const [g, v] = gv.split("/");
          return {
            name: g,
            versions: [{ groupVersion: gv, version: v }],
            preferredVersion: { groupVersion: gv, version: v },
          };
        }),
      };
    }
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
    if (!m) return undefined;
    const group = m[2] ?? "";
    const version = m[1] ?? m[3]!;
    return {
      kind: "APIResourceList",
      groupVersion: group ? `${group}/${version}` : version,
      resources: this.resources
        .filter((r) => r.group === group && r.version === version)
        .flatMap((r) => [
          {
            name: r.plural,
            namespaced: r.namespaced,
            kind: r.kind,
            verbs: ["create", "delete", "get", "list", "patch", "update", "watch"],
          },
          ...(r.status
            ? [
                {
                  name: `${r.plural}/status`,
                  namespaced: r.namespaced,
                  kind: r.kind,
                  verbs: ["get", "patch", "update"],
                },
              ]
            : []),
        ]),
    };
  }

  private route(path: string) {
    // The Namespace object itself: /api/v1/namespaces/NAME[/status].
    const nsObj = /^\/api\/v1\/namespaces\/([^/]+)(?:\/(status))?$/.exec(path);
    const m = nsObj
      ? null
      : /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/(status))?$/.exec(
          path,
        );
    const [group, version, namespace, plural, name, sub] = nsObj
      ? ["", "v1", undefined, "namespaces", nsObj[1], nsObj[2]]
      : m
        ? [m[2] ?? "", m[1] ?? m[3]!, m[4], m[5]!, m[6], m[7]]
        : [];
    if (plural === undefined) return undefined;
    const resource = this.resources.find(
      (r) => r.group === group && r.version === version && r.plural === plural,
    );
    if (!resource) return undefined;
    return { resource, namespace: resource.namespaced ? namespace : undefined, name, sub };
  }

  private get(r: Resource, ns: string | undefined, name: string): Obj {
    const o = this.objects.get(key(r, ns, name));
    if (!o) throw notFound(r, name);
    return o;
  }

  private list(r: Resource, ns: string | undefined, q: URLSearchParams): Obj {
    const labels = parseSelector(q.get("labelSelector"));
    const fields = parseSelector(q.get("fieldSelector"));
    const items = [...this.objects.values()].filter((o) => this.selected(r, o, ns, labels, fields));
    return {
      kind: `${r.kind}List`,
      apiVersion: r.group ? `${r.group}/${r.version}` : r.version,
      metadata: { resourceVersion: String(this.rv) },
      items,
    };
  }

  private selected(
    r: Resource,
    o: Obj,
    ns: string | undefined,
    labels: ReturnType<typeof parseSelector>,
    fields: ReturnType<typeof parseSelector>,
  ): boolean {
    if (o.__resource !== r) return false;
    if (ns !== undefined && o.metadata.namespace !== ns) return false;
    return matches(o.metadata.labels, labels) && matches(fieldsOf(o), fields);
  }

  private watch(r: Resource, ns: string | undefined, q: URLSearchParams, res: ServerResponse): void {
    const w: Watcher = {
      resource: r,
      ...(ns !== undefined ? { namespace: ns } : {}),
      labels: parseSelector(q.get("labelSelector")),
      fields: parseSelector(q.get("fieldSelector")),
      res,
    };
    this.watchQueries.push(q.toString());
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    res.flushHeaders();
    const from = q.get("resourceVersion");
    if (from && from !== "0" && Number(from) < this.compactedRv) {
      res.end(
        JSON.stringify({
          type: "ERROR",
          object: {
            kind: "Status",
            apiVersion: "v1",
            status: "Failure",
            reason: "Expired",
            code: 410,
            message: `too old resource version: ${from} (${this.compactedRv})`,
          },
        }) + "\n",
      );
      return;
    }
    if (!from || from === "0") {
      for (const o of this.objects.values())
        if (this.selected(r, o, ns, w.labels, w.fields)) writeEvent(res, "ADDED", o);
    } else for (const c of this.history) if (c.rv > Number(from) && c.resource === r) this.deliver(w, c);
    this.watchers.add(w);
    const timeout = Number(q.get("timeoutSeconds") ?? 0);
    const timers: NodeJS.Timeout[] = [];
    if (timeout > 0) timers.push(setTimeout(() => res.end(), timeout * 1000));
    if (q.get("allowWatchBookmarks") === "true")
      timers.push(
        setInterval(() => {
          res.write(
            JSON.stringify({
              type: "BOOKMARK",
              object: {
                kind: r.kind,
                apiVersion: r.group ? `${r.group}/${r.version}` : r.version,
                metadata: { resourceVersion: String(this.rv) },
              },
            }) + "\n",
          );
        }, this.opts.bookmarkIntervalMs ?? 60_000),
      );
    res.on("close", () => {
      timers.forEach((t) => clearTimeout(t));
      this.watchers.delete(w);
    });
  }

  /** A change to one watcher: an object that stops matching its selector is sent as DELETED. */
  private deliver(w: Watcher, c: Change, before?: Obj): void {
    if (c.resource !== w.resource) return;
    const now = this.selected(w.resource, c.object, w.namespace, w.labels, w.fields);
    const was = before ? this.selected(w.resource, before, w.namespace, w.labels, w.fields) : false;
    if (c.type === "MODIFIED" && !now && was) writeEvent(w.res, "DELETED", c.object);
    else if (c.type === "MODIFIED" && now && before && !was) writeEvent(w.res, "ADDED", c.object);
    else if (now) writeEvent(w.res, c.type, c.object);
  }

  private record(type: Change["type"], r: Resource, object: Obj, before?: Obj): void {
    const c: Change = {
      rv: Number(object.metadata.resourceVersion),
      type,
      resource: r,
      object: structuredClone(object),
    };
    Object.defineProperty(c.object, "__resource", { value: r, enumerable: false });
    this.history.push(c);
    const limit = this.opts.historyLimit ?? 10_000;
    if (this.history.length > limit)
      this.compactedRv = this.history.splice(0, this.history.length - limit).at(-1)!.rv;
    for (const w of this.watchers) this.deliver(w, c, before);
  }

  private store(r: Resource, o: Obj): Obj {
    Object.defineProperty(o, "__resource", { value: r, enumerable: false, configurable: true });
    this.objects.set(key(r, o.metadata.namespace, o.metadata.name), o);
    return o;
  }

  private admit(r: Resource, o: Obj, old: Obj | undefined, q: URLSearchParams): void {
    o.apiVersion = r.group ? `${r.group}/${r.version}` : r.version;
    o.kind = r.kind;
    // The real server labels every Namespace with its own name (so selectors can name namespaces).
    if (r.plural === "namespaces" && !r.group)
      o.metadata.labels = { ...o.metadata.labels, "kubernetes.io/metadata.name": o.metadata.name };
    if (!r.custom) checkMicroTimes(r, o);
    if (!r.custom || !r.schema) return;
    const unknown = prune(
      o,
      {
        ...r.schema,
        properties: {
          ...r.schema.properties,
          metadata: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
          apiVersion: { type: "string" },
          kind: { type: "string" },
        },
      },
      "",
    );
    // api-concepts, Field validation: Strict refuses with 400; Warn (the default) and Ignore
    // prune, and Warn says so in a Warning header.
    const mode = q.get("fieldValidation") ?? "Warn";
    if (unknown.length && mode === "Strict")
      throw new ApiError(
        400,
        "BadRequest",
        `strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(", ")}`,
      );
    if (mode === "Warn") for (const f of unknown) this.warnings.push(`unknown field "${f}"`);
    applyDefaults(o, r.schema);
    const { metadata: _m, apiVersion: _a, kind: _k, ...rest } = o;
    const oldRest = old ? (({ metadata: _x, apiVersion: _y, kind: _z, ...x }) => x)(old) : undefined;
    const causes = validate(rest, { ...r.schema, properties: r.schema.properties ?? {} }, "", oldRest);
    if (causes.length) throw invalid(r, o.metadata.name, causes);
  }

  private create(
    r: Resource,
    ns: string | undefined,
    o: Obj,
    q: URLSearchParams,
    fieldManager?: string,
  ): Obj {
    o.metadata ??= {};
    if (!o.metadata.name && o.metadata.generateName)
      o.metadata.name = `${o.metadata.generateName}${Math.random().toString(36).slice(2, 7)}`;
    if (!o.metadata.name)
      throw new ApiError(422, "Invalid", `${r.kind} is invalid: metadata.name: Required value`, [
        { field: "metadata.name", message: "Required value" },
      ]);
    if (r.namespaced) o.metadata.namespace = ns ?? o.metadata.namespace ?? "default";
    else delete o.metadata.namespace;
    if (this.objects.has(key(r, o.metadata.namespace, o.metadata.name)))
      throw new ApiError(
        409,
        "AlreadyExists",
        `${r.plural}${r.group ? `.${r.group}` : ""} "${o.metadata.name}" already exists`,
        [],
        { name: o.metadata.name, kind: r.plural, ...(r.group ? { group: r.group } : {}) },
      );
    this.admit(r, o, undefined, q);
    if (r.status && r.custom) delete o.status;
    o.metadata.uid = crypto.randomUUID();
    o.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
    o.metadata.generation = 1;
    o.metadata.resourceVersion = String(++this.rv);
    delete o.metadata.deletionTimestamp;
    if (fieldManager) o.metadata.managedFields ??= [];
    this.store(r, o);
    this.record("ADDED", r, o);
    return o;
  }

  private update(
    r: Resource,
    ns: string | undefined,
    name: string,
    o: Obj,
    status: boolean,
    q: URLSearchParams,
  ): Obj {
    const cur = this.get(r, ns, name);
    const rv = o.metadata?.resourceVersion;
    if (rv !== undefined && rv !== cur.metadata.resourceVersion)
      throw new ApiError(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${r.plural}${r.group ? `.${r.group}` : ""} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    if (rv === undefined && r.custom)
      throw new ApiError(
        422,
        "Invalid",
        `${r.kind} "${name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be specified for an update`,
        [{ field: "metadata.resourceVersion", message: "must be specified for an update" }],
      );
    return this.commit(r, cur, o, status, q);
  }

  /** Replaces `cur` by `next` with the subresource and finalizer rules. */
  private commit(r: Resource, cur: Obj, next: Obj, status: boolean, q: URLSearchParams): Obj {
    const merged: Obj = structuredClone(next);
    merged.metadata = {
      ...(status
        ? { ...cur.metadata, managedFields: next.metadata?.managedFields ?? cur.metadata.managedFields }
        : merged.metadata),
      uid: cur.metadata.uid,
      creationTimestamp: cur.metadata.creationTimestamp,
      name: cur.metadata.name,
      ...(cur.metadata.namespace ? { namespace: cur.metadata.namespace } : {}),
    };
    if (r.status) {
      if (status) {
        for (const k of Object.keys(merged)) if (k !== "status" && k !== "metadata") delete merged[k];
        for (const [k, v] of Object.entries(cur))
          if (k !== "status" && k !== "metadata") merged[k] = structuredClone(v);
      } else merged.status = structuredClone(cur.status);
      if (merged.status === undefined) delete merged.status;
    }
    if (cur.metadata.deletionTimestamp) {
      merged.metadata.deletionTimestamp = cur.metadata.deletionTimestamp;
      const added = (merged.metadata.finalizers ?? []).filter(
        (f: string) => !(cur.metadata.finalizers ?? []).includes(f),
      );
      if (added.length)
        throw new ApiError(
          422,
          "Forbidden",
          `${r.kind} "${cur.metadata.name}" is invalid: metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted`,
        );
    }
    this.admit(r, merged, cur, q);
    const specChanged = JSON.stringify(withoutMetaStatus(merged)) !== JSON.stringify(withoutMetaStatus(cur));
    merged.metadata.generation = (cur.metadata.generation ?? 1) + (specChanged && r.custom ? 1 : 0);
    const same =
      JSON.stringify({ ...merged, metadata: { ...merged.metadata, resourceVersion: "" } }) ===
      JSON.stringify({ ...cur, metadata: { ...cur.metadata, resourceVersion: "" } });
    if (same) return cur; // a no-op write does not bump resourceVersion
    merged.metadata.resourceVersion = String(++this.rv);
    if (merged.metadata.deletionTimestamp && !(merged.metadata.finalizers ?? []).length) {
      this.objects.delete(key(r, cur.metadata.namespace, cur.metadata.name));
      this.record("DELETED", r, merged, cur);
      return merged;
    }
    this.store(r, merged);
    this.record("MODIFIED", r, merged, cur);
    return merged;
  }

  private patch(
    r: Resource,
    ns: string | undefined,
    name: string,
    body: string,
    type: string,
    status: boolean,
    q: URLSearchParams,
  ): Obj {
    const ct = type.split(";")[0]!.trim();
    if (ct === "application/apply-patch+yaml")
      return this.apply(r, ns, name, parseYaml(body) as Obj, status, q);
    const cur = this.get(r, ns, name);
    let next: Obj;
    if (ct === "application/merge-patch+json") {
      const p = parseJson(body);
      const rv = p.metadata?.resourceVersion;
      if (rv !== undefined && rv !== cur.metadata.resourceVersion)
        throw new ApiError(
          409,
          "Conflict",
          `Operation cannot be fulfilled on ${r.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
        );
      next = mergePatch(structuredClone(cur), p) as Obj;
    } else if (ct === "application/json-patch+json") {
      const ops = JSON.parse(body) as unknown;
      if (!Array.isArray(ops))
        throw new ApiError(
          400,
          "BadRequest",
          "json: cannot unmarshal object into Go value of type jsonpatch.Patch",
        );
      next = jsonPatch(structuredClone(cur), ops as Obj[]);
    } else if (ct === "application/strategic-merge-patch+json") {
      if (r.custom)
        throw new ApiError(
          415,
          "UnsupportedMediaType",
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
        );
      next = strategicMergePatch(r.kind, structuredClone(cur), parseJson(body)) as Obj;
    } else throw new ApiError(415, "UnsupportedMediaType", `unsupported patch type ${ct}`);
    next.metadata.resourceVersion = cur.metadata.resourceVersion;
    return this.commit(r, cur, next, status, q);
  }

  private apply(
    r: Resource,
    ns: string | undefined,
    name: string,
    applied: Obj,
    status: boolean,
    q: URLSearchParams,
  ): Obj {
    const manager = q.get("fieldManager");
    if (!manager)
      throw new ApiError(
        422,
        "Invalid",
        "PATCH is invalid: fieldManager: Required value: is required for apply patch",
        [{ field: "fieldManager", message: "Required value" }],
      );
    const force = q.get("force") === "true";
    const existing = this.objects.get(key(r, ns, name));
    const cur: Obj = existing
      ? structuredClone(existing)
      : {
          apiVersion: applied.apiVersion,
          kind: applied.kind,
          metadata: { name, ...(ns ? { namespace: ns } : {}) },
        };
    const scope = (o: Obj) =>
      status
        ? { status: o.status }
        : (({ status: _s, metadata, ...x }) => ({
            ...x,
            metadata: {
              labels: metadata?.labels,
              annotations: metadata?.annotations,
              finalizers: metadata?.finalizers,
            },
          }))(o);
    const managed: ManagedFields = cur.metadata.managedFields ?? [];
    const { object, fields } = applyFields(
      scope(cur),
      scope(applied),
      managed,
      manager,
      status ? "status" : "",
      force,
      r.schema,
    );
    const next: Obj = structuredClone(cur);
    if (status) next.status = object.status;
    else {
      for (const [k, v] of Object.entries(object)) if (k !== "metadata") next[k] = v;
      for (const k of Object.keys(next))
        if (!(k in object) && !["metadata", "status", "apiVersion", "kind"].includes(k)) delete next[k];
      for (const m of ["labels", "annotations", "finalizers"]) {
        if (object.metadata?.[m] !== undefined) next.metadata[m] = object.metadata[m];
        else delete next.metadata[m];
      }
    }
    next.metadata.managedFields = fields;
    if (!existing) {
      if (status) throw notFound(r, name);
      delete next.metadata.resourceVersion;
      return this.create(r, ns, next, q, manager);
    }
    next.metadata.resourceVersion = cur.metadata.resourceVersion;
    return this.commit(r, existing, next, status, q);
  }

  private delete(r: Resource, ns: string | undefined, name: string): Obj {
    const cur = this.get(r, ns, name);
    if ((cur.metadata.finalizers ?? []).length > 0) {
      if (cur.metadata.deletionTimestamp) return cur;
      const next = structuredClone(cur);
      next.metadata.deletionTimestamp = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
      next.metadata.deletionGracePeriodSeconds = 0;
      next.metadata.resourceVersion = String(++this.rv);
      this.store(r, next);
      this.record("MODIFIED", r, next, cur);
      return next;
    }
    this.objects.delete(key(r, cur.metadata.namespace, name));
    const gone = {
      ...structuredClone(cur),
      metadata: { ...cur.metadata, resourceVersion: String(++this.rv) },
    };
    this.record("DELETED", r, gone, cur);
    return { kind: "Status", apiVersion: "v1", status: "Success", details: { name, kind: r.plural } };
  }
}

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  return new ApiServer(opts).start();
}

function fromCrd(crd: Obj): Resource[] {
  const spec = crd.spec;
  return (spec.versions as Obj[])
    .filter((v) => v.served !== false)
    .map((v) => ({
      group: spec.group,
      version: v.name,
      plural: spec.names.plural,
      kind: spec.names.kind,
      namespaced: spec.scope === "Namespaced",
      status: !!v.subresources?.status,
      custom: true,
      schema: v.schema?.openAPIV3Schema,
    }));
}

const key = (r: Resource, ns: string | undefined, name: string) =>
  `${r.group}/${r.plural}/${ns ?? ""}/${name}`;

function notFound(r: Resource, name: string): ApiError {
  return new ApiError(404, "NotFound", `${r.plural}${r.group ? `.${r.group}` : ""} "${name}" not found`);
}

function invalid(r: Resource, name: string, causes: Cause[]): ApiError {
  // As field.ErrorList.ToAggregate() prints: one error bare, several in brackets.
  const list = causes.map((c) => `${c.field}: ${c.message}`);
  return new ApiError(
    422,
    "Invalid",
    `${r.kind}.${r.group} "${name}" is invalid: ${list.length === 1 ? list[0] : `[${list.join(", ")}]`}`,
    causes,
    { name, group: r.group, kind: r.kind },
  );
}

/** metav1.MicroTime fields of the built-ins: Go parses them with exactly six fractional digits. */
const MICRO_TIMES: Record<string, string[]> = {
  "coordination.k8s.io/Lease": ["spec.renewTime", "spec.acquireTime"],
  "/Event": ["eventTime", "series.lastObservedTime"],
  "events.k8s.io/Event": ["eventTime", "series.lastObservedTime"],
};
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/;

/** As kube-apiserver decodes a MicroTime: anything but six fractional digits is a 400. */
function checkMicroTimes(r: Resource, o: Obj): void {
  for (const path of MICRO_TIMES[`${r.group}/${r.kind}`] ?? []) {
    const v = path.split(".").reduce<unknown>((x, k) => (x as Record<string, unknown> | undefined)?.[k], o);
    if (v === undefined || v === null || (typeof v === "string" && MICRO_TIME.test(v))) continue;
    throw new ApiError(
      400,
      "BadRequest",
      `${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: parsing time ${JSON.stringify(v)} as "2006-01-02T15:04:05.000000Z07:00": cannot parse as MicroTime`,
    );
  }
}

/** A cause's reason, by its message (k8s.io/apimachinery's field.ErrorType). */
function causeReason(message: string): string {
  const kinds: [string, string][] = [
    ["Required value", "FieldValueRequired"],
    ["Unsupported value", "FieldValueNotSupported"],
    ["Duplicate value", "FieldValueDuplicate"],
    ["Too long", "FieldValueTooLong"],
    ["Too many", "FieldValueTooMany"],
    ["Forbidden", "FieldValueForbidden"],
    ["Not found", "FieldValueNotFound"],
  ];
  return kinds.find(([prefix]) => message.startsWith(prefix))?.[1] ?? "FieldValueInvalid";
}

function withoutMetaStatus(o: Obj): Obj {
  const { metadata: _m, status: _s, ...rest } = o;
  return rest;
}

function send(res: ServerResponse, code: number, body: unknown, warnings: readonly string[] = []): void {
  const headers: Record<string, string | string[]> = { "content-type": "application/json" };
  if (warnings.length) headers.warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`);
  res.writeHead(code, headers).end(JSON.stringify(body));
}

function writeEvent(res: ServerResponse, type: string, object: Obj): void {
  res.write(JSON.stringify({ type, object }) + "\n");
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    req.on("data", (c) => (data += c));
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}

function parseJson(body: string): Obj {
  try {
    return JSON.parse(body) as Obj;
  } catch {
    throw new ApiError(400, "BadRequest", "the body of the request is not valid JSON");
  }
}

/** RFC 7386. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return structuredClone(patch);
  const out: Obj =
    typeof target === "object" && target !== null && !Array.isArray(target) ? { ...(target as Obj) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** RFC 6902 (add, remove, replace, test, copy, move). */
export function jsonPatch(doc: Obj, ops: Obj[]): Obj {
  const parts = (p: string) =>
    p
      .split("/")
      .slice(1)
      .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  const parent = (p: string): [Obj, string] => {
    const ks = parts(p);
    let cur: Obj = doc;
    for (const k of ks.slice(0, -1)) {
      cur = cur[k];
      if (cur === undefined) throw new ApiError(422, "Invalid", `jsonpatch: path ${p} does not exist`);
    }
    return [cur, ks.at(-1)!];
  };
  const getAt = (p: string) => parts(p).reduce<unknown>((c, k) => (c as Obj | undefined)?.[k], doc);
  for (const op of ops) {
    const [obj, k] = parent(op.path);
    switch (op.op) {
      case "add":
        if (Array.isArray(obj)) obj.splice(k === "-" ? obj.length : Number(k), 0, structuredClone(op.value));
        else obj[k] = structuredClone(op.value);
        break;
      case "remove":
        if (!(k in obj))
          throw new ApiError(
            422,
            "Invalid",
            `jsonpatch remove operation does not apply: doc is missing path: ${op.path}`,
          );
        if (Array.isArray(obj)) obj.splice(Number(k), 1);
        else delete obj[k];
        break;
      case "replace":
        if (!(k in obj))
          throw new ApiError(
            422,
            "Invalid",
            `jsonpatch replace operation does not apply: doc is missing key: ${op.path}`,
          );
        obj[k] = structuredClone(op.value);
        break;
      case "test":
        if (JSON.stringify(getAt(op.path)) !== JSON.stringify(op.value))
          throw new ApiError(
            422,
            "Invalid",
            `the server rejected our request due to an error in our request: testing value ${op.path} failed`,
          );
        break;
      case "copy":
      case "move": {
        const v = structuredClone(getAt(op.from));
        if (op.op === "move") {
          const [o2, k2] = parent(op.from);
          if (Array.isArray(o2)) o2.splice(Number(k2), 1);
          else delete o2[k2];
        }
        if (Array.isArray(obj)) obj.splice(k === "-" ? obj.length : Number(k), 0, v);
        else obj[k] = v;
        break;
      }
      default:
        throw new ApiError(400, "BadRequest", `unknown json patch op ${op.op}`);
    }
  }
  return doc;
}
