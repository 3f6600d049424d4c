// The few writes vipkeeper makes to objects (server-side apply, merge patch) and its Event
// recorder, on the REST client (rest.ts), for the agent and the controller alike.
import type { CoreV1Event } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { KubeRest } from "./rest.ts";

export interface ObjectRef {
  group: string;
  version: string;
  plural: string;
  name: string;
  namespace?: string;
  /** e.g. "status" */
  subresource?: string;
}

/** The object's path: /apis/GROUP/VERSION[/namespaces/NS]/PLURAL/NAME (group "" is the core API). */
export function objectPath(ref: ObjectRef): string {
  const base = ref.group ? `/apis/${ref.group}/${ref.version}` : `/api/${ref.version}`;
  const ns = ref.namespace ? `/namespaces/${encodeURIComponent(ref.namespace)}` : "";
  const sub = ref.subresource ? `/${ref.subresource}` : "";
  return `${base}${ns}/${ref.plural}/${encodeURIComponent(ref.name)}${sub}`;
}

/** Server-side apply of `body` to the object's status subresource, under `fieldManager`. */
export async function applyStatus(
  rest: KubeRest,
  ref: ObjectRef,
  body: object,
  fieldManager: string,
  force: boolean,
): Promise<void> {
  await rest.apply(objectPath({ ...ref, subresource: "status" }), body, { fieldManager, force });
}

/** Server-side apply of a whole custom object (created when absent), under `fieldManager`, forced. */
export async function applyObject(
  rest: KubeRest,
  ref: ObjectRef,
  body: object,
  fieldManager: string,
): Promise<void> {
  await rest.apply(objectPath(ref), body, { fieldManager, force: true });
}

/** JSON merge patch (RFC 7386) of the object itself; a resourceVersion in the patch makes it conditional. */
export async function mergePatch(rest: KubeRest, ref: ObjectRef, body: object): Promise<void> {
  await rest.patch(objectPath(ref), body, "merge");
}

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

export interface EventRecorderOptions {
  /** source.component and reportingComponent, e.g. vipkeeper-controller. */
  component: string;
  /** source.host and reportingInstance (the node or pod name). */
  host?: string;
  /** Where Events about cluster-scoped objects go ("default", where kubectl looks). */
  namespace?: string;
  log: Logger;
  /** Repeats within this window bump the first Event's count (client-go: 10 minutes). */
  aggregateWindowMs?: number;
  /** How many distinct Events are remembered for aggregation (client-go's LRU: 4096). */
  cacheSize?: number;
  now?: () => number;
}

interface SeenEvent {
  name: string;
  namespace: string;
  count: number;
  at: number;
  /** Writes for one Event are made one after another, so counts never go backwards. */
  chain: Promise<void>;
}

/** An Event message may not exceed 1 kB on events.k8s.io; core/v1 has no limit, kubectl wraps. */
const MAX_MESSAGE = 1024;

/**
 * core/v1 Events, as `kubectl describe` shows them. Repeats of one (object, type, reason, message)
 * within the window bump count and lastTimestamp of the first instead of adding Events, as
 * client-go's recorder does. Never throws: a bad or failed Event is logged and counted.
 */
export class EventRecorder {
  private readonly rest: KubeRest;
  private readonly seen = new Map<string, SeenEvent>();
  private readonly pending = new Set<Promise<void>>();
  readonly stats = { recorded: 0, aggregated: 0, failed: 0, invalid: 0 };
  private readonly o: Required<Omit<EventRecorderOptions, "host">> & { host: string | undefined };

  constructor(rest: KubeRest, opts: EventRecorderOptions) {
    this.rest = rest;
    this.o = {
      namespace: "default",
      aggregateWindowMs: 600_000,
      cacheSize: 4096,
      now: () => Date.now(),
      ...opts,
      host: opts.host,
    };
  }

