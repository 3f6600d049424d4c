// Writes the status of the VirtualServers whose router this node is MASTER of (a backup writes
// nothing: the status is the master director's view; masterObject() answers the same question for
// the agent's Events about real servers). Everything that can change a status (a health flip, a
// change of VRRP state, a new dataplane, an object's change) only marks the writer dirty; one pass
// a moment later computes every status and writes the ones that differ from what was written, so
// a burst of flips is one write per object. Failed writes are retried with backoff.
// Nothing here is awaited by VRRP (its engines run in their own processes) or by the load balancer.
import { API_WRITE_RETRY } from "../base/backoff.ts";
import { CoalescedPasses } from "../base/coalesced-passes.ts";
import type { Logger } from "pino";
import { GROUP, VERSION } from "../api/virtual-router.ts";
import { applyStatus } from "../kube/client.ts";
import type { KubeRest } from "../kube/rest.ts";
import { validateVirtualServer, type VirtualServer } from "../api/virtual-server.ts";
import type { FieldError } from "../api/field-errors.ts";
import type { Refusal } from "../cluster/grants.ts";
import { serviceKey } from "../lb/from-api.ts";
import { familyOf } from "../base/ip.ts";
import { ServiceHealth, virtualServerStatus, type VirtualServerStatus } from "./vs-status.ts";

/** Server-side apply of one VirtualServer's status; throws VirtualServerGone on 404. */
export type ApplyVirtualServerStatus = (
  ref: { namespace: string; name: string },
  status: VirtualServerStatus,
) => Promise<void>;

/** The VirtualServer is gone: nothing to write to. */
export class VirtualServerGone extends Error {}

/**
 * Server-side apply of the status subresource. Every agent applies under the same field manager,
 * forced: the fields belong to whichever node is master now, and its apply replaces the last one's.
 */
export function applyVirtualServerStatus(rest: KubeRest, fieldManager: string): ApplyVirtualServerStatus {
  return async ({ namespace, name }, status) => {
    try {
      await applyStatus(
        rest,
        { group: GROUP, version: VERSION, plural: "virtualservers", namespace, name },
        { apiVersion: `${GROUP}/${VERSION}`, kind: "VirtualServer", metadata: { name, namespace }, status },
        fieldManager,
        true,
      );
    } catch (err) {
      if ((err as { code?: number }).code === 404) throw new VirtualServerGone(`${namespace}/${name}`);
      throw err;
    }
  };
}

export interface VirtualServerStatusWriterOptions {
  apply: ApplyVirtualServerStatus;
  log: Logger;
  /** The VirtualServers as the agent's cache has them (with the status last written). */
  virtualServers(): readonly VirtualServer[];
  now?: () => number;
  /** How long changes gather before a pass. */
  delayMs?: number;
}

/** Address families whose instance of a router this node is MASTER of. */
export type MasterFamilies = readonly ("IPv4" | "IPv6")[];

export class VirtualServerStatusWriter {
  /** Per router, the families this node is master of (absent: none). */
  private readonly masters = new Map<string, string>();
  /** The services of the node's dataplane (while `starting`, of the one being started). */
  private services = new Map<string, ServiceHealth>();
  private refused: string | undefined;
  /** VirtualServers that their router does not grant (by service key), and why. */
  private notPermitted = new Map<string, Refusal>();
  private starting = false;
  /** What this node last wrote per object, while it has been master of the object's router since. */
  private readonly written = new Map<string, { router: string; json: string; status: VirtualServerStatus }>();
  private readonly validated = new WeakMap<VirtualServer, FieldError[]>();
  private readonly passes: CoalescedPasses;
  private stopped = false;
  /** Writes done, failed attempts, objects found gone, passes (for tests and logs). */
  readonly stats = { writes: 0, failures: 0, gone: 0, passes: 0 };
  private readonly o: Required<VirtualServerStatusWriterOptions>;

  constructor(opts: VirtualServerStatusWriterOptions) {
    this.o = { now: () => Date.now(), delayMs: 100, ...opts };
    this.passes = new CoalescedPasses(() => this.pass(), {
      delayMs: this.o.delayMs,
      backoff: API_WRITE_RETRY,
    });
  }

  /**
   * The families of a router this node is MASTER of (a router with IPv4 and IPv6 addresses runs an
   * election per family, so a VirtualServer follows its own family's master).
   */
  routerState(router: string, families: MasterFamilies): void {
    const now = [...new Set(families)].sort().join(",");
    if (now === (this.masters.get(router) ?? "")) return;
    if (now) this.masters.set(router, now);
    else this.masters.delete(router);
    // Another node may write meanwhile: when this one is master again, it compares with the object.
    for (const [key, w] of this.written) if (w.router === router) this.written.delete(key);
    this.changed();
  }

