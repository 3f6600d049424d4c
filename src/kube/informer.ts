// An informer that does not die: list, then watch from the list's resourceVersion, on our own REST
// client (rest.ts). A watch the server ends (its timeoutSeconds, a restart) or that goes silent is
// opened again from the last resourceVersion at once; 410 Gone (the version was compacted away)
// lists again; any other failure (a 5xx, a refused connection, a failed list) restarts the same
// way after a capped, jittered backoff, each restart logged and counted. The watch asks for
// BOOKMARK events, which move the resourceVersion forward on quiet resources (a re-watch after
// compaction needs no relist as often) and keep a quiet watch open until the server ends it.
import { Backoff, WATCH_RETRY } from "../base/backoff.ts";
import type { Logger } from "pino";
import { KubeApiError, type KubeRest, type WatchEvent } from "./rest.ts";

export interface InformerOptions {
  /**
   * The collection's path, e.g. /api/v1/nodes or /apis/vipkeeper.io/v1alpha1/virtualrouters;
   * or give `resource` (and `namespace`) and it is built.
   */
  path?: string;
  resource?: { group: string; version: string; plural: string };
  /** Only this namespace's objects (with `resource`). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  log: Logger;
  /** Restart backoff: first delay and cap (WATCH_RETRY: 500 ms and 5 s); each jittered to 50–100 %. */
  restartDelayMs?: number;
  maxRestartDelayMs?: number;
}

/** The collection path for a resource, namespaced or not. */
export function collectionPath(
  r: { group: string; version: string; plural: string },
  namespace?: string,
): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return namespace ? `${base}/namespaces/${namespace}/${r.plural}` : `${base}/${r.plural}`;
}

type Handler<T> = (obj: T) => void;
type Verb = "add" | "update" | "delete";

/**
 * How long a watch may stay silent before it is re-opened. kube-apiserver 1.37 sends a BOOKMARK on
 * a quiet watch that asks for them 2 minutes after it opens, then every minute (seen here), so a
 * live watch is never cut; a dead connection is noticed within this time. (client-node's 30 s
 * re-opened every quiet watch twice a minute: most of an idle agent's requests.)
 */
export const WATCH_INACTIVITY_MS = 180_000;

/** The server ends each watch after 5 to 10 minutes, spread as client-go's reflector spreads them. */
export function watchTimeoutSeconds(random = Math.random()): number {
  return Math.floor(300 * (1 + random));
}

/** A watch that ends this soon with nothing received waits a backoff delay before the next. */
const QUICK_END_MS = 1000;

