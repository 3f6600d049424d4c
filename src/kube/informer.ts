// An informer that does not die: client-node's ListWatch stops for good on any error but 410 Gone
// and its own timeout (cache.js doneHandler), so it is supervised here and restarted with capped,
// jittered backoff. 2.0.1 aborts a watch after 30 s without data (an inactivity timeout) and
// reconnects at once from the last resourceVersion, which is harmless.
import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from "@kubernetes/client-node";
import type { Logger } from "pino";

export interface InformerOptions<T> {
  /** The watch path, e.g. /api/v1/nodes or /apis/vipkeeper.io/v1alpha1/virtualrouters. */
  path: string;
  list(): Promise<{ items: T[]; metadata?: { resourceVersion?: string } }>;
  labelSelector?: string;
  fieldSelector?: string;
  log: Logger;
}

type Handler<T> = (obj: T | undefined) => void;

/** T is the object as the API sends it (custom objects are plain JSON, so not KubernetesObject). */
export class SupervisedInformer<T> {
  private readonly lw: ListWatch<KubernetesObject>;
  private readonly handlers: Handler<T>[] = [];
  private delayMs = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private syncedOnce: Promise<void>;
  private markSynced!: () => void;
  /** Restarts after errors (for tests and metrics). */
  restarts = 0;
  private readonly opts: InformerOptions<T>;

  constructor(kc: KubeConfig, opts: InformerOptions<T>) {
    this.opts = opts;
    this.syncedOnce = new Promise((resolve) => (this.markSynced = resolve));
    this.lw = new ListWatch<KubernetesObject>(
      opts.path,
      new Watch(kc),
      async () => {
        const list = await opts.list();
        this.delayMs = 0;
        queueMicrotask(() => this.markSynced());
        return list as unknown as KubernetesListObject<KubernetesObject>;
      },
      false,
      opts.labelSelector,
      opts.fieldSelector,
    );
    for (const verb of ["add", "update", "delete"] as const)
      this.lw.on(verb, (obj) => this.handlers.forEach((h) => h(obj as T)));
    this.lw.on("error", (err) => this.restart(err));
  }

  /** Starts, and resolves once the first list is in the cache. */
  async start(): Promise<void> {
    void this.lw.start().catch((err: unknown) => this.restart(err));
    await this.syncedOnce;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    void this.lw.stop();
  }

  on(_event: "change", handler: Handler<T>): void {
    this.handlers.push(handler);
  }

  list(): T[] {
    return this.lw.list() as T[];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.lw.get(name, namespace) as T | undefined;
  }

  private restart(err: unknown): void {
    if (this.stopped) return;
    this.restarts++;
    this.delayMs = Math.min(30_000, Math.max(250, this.delayMs * 2));
    const delay = this.delayMs / 2 + Math.random() * (this.delayMs / 2);
    this.opts.log.warn(
      { path: this.opts.path, err: (err as Error)?.message ?? String(err), retryInMs: Math.round(delay) },
      "watch failed; restarting",
    );
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (!this.stopped) void this.lw.start().catch((e: unknown) => this.restart(e));
    }, delay);
  }
}
