// The KubeConfig, and the few writes vipkeeper makes, with the content types set explicitly:
// client-node's custom-object patches default to JSON patch unless the header says otherwise.
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Event,
} from "@kubernetes/client-node";
import type { Logger } from "pino";

/** In-cluster when running in a pod, else the given file, else KUBECONFIG / ~/.kube/config. */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

export interface ObjectRef {
  group: string;
  version: string;
  plural: string;
  name: string;
  namespace?: string;
}

/** Server-side apply of `body` to the object's status subresource, under `fieldManager`. */
export async function applyStatus(
  kc: KubeConfig,
  ref: ObjectRef,
  body: object,
  fieldManager: string,
  force: boolean,
): Promise<void> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const opts = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply);
  const common = {
    group: ref.group,
    version: ref.version,
    plural: ref.plural,
    name: ref.name,
    body,
    fieldManager,
    force,
  };
  if (ref.namespace)
    await api.patchNamespacedCustomObjectStatus({ ...common, namespace: ref.namespace }, opts);
  else await api.patchClusterCustomObjectStatus(common, opts);
}

/** Server-side apply of a whole custom object (created when absent), under `fieldManager`. */
export async function applyObject(
  kc: KubeConfig,
  ref: ObjectRef,
  body: object,
  fieldManager: string,
): Promise<void> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const opts = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply);
  const common = {
    group: ref.group,
    version: ref.version,
    plural: ref.plural,
    name: ref.name,
    body,
    fieldManager,
    force: true,
  };
  if (ref.namespace) await api.patchNamespacedCustomObject({ ...common, namespace: ref.namespace }, opts);
  else await api.patchClusterCustomObject(common, opts);
}

/** JSON merge patch (RFC 7386) of the object itself; a resourceVersion in the patch makes it conditional. */
export async function mergePatch(kc: KubeConfig, ref: ObjectRef, body: object): Promise<void> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const opts = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
  const common = { group: ref.group, version: ref.version, plural: ref.plural, name: ref.name, body };
  if (ref.namespace) await api.patchNamespacedCustomObject({ ...common, namespace: ref.namespace }, opts);
  else await api.patchClusterCustomObject(common, opts);
}

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

/**
 * core/v1 Events, as `kubectl describe` shows them. Repeats of one (object, reason, message) within
 * ten minutes bump the count of the first instead of adding Events, as client-go's recorder does.
 * Never throws: a failed Event is logged and counted, and the caller goes on.
 */
export class EventRecorder {
  private readonly api: CoreV1Api;
  private readonly seen = new Map<string, { name: string; namespace: string; count: number; at: number }>();
  readonly stats = { recorded: 0, failed: 0 };
  private readonly component: string;
  private readonly host: string | undefined;
  private readonly namespace: string;
  private readonly log: Logger;

  constructor(kc: KubeConfig, opts: { component: string; host?: string; namespace?: string; log: Logger }) {
    this.api = kc.makeApiClient(CoreV1Api);
    this.component = opts.component;
    this.host = opts.host;
    this.namespace = opts.namespace ?? "default";
    this.log = opts.log;
  }

  record(obj: InvolvedObject, type: "Normal" | "Warning", reason: string, message: string): void {
    void this.write(obj, type, reason, message).catch((err: unknown) => {
      this.stats.failed++;
      this.log.warn({ reason, object: obj.name, err: (err as Error).message }, "event not recorded");
    });
  }

  private async write(obj: InvolvedObject, type: string, reason: string, message: string): Promise<void> {
    // Cluster-scoped objects' Events live in the default namespace, as kubectl looks for them there.
    const namespace = obj.namespace ?? this.namespace;
    const key = `${obj.kind}/${namespace}/${obj.name}/${type}/${reason}/${message}`;
    const now = new Date();
    const prior = this.seen.get(key);
    if (prior && now.getTime() - prior.at < 600_000) {
      prior.count++;
      prior.at = now.getTime();
      await this.api.patchNamespacedEvent(
        { name: prior.name, namespace: prior.namespace, body: { count: prior.count, lastTimestamp: now } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
      this.stats.recorded++;
      return;
    }
    const name = `${obj.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`;
    const body: CoreV1Event = {
      metadata: { name, namespace },
      involvedObject: { ...obj, namespace: obj.namespace ?? "" },
      type,
      reason,
      message,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: this.component, ...(this.host ? { host: this.host } : {}) },
      reportingComponent: this.component,
      reportingInstance: this.host ?? this.component,
    };
    await this.api.createNamespacedEvent({ namespace, body });
    this.seen.set(key, { name, namespace, count: 1, at: now.getTime() });
    this.stats.recorded++;
  }
}
