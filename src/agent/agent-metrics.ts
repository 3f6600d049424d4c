// The agent's metrics endpoint and --status-socket document, served by the agent's main process for
// its engine and its load balancer. At each scrape or status request the parent asks the engine
// for a snapshot of its status and counters over IPC and answers from it; observed failovers
// arrive as they happen.
import type { Server } from "node:http";
import { serveMetrics } from "../observe/http-endpoint.ts";
import { sumCounters } from "../base/counters.ts";
import type { InstanceStatus } from "../observe/events.ts";
import type { NodeEngine } from "./engines.ts";
import type { EngineMessage } from "../engine/ipc.ts";
import { VrrpMetrics } from "../observe/metrics.ts";

type Snapshot = Extract<EngineMessage, { type: "snapshot" }>;

export class AgentMetrics {
  private readonly latest = new Map<string, Snapshot>();
  private readonly waiting = new Map<number, () => void>();
  private nextId = 1;
  private readonly engines: () => ReadonlyMap<string, NodeEngine>;
  readonly metrics: VrrpMetrics;

  constructor(engines: () => ReadonlyMap<string, NodeEngine>, labels: Record<string, string>) {
    this.engines = engines;
    this.metrics = new VrrpMetrics(
      {
        counters: { entries: () => [...this.latest.values()].flatMap((s) => s.counters) },
        status: () => [...this.latest.values()].flatMap((s) => s.instances),
      },
      labels,
    );
  }

  /** Feed every engine message here (snapshots answer our requests; failovers are observed). */
  onMessage(router: string, msg: EngineMessage): void {
    if (msg.type === "snapshot") {
      this.latest.set(router, msg);
      this.waiting.get(msg.id)?.();
    } else if (msg.type === "failover") this.metrics.observeFailover(msg.instance, msg.ms);
  }

  /** Asks every engine for a snapshot; engines that do not answer within `timeoutMs` keep their last. */
  async refresh(timeoutMs = 500): Promise<void> {
    const running = this.engines();
    for (const router of [...this.latest.keys()]) if (!running.has(router)) this.latest.delete(router);
    await Promise.all(
      [...running.values()].map(
        (engine) =>
          new Promise<void>((resolve) => {
            const id = this.nextId++;
            const timer = setTimeout(done, timeoutMs);
            function done() {
              clearTimeout(timer);
              resolve();
            }
            this.waiting.set(id, () => {
              this.waiting.delete(id);
              done();
            });
            engine.supervisor.send({ type: "snapshot", id });
          }),
      ),
    );
    this.waiting.clear();
  }

  /** Every engine's instances and summed counters, fresh (the --status-socket document). */
  async status(): Promise<{ instances: InstanceStatus[]; counters: Record<string, number> }> {
    await this.refresh();
    const all = [...this.latest.values()];
    return {
      instances: all.flatMap((s) => s.instances),
      counters: sumCounters(all.flatMap((s) => s.counters)),
    };
  }

  serve(address: string): Promise<Server> {
    return serveMetrics(address, this.metrics.registry, () => this.refresh());
  }
}