  /**
   * The VirtualServer of a service key ("namespace/name", as the health checks name services) when
   * this node is MASTER of its router for its family, else undefined: the node that speaks for it,
   * in its status and in the Events about its real servers.
   */
  masterObject(service: string): VirtualServer | undefined {
    const vs = this.o.virtualServers().find((v) => serviceKey(v) === service);
    const router = vs?.spec?.routerRef;
    return vs && router && this.isMaster(vs, router) ? vs : undefined;
  }

  private isMaster(vs: VirtualServer, router: string): boolean {
    const families = this.masters.get(router);
    if (!families) return false;
    const family = familyOf(vs.spec.address ?? vs.spec.realServers?.[0]?.address ?? "");
    return family === undefined || families.includes(`IPv${family}`);
  }

  /** A new dataplane is about to start with these objects: their servers start healthy. */
  programming(objects: readonly VirtualServer[]): void {
    const now = this.o.now();
    const before = this.services;
    this.services = new Map(
      objects.map((vs) => [serviceKey(vs), new ServiceHealth(vs, now, before.get(serviceKey(vs)))]),
    );
    this.starting = true;
    this.refused = undefined;
  }

  /** The dataplane started (no error) or refused the objects (the error says why). */
  programmed(error?: string): void {
    this.starting = false;
    this.refused = error;
    this.changed();
  }

  /** The VirtualServers their router does not grant, and why (they are in no dataplane). */
  refusals(refused: ReadonlyMap<string, Refusal>): void {
    if (JSON.stringify([...refused]) === JSON.stringify([...this.notPermitted])) return;
    this.notPermitted = new Map(refused);
    this.changed();
  }

  /** A real server's health changed (service and server keys as the checks name them). */
  health(service: string, server: string, healthy: boolean): void {
    if (this.services.get(service)?.set(server, healthy, this.o.now())) this.changed();
  }

  /** Something else may have changed (objects in the cache): look again. */
  changed(): void {
    this.passes.request();
  }

  /** The API server answers again: a pass now rather than at the end of the backoff. */
  retryNow(): void {
    this.passes.retryNow();
  }

  stop(): void {
    this.stopped = true;
    this.passes.stop();
  }

  /** Resolves when no pass is due or running (for tests). */
  idle(): Promise<void> {
    return this.passes.idle();
  }

  /** The statuses this node should write now, by service key. */
  private desired(): Map<string, { vs: VirtualServer; router: string; status: VirtualServerStatus }> {
    const out = new Map<string, { vs: VirtualServer; router: string; status: VirtualServerStatus }>();
    const now = this.o.now();
    for (const vs of this.o.virtualServers()) {
      const router = vs.spec?.routerRef;
      if (!router || !this.isMaster(vs, router)) continue;
      const key = serviceKey(vs);
      let errors = this.validated.get(vs);
      if (!errors) this.validated.set(vs, (errors = validateVirtualServer(vs)));
      const health = this.services.get(key);
      const refusal = this.notPermitted.get(key);
      const state =
        errors.length > 0
          ? ({ kind: "invalid", errors } as const)
          : refusal
            ? ({ kind: "refused", refusal } as const)
            : this.starting || !health
              ? undefined // not (yet) in this node's dataplane: nothing to say
              : this.refused !== undefined
                ? ({ kind: "notProgrammed", reason: this.refused } as const)
                : ({ kind: "programmed", health } as const);
      if (!state) continue;
      const last = this.written.get(key);
      const previous = last ? last.status : (vs as { status?: VirtualServerStatus }).status;
      // A programmed object's status is computed from the object the dataplane has.
      const subject = state.kind === "programmed" ? state.health.vs : vs;
      out.set(key, { vs, router, status: virtualServerStatus(subject, state, previous, now) });
    }
    return out;
  }

  private async pass(): Promise<boolean> {
    this.stats.passes++;
    let failed = false;
    const desired = this.desired();
    for (const key of this.written.keys()) if (!desired.has(key)) this.written.delete(key);
    for (const [key, { vs, router, status }] of desired) {
      if (this.stopped) return true;
      const json = JSON.stringify(status);
      const last = this.written.get(key)?.json ?? JSON.stringify((vs as { status?: unknown }).status);
      if (json === last) {
        this.written.set(key, { router, json, status });
        continue;
      }
      try {
        await this.o.apply({ namespace: vs.metadata.namespace ?? "default", name: vs.metadata.name }, status);
        this.stats.writes++;
        // Still master of it? (Mastership may have moved while the write was on its way.)
        if (this.isMaster(vs, router)) this.written.set(key, { router, json, status });
      } catch (err) {
        if (err instanceof VirtualServerGone) {
          this.stats.gone++;
          continue;
        }
        this.stats.failures++;
        failed = true;
        this.o.log.warn(
          { virtualServer: key, err: (err as Error).message },
          "VirtualServer status not written; will retry",
        );
      }
    }
    return !failed;
  }
}
