// coordination.k8s.io/v1 Leases on the REST client: the three calls the agent's heartbeat and the
// controller's leader election make, named and shaped as client-node's CoordinationV1Api names
// them (so either can be counted or faked in tests the same way).
import type { V1Lease } from "@kubernetes/client-node";
import type { KubeRest } from "./rest.ts";

const leasesPath = (namespace: string) =>
  `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`;

/** What the heartbeat and the elector call (a LeaseApi, or a fake in tests). */
export interface Leases {
  readNamespacedLease(p: { name: string; namespace: string }): Promise<V1Lease>;
  createNamespacedLease(p: { namespace: string; body: V1Lease }): Promise<V1Lease>;
  replaceNamespacedLease(p: { name: string; namespace: string; body: V1Lease }): Promise<V1Lease>;
}

export class LeaseApi implements Leases {
  private readonly rest: KubeRest;
  constructor(rest: KubeRest) {
    this.rest = rest;
  }

  readNamespacedLease(p: { name: string; namespace: string }): Promise<V1Lease> {
    return this.rest.get(`${leasesPath(p.namespace)}/${encodeURIComponent(p.name)}`);
  }

  createNamespacedLease(p: { namespace: string; body: V1Lease }): Promise<V1Lease> {
    return this.rest.create(leasesPath(p.namespace), p.body);
  }

  /** A resourceVersion in the body makes it conditional: 409 when someone wrote it since. */
  replaceNamespacedLease(p: { name: string; namespace: string; body: V1Lease }): Promise<V1Lease> {
    return this.rest.update(`${leasesPath(p.namespace)}/${encodeURIComponent(p.name)}`, p.body);
  }
}

/**
 * A MicroTime as kube-apiserver takes it: RFC 3339 with 6 fraction digits (it refuses a Date's
 * 3-digit JSON form). A string (a time read back from the server) is kept as it is. Typed as the
 * client-node model's Date, which the JSON it sends never is.
 */
export function microTime(t: Date | string = new Date()): Date {
  const s = typeof t === "string" ? t : t.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
  return s as unknown as Date;
}