interface Meta {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

/**
 * managedFields go: nothing in vipkeeper reads them from a cache, and a router carries one entry
 * per agent that writes its status (client-go's informers offer the same trim as a transform).
 */
function strip<O extends Meta>(o: O): O {
  const m = o?.metadata as { managedFields?: unknown } | undefined;
  if (m?.managedFields !== undefined) delete m.managedFields;
  return o;
}

const keyOf = (o: Meta) => `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;

/** T is the object as the API sends it (JSON: times are strings, whatever client-node's types say). */
export class SupervisedInformer<T> {
  private readonly rest: KubeRest;
  private readonly cache = new Map<string, T>();
  private readonly handlers: Record<Verb, Handler<T>[]> = { add: [], update: [], delete: [] };
  private readonly retry: Backoff;
  private readonly retryCapMs: number;
  private readonly selectors: Record<string, string>;
  private stopped = true;
  private running = false;
  private rv = "";
  private watch: { abort(): void } | undefined;
  private sleeping: { timer: NodeJS.Timeout; wake(): void } | undefined;
  private lastFailureAt = 0;
  private readonly syncedOnce: Promise<void>;
  private markSynced!: () => void;
  private isSynced = false;
  private readonly opts: InformerOptions;
  readonly path: string;
  /** Restarts after errors; full lists (the first, after 410 Gone, after restarts without a version). */
  restarts = 0;
  lists = 0;
  handlerErrors = 0;

  constructor(rest: KubeRest, opts: InformerOptions) {
    this.rest = rest;
    this.opts = opts;
    this.retryCapMs = opts.maxRestartDelayMs ?? WATCH_RETRY.maxMs;
    this.retry = new Backoff({ firstMs: opts.restartDelayMs ?? WATCH_RETRY.firstMs, maxMs: this.retryCapMs });
    if (!opts.path && !opts.resource) throw new Error("informer: give path or resource");
    this.path = opts.path ?? collectionPath(opts.resource!, opts.namespace);
    this.syncedOnce = new Promise((resolve) => (this.markSynced = resolve));
    this.selectors = {
      ...(opts.labelSelector !== undefined ? { labelSelector: opts.labelSelector } : {}),
      ...(opts.fieldSelector !== undefined ? { fieldSelector: opts.fieldSelector } : {}),
    };
  }

  /** True once the first list is in the cache. */
  get synced(): boolean {
    return this.isSynced;
  }

  /** client-go's name for `synced`. */
  get hasSynced(): boolean {
    return this.isSynced;
  }

  /** Starts, and resolves once the first list is in the cache. */
  async start(): Promise<void> {
    this.stopped = false;
    if (!this.running) void this.run();
    await this.syncedOnce;
  }

  stop(): void {
    this.stopped = true;
    this.watch?.abort();
    if (this.sleeping) {
      clearTimeout(this.sleeping.timer);
      this.sleeping.wake();
    }
  }

  /** "change" is any of add, update and delete; a deleted object is passed as last seen. */
  on(event: Verb | "change", handler: Handler<T>): void {
    for (const verb of event === "change" ? (["add", "update", "delete"] as const) : [event])
      this.handlers[verb].push(handler);
  }

  list(namespace?: string): T[] {
    const all = [...this.cache.values()];
    return namespace === undefined ? all : all.filter((o) => (o as Meta).metadata?.namespace === namespace);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.cache.get(`${namespace ?? ""}/${name}`);
  }

  /** The resourceVersion the cache is at (moved by events and bookmarks). */
  get resourceVersion(): string {
    return this.rv;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (!this.stopped) {
        try {
          if (!this.rv) await this.relist();
          if (this.stopped) break;
          const opened = performance.now();
          let received = false;
          const handle = this.rest.watch<T & Meta>(
            this.path,
            {
              ...this.selectors,
              resourceVersion: this.rv,
              allowWatchBookmarks: true,
              timeoutSeconds: watchTimeoutSeconds(),
            },
            (e) => {
              received = true;
              this.event(e);
            },
            { inactivityMs: WATCH_INACTIVITY_MS },
          );
          this.watch = handle;
          await handle.done;
          // Ended by the server or gone quiet: open it again from where it was, at once unless it
          // ended as soon as it opened (a server that closes every watch must not make a busy loop).
          if (!received && performance.now() - opened < QUICK_END_MS && !this.stopped)
            await this.sleep(this.retry.next());
        } catch (err) {
          if (this.stopped) break;
          if (err instanceof KubeApiError && err.code === 410) {
            // The version is compacted away: list again (expected, not a failure).
            this.rv = "";
            continue;
          }
          await this.restart(err);
        } finally {
          this.watch = undefined;
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async relist(): Promise<void> {
    const list = await this.rest.list<T & Meta>(this.path, this.selectors);
    this.lists++;
    this.healthy();
    const seen = new Set<string>();
    for (const raw of list.items ?? []) {
      const item = strip(raw);
      const key = keyOf(item);
      seen.add(key);
      this.upsert(key, item);
    }
    for (const [key, old] of [...this.cache])
      if (!seen.has(key)) {
        this.cache.delete(key);
        this.emit("delete", old);
      }
    this.rv = list.metadata?.resourceVersion ?? "";
    if (!this.isSynced) {
      this.isSynced = true;
      this.markSynced();
    }
  }

  private event(e: WatchEvent<T & Meta>): void {
    this.healthy();
    const obj = strip(e.object);
    const rv = obj?.metadata?.resourceVersion;
    if (e.type === "ADDED" || e.type === "MODIFIED") this.upsert(keyOf(obj), obj);
    else if (e.type === "DELETED") {
      const key = keyOf(obj);
      if (this.cache.delete(key)) this.emit("delete", obj);
    }
    // BOOKMARK: only its version, which is the point of it.
    if (rv) this.rv = rv;
  }

  /** Add, or update when the version differs (a relist that finds it unchanged says nothing). */
  private upsert(key: string, obj: T & Meta): void {
    const old = this.cache.get(key) as Meta | undefined;
    this.cache.set(key, obj);
    if (!old) this.emit("add", obj);
    else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit("update", obj);
  }

  private emit(verb: Verb, obj: T): void {
    for (const h of this.handlers[verb]) {
      // A throwing handler must not end the watch: it is logged and counted.
      try {
        h(obj);
      } catch (err) {
        this.handlerErrors++;
        this.opts.log.error(
          { path: this.path, verb, err: (err as Error)?.message },
          "informer handler threw",
        );
      }
    }
  }

  private healthy(): void {
    this.retry.reset();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.sleeping = undefined;
        resolve();
      }, ms);
      this.sleeping = {
        timer,
        wake: () => {
          this.sleeping = undefined;
          resolve();
        },
      };
    });
  }

  private async restart(err: unknown): Promise<void> {
    this.restarts++;
    // A failure long after the last one starts the backoff over (quiet resources send no events).
    const now = performance.now();
    if (now - this.lastFailureAt > 2 * this.retryCapMs) this.retry.reset();
    this.lastFailureAt = now;
    const delay = this.retry.next();
    this.opts.log.warn(
      {
        path: this.path,
        err: (err as Error)?.message ?? String(err),
        restarts: this.restarts,
        retryInMs: delay,
      },
      "list/watch failed; restarting",
    );
    await this.sleep(delay);
  }
}

/**
 * Calls `changed` on adds, deletes, and those updates that change `project(object)` (compared as
 * JSON): what a consumer reads of an object, where most updates change something else (status
 * written by others, heartbeats).
 */
export function onChangeOf<T extends Meta>(
  informer: SupervisedInformer<T>,
  project: (o: T) => unknown,
  changed: () => void,
): void {
  const seen = new Map<string, string>();
  informer.on("add", (o) => {
    seen.set(keyOf(o), JSON.stringify(project(o)));
    changed();
  });
  informer.on("update", (o) => {
    const json = JSON.stringify(project(o));
    if (seen.get(keyOf(o)) === json) return;
    seen.set(keyOf(o), json);
    changed();
  });
  informer.on("delete", (o) => {
    seen.delete(keyOf(o));
    changed();
  });
}
