// An informer that does not die. client-node 2.0.1's ListWatch handles two endings itself: 410 Gone
// (it relists) and its own client-side TimeoutError (it re-watches from the last resourceVersion at
// once). Any other error (a 5xx, a refused connection, a failed list) makes it stop for good after
// calling its error handlers (cache.js doneHandler), so it is supervised here: restarted with
// capped, jittered backoff, each restart logged and counted.
//
// What 2.0.1 does with time (checked in dist/watch.js and kubernetes-client/javascript#3020/#3022):
// 2.0.0 aborted every watch 30 s after it started, even a busy one; 2.0.1 turned requestTimeoutMs
// (30 s) into an inactivity timeout, re-armed on every chunk of data, after which ListWatch
// reconnects from the last resourceVersion without backoff. ListWatch has no option for
// allowWatchBookmarks or timeoutSeconds, so the Watch it is given adds both to each watch request
// and stretches the inactivity timeout past the server's bookmark cadence (WATCH_INACTIVITY_MS):
// BOOKMARK events move the resourceVersion forward on quiet resources (a re-watch after
// compaction needs no relist as often) and keep a quiet watch open until the server ends it.
import { Backoff, WATCH_RETRY } from "../base/backoff.ts";
import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from "@kubernetes/client-node";
import type { Logger } from "pino";

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface InformerOptions<T> {
  /**
   * The collection's path, e.g. /api/v1/nodes or /apis/vipkeeper.io/v1alpha1/virtualrouters;
   * or give `resource` (and `namespace`) and it is built.
   */
  path?: string;
  resource?: { group: string; version: string; plural: string };
  /** Only this namespace's objects (with `resource`). */
  namespace?: string;
  /** Lists the collection; it is given the informer's selectors and must apply them. */
  list(opts: ListOptions): Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
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
 * live watch is never cut; a dead connection is noticed within this time. client-node's own 30 s re-opened every quiet watch twice
 * a minute: most of an idle agent's requests.
 */
export const WATCH_INACTIVITY_MS = 180_000;

/** The server ends each watch after 5 to 10 minutes, spread as client-go's reflector spreads them. */
export function watchTimeoutSeconds(random = Math.random()): number {
  return Math.floor(300 * (1 + random));
}

/**
 * A Watch that asks for BOOKMARK events (ListWatch never does) and a server-side timeout, and
 * tells when a watch opens.
 */
class BookmarkWatch extends Watch {
  private readonly opening: () => void;
  constructor(kc: KubeConfig, opening: () => void) {
    super(kc);
    this.opening = opening;
    // A plain field in client-node 2.0.1's Watch (dist/watch.js), private only in its types.
    (this as unknown as { requestTimeoutMs: number }).requestTimeoutMs = WATCH_INACTIVITY_MS;
  }

  override watch(
    path: string,
    queryParams: Parameters<Watch["watch"]>[1],
    callback: Parameters<Watch["watch"]>[2],
    done: Parameters<Watch["watch"]>[3],
  ): Promise<AbortController> {
    this.opening();
    return super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: watchTimeoutSeconds() },
      callback,
      done,
    );
  }
}

/** T is the object as the API sends it (custom objects are plain JSON, so not KubernetesObject). */
export class SupervisedInformer<T> {
  private readonly lw: ListWatch<KubernetesObject>;
  private readonly handlers: Record<Verb, Handler<T>[]> = { add: [], update: [], delete: [] };
  private readonly retry: Backoff;
  private readonly retryCapMs: number;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private lastFailureAt = 0;
  private readonly syncedOnce: Promise<void>;
  private markSynced!: () => void;
  private isSynced = false;
  private readonly opts: InformerOptions<T>;
  readonly path: string;
  /** Restarts after errors; full lists (the first, after 410 Gone, after restarts without a version). */
  restarts = 0;
  lists = 0;
  handlerErrors = 0;

  constructor(kc: KubeConfig, opts: InformerOptions<T>) {
    this.opts = opts;
    this.retryCapMs = opts.maxRestartDelayMs ?? WATCH_RETRY.maxMs;
    this.retry = new Backoff({ firstMs: opts.restartDelayMs ?? WATCH_RETRY.firstMs, maxMs: this.retryCapMs });
    if (!opts.path && !opts.resource) throw new Error("informer: give path or resource");
    this.path = opts.path ?? collectionPath(opts.resource!, opts.namespace);
    this.syncedOnce = new Promise((resolve) => (this.markSynced = resolve));
    const selectors: ListOptions = {
      ...(opts.labelSelector !== undefined ? { labelSelector: opts.labelSelector } : {}),
      ...(opts.fieldSelector !== undefined ? { fieldSelector: opts.fieldSelector } : {}),
    };
    this.lw = new ListWatch<KubernetesObject>(
      this.path,
      // ListWatch fills its cache from a list, then opens the watch: from then on it is synced.
      new BookmarkWatch(kc, () => {
        if (this.lists > 0 && !this.isSynced) this.markSyncedNow();
      }),
      async () => {
        const list = await opts.list(selectors);
        this.lists++;
        this.healthy();
        return list as unknown as KubernetesListObject<KubernetesObject>;
      },
      false,
      opts.labelSelector,
      opts.fieldSelector,
    );
    for (const verb of ["add", "update", "delete"] as const)
      this.lw.on(verb, (obj) => {
        this.healthy();
        for (const h of this.handlers[verb]) {
          // A throwing handler would become an unhandled rejection inside ListWatch.
          try {
            h(obj as T);
          } catch (err) {
            this.handlerErrors++;
            opts.log.error({ path: this.path, verb, err: (err as Error)?.message }, "informer handler threw");
          }
        }
      });
    this.lw.on("error", (err) => this.restart(err));
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
    void this.lw.start().catch((err: unknown) => this.restart(err));
    await this.syncedOnce;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    void this.lw.stop();
  }

  /** "change" is any of add, update and delete; a deleted object is passed as last seen. */
  on(event: Verb | "change", handler: Handler<T>): void {
    for (const verb of event === "change" ? (["add", "update", "delete"] as const) : [event])
      this.handlers[verb].push(handler);
  }

  list(namespace?: string): T[] {
    return this.lw.list(namespace) as T[];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace) as T | undefined;
  }

  /** The resourceVersion the cache is at (moved by events and bookmarks). */
  get resourceVersion(): string {
    return this.lw.latestResourceVersion();
  }

  private markSyncedNow(): void {
    this.isSynced = true;
    this.markSynced();
  }

  private healthy(): void {
    this.retry.reset();
  }

  private restart(err: unknown): void {
    if (this.stopped || this.timer) return;
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
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped) void this.lw.start().catch((e: unknown) => this.restart(e));
    }, delay);
  }
}
