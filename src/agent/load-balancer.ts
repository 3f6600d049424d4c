// The node's load balancer: programs its VirtualServers into a dataplane (src/lb/backend.ts: IPVS
// over generic netlink, or nftables; both adopt what a previous agent left, without a gap) and
// keeps it in step with health checks, one real server's change per update. It runs in the supervisor process, so checks and
// nft runs never share an event loop with VRRP timers. Every node programs every service: only the
// VRRP master receives the virtual address's traffic, so a failover moves the service with it.
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import type { VirtualServer } from "../api/virtual-server.ts";
import { HealthScheduler } from "../health/scheduler.ts";
import { checkJobs, nftablesProblems, serviceKey, toVirtualServices } from "../lb/from-api.ts";
import { chooseBackend, startDataplane, type BackendChoice } from "../lb/backend.ts";
import { NftError } from "../lb/nft-apply.ts";
import { agentLoadBalancerHooks, type LoadBalancerHooks } from "../observe/lb-observer.ts";
import type { Counters } from "../base/counters.ts";

export interface LoadBalancer {
  stop(): void;
}

/** The load balancer cannot start: a configuration the backend cannot run, or nft refused it. */
export class LoadBalancerError extends Error {}

export async function startLoadBalancer(
  objects: readonly VirtualServer[],
  log: Logger,
  counters?: Counters,
  hooks: LoadBalancerHooks = {},
  options: {
    backend?: BackendChoice;
    ownerFile?: string;
    /** The interface of a VirtualRouter (by name): where DR services forward. */
    deviceOf?: (routerRef: string | undefined) => string | undefined;
  } = {},
): Promise<LoadBalancer> {
  const backend = await chooseBackend(options);
  // IPVS does fwmark, DR, TUN and IPv6 persistence; nftables says what it cannot do.
  const problems = backend === "nftables" ? objects.flatMap(nftablesProblems) : [];
  if (problems.length > 0) throw new LoadBalancerError(problems.join("\n"));
  // A VirtualServer with a group is several dataplane services; health moves them together.
  const keysOf = new Map<string, string[]>();
  const services = objects.flatMap((vs) => {
    const svcs = toVirtualServices(vs).map((svc) => {
      const device = svc.forwarding === "dr" ? options.deviceOf?.(vs.spec.routerRef) : undefined;
      return device ? { ...svc, device } : svc;
    });
    keysOf.set(
      serviceKey(vs),
      svcs.map((s) => s.key),
    );
    return svcs;
  });
  let started;
  try {
    started = await startDataplane(
      backend,
      services,
      options.ownerFile ? { ownerFile: options.ownerFile } : {},
    );
  } catch (err) {
    if (err instanceof NftError || backend === "ipvs") throw new LoadBalancerError((err as Error).message);
    throw err;
  }
  const dataplane = started.dataplane;
  log.info(
    { services: services.map((s) => s.key), backend, detail: started.detail },
    "virtual services programmed",
  );
  if (backend === "ipvs" && (started.detail as { kubeProxy?: boolean } | undefined)?.kubeProxy)
    log.warn(
      "kube-ipvs0 exists: kube-proxy runs in IPVS mode and deletes IPVS services whose address is bound on kube-ipvs0 and not its own; keep vipkeeper's addresses off kube-ipvs0 and in kube-proxy's --ipvs-exclude-cidrs (vipkeeper restores its services every 30 s)",
    );
  // IPVS: restore what someone else deleted (kube-proxy, an ipvsadm -C) every 30 s.
  const resync = dataplane.reconcile
    ? setInterval(() => {
        dataplane.reconcile!().then(
          (r) => {
            const n = (r as { commands: number }).commands;
            if (n > 0) log.warn({ commands: n }, "IPVS differed from vipkeeper's services: restored");
          },
          (err: unknown) => log.error({ err: (err as Error).message }, "IPVS resync failed"),
        );
      }, 30_000)
    : undefined;
  resync?.unref();
  if (services.some((s) => s.family === 4) && readSysctl("net/ipv4/ip_forward") === "0")
    log.warn("net.ipv4.ip_forward is 0: NAT forwarding to real servers needs it on");
  const health = new HealthScheduler({
    log,
    ...(counters ? { counters } : {}),
    onResult: (job, result) => hooks.checked?.(job, result),
    onChange: (job, healthy, last) => {
      hooks.changed?.(job, healthy, last);
      const started = performance.now();
      Promise.all(
        (keysOf.get(job.service) ?? [job.service]).map((key) =>
          dataplane.setHealth(key, job.server, healthy),
        ),
      ).then(
        () => {
          hooks.dataplaneUpdated?.(backend, true, (performance.now() - started) / 1000);
          log.info(
            { service: job.service, ms: Math.round(performance.now() - started) },
            "dataplane updated",
          );
        },
        (err: unknown) => {
          hooks.dataplaneUpdated?.(backend, false, (performance.now() - started) / 1000);
          log.error({ service: job.service, err: (err as Error).message }, "dataplane update failed");
        },
      );
    },
  });
  const jobs = objects.flatMap(checkJobs);
  hooks.started?.(jobs);
  health.start(jobs);
  return {
    stop: () => {
      health.stop();
      if (resync) clearInterval(resync);
      dataplane.stop();
    },
  };
}

/**
 * The node's load balancer as both modes start it: observed (metrics on the agent's endpoint, real
 * server notifications through the routers' notify settings, keepalived.conf's scripts), and DR
 * services forwarding on their router's interface. `onChange` hears each real server's change too.
 */
export async function startNodeLoadBalancer(
  opts: Parameters<typeof agentLoadBalancerHooks>[0] & {
    backend?: BackendChoice;
    deviceOf: (routerRef: string | undefined) => string | undefined;
    onChange?: LoadBalancerHooks["changed"];
  },
): Promise<{ lb: LoadBalancer; shutdown: () => Promise<void> }> {
  const { onChange, deviceOf, backend, ...observed } = opts;
  const { hooks, shutdown } = agentLoadBalancerHooks(observed);
  const withChange: LoadBalancerHooks = onChange
    ? {
        ...hooks,
        changed: (job, healthy, last) => {
          hooks.changed?.(job, healthy, last);
          onChange(job, healthy, last);
        },
      }
    : hooks;
  const lb = await startLoadBalancer(opts.virtualServers, opts.log, undefined, withChange, {
    backend: backend ?? "auto",
    deviceOf,
  });
  return { lb, shutdown };
}

function readSysctl(path: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${path}`, "utf8").trim();
  } catch {
    return undefined;
  }
}
