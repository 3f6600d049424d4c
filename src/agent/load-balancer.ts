// The node's load balancer: programs its VirtualServers into nftables (the table is replaced
// atomically at start, so a restarted agent adopts it without a gap) and keeps it in step with
// health checks, one service's chain per change. It runs in the supervisor process, so checks and
// nft runs never share an event loop with VRRP timers. Every node programs every service: only the
// VRRP master receives the virtual address's traffic, so a failover moves the service with it.
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import type { VirtualServer } from "../api/virtual-server.ts";
import { HealthScheduler } from "../health/scheduler.ts";
import { checkJobs, nftablesProblems, toVirtualService } from "../lb/from-api.ts";
import { applyNft, NftError, NftSession } from "../lb/nft-apply.ts";
import { NftablesPlan, TABLE } from "../lb/nftables.ts";
import type { LoadBalancerHooks } from "../observe/lb-observer.ts";
import type { Counters } from "./counters.ts";

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
): Promise<LoadBalancer> {
  const problems = objects.flatMap(nftablesProblems);
  if (problems.length > 0) throw new LoadBalancerError(problems.join("\n"));
  const services = objects.map(toVirtualService);
  const plan = new NftablesPlan(services);
  try {
    await applyNft(plan.initial());
  } catch (err) {
    if (err instanceof NftError) throw new LoadBalancerError(err.message);
    throw err;
  }
  log.info({ services: services.map((s) => s.key), backend: "nftables" }, "virtual services programmed");
  if (services.some((s) => s.family === 4) && readSysctl("net/ipv4/ip_forward") === "0")
    log.warn("net.ipv4.ip_forward is 0: NAT forwarding to real servers needs it on");
  // Changes go through one long-lived nft, a transaction each, in order.
  const session = new NftSession(TABLE);
  const health = new HealthScheduler({
    log,
    ...(counters ? { counters } : {}),
    onResult: (job, result) => hooks.checked?.(job, result),
    onChange: (job, healthy, last) => {
      hooks.changed?.(job, healthy, last);
      const started = performance.now();
      const script = plan.setHealth(job.service, job.server, healthy);
      session.apply(script).then(
        () => {
          hooks.dataplaneUpdated?.("nftables", true, (performance.now() - started) / 1000);
          log.info(
            { service: job.service, ms: Math.round(performance.now() - started) },
            "dataplane updated",
          );
        },
        (err: unknown) => {
          hooks.dataplaneUpdated?.("nftables", false, (performance.now() - started) / 1000);
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
      session.close();
    },
  };
}

function readSysctl(path: string): string | undefined {
  try {
    return readFileSync(`/proc/sys/${path}`, "utf8").trim();
  } catch {
    return undefined;
  }
}