  record(obj: InvolvedObject, type: "Normal" | "Warning", reason: string, message: string): void {
    const problem =
      !obj?.kind || !obj.name
        ? "involvedObject needs kind and name"
        : type !== "Normal" && type !== "Warning"
          ? `type must be Normal or Warning, not ${String(type)}`
          : !reason
            ? "reason is empty"
            : undefined;
    if (problem) {
      this.stats.invalid++;
      this.o.log.warn({ reason, object: obj?.name, problem }, "event not recorded");
      return;
    }
    const text = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 3)}...` : message;
    // Cluster-scoped objects' Events live in the default namespace, as kubectl looks for them there.
    const namespace = obj.namespace || this.o.namespace;
    const key = JSON.stringify([obj.kind, namespace, obj.name, obj.uid ?? "", type, reason, text]);
    const now = this.o.now();
    const prior = this.seen.get(key);
    let write: Promise<void>;
    if (prior && now - prior.at < this.o.aggregateWindowMs) {
      prior.at = now;
      this.seen.delete(key); // re-inserted: most recently used last
      this.seen.set(key, prior);
      write = prior.chain.then(() => this.bump(prior, obj, type, reason, text, now));
      prior.chain = write.catch(() => undefined);
    } else {
      const entry: SeenEvent = {
        name: eventName(obj.name, now),
        namespace,
        count: 1,
        at: now,
        chain: Promise.resolve(),
      };
      this.seen.delete(key);
      this.seen.set(key, entry);
      while (this.seen.size > this.o.cacheSize) this.seen.delete(this.seen.keys().next().value!);
      write = this.create(entry, obj, type, reason, text, now);
      entry.chain = write.catch(() => undefined);
    }
    const tracked = write.then(
      () => void this.stats.recorded++,
      (err: unknown) => {
        this.stats.failed++;
        this.o.log.warn({ reason, object: obj.name, err: (err as Error)?.message }, "event not recorded");
      },
    );
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  /** The same as record(), by the name the controller's design uses. */
  recordEvent(obj: InvolvedObject, type: "Normal" | "Warning", reason: string, message: string): void {
    this.record(obj, type, reason, message);
  }

  /** Resolves once every Event recorded so far has been written or has failed. */
  async flush(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  private async create(
    entry: SeenEvent,
    obj: InvolvedObject,
    type: string,
    reason: string,
    message: string,
    now: number,
  ): Promise<void> {
    // Sent as JSON: the Date fields go as ISO strings, which core/v1 Event times are.
    const at = new Date(now);
    const body: CoreV1Event = {
      metadata: { name: entry.name, namespace: entry.namespace },
      involvedObject: { ...obj, namespace: obj.namespace ?? "" },
      type,
      reason,
      message,
      count: entry.count,
      firstTimestamp: at,
      lastTimestamp: at,
      source: { component: this.o.component, ...(this.o.host ? { host: this.o.host } : {}) },
      reportingComponent: this.o.component,
      reportingInstance: this.o.host ?? this.o.component,
    };
    await this.rest.create(eventsPath(entry.namespace), body);
  }

  private async bump(
    entry: SeenEvent,
    obj: InvolvedObject,
    type: string,
    reason: string,
    message: string,
    now: number,
  ): Promise<void> {
    entry.count++;
    try {
      await this.rest.patch(
        `${eventsPath(entry.namespace)}/${encodeURIComponent(entry.name)}`,
        { count: entry.count, lastTimestamp: new Date(now) },
        "merge",
      );
      this.stats.aggregated++;
    } catch (err) {
      // The first Event is gone (expired, or its create failed): start a new one.
      if ((err as { code?: number }).code !== 404) throw err;
      entry.name = eventName(obj.name, now);
      entry.count = 1;
      await this.create(entry, obj, type, reason, message, now);
    }
  }
}

/** <object>.<hex time><random>, unique enough and a valid name, as client-go names them. */
function eventName(object: string, now: number): string {
  const suffix = `${now.toString(16)}${Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, "0")}`;
  return `${object.slice(0, 253 - suffix.length - 1)}.${suffix}`;
}

const eventsPath = (namespace: string) => `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`;
