// The engine process: opens this node's VRRP sockets, runs the VRRP engine on real timers, follows
// link and file tracking, reports its masters to the supervisor, and on SIGTERM/SIGINT resigns and
// releases everything before exiting 0.
import { existsSync, watch, type FSWatcher } from "node:fs";
import { getPriority, setPriority } from "node:os";
import { dirname } from "node:path";
import { performance } from "node:perf_hooks";
import { createLogger } from "../observe/log.ts";
import { VrrpEngine, type Clock, type InstanceStatus } from "./engine.ts";
import type { Logger } from "pino";
import { openHostNetwork, type HostNetwork } from "./host.ts";
import { createVirtualMacs, type VirtualMacs } from "./virtual-mac.ts";
import { DEFAULT_ADDRESS_LIFETIME } from "./address-keeper.ts";
import { removeEnginePidFile, writeEnginePidFile } from "./leftovers.ts";
import { linksOf, withoutOwnAddresses, type InstancePlan, type NodePlan } from "../plan/plan.ts";
import { plansByRouter, routerSteps } from "../plan/steps.ts";
import { Backoff } from "../base/backoff.ts";
import { watchStalls } from "./stall-watch.ts";
import { Notifier } from "../observe/notifier.ts";
import { runGroupNotifyScripts, runNotifyScripts } from "../observe/notify-scripts.ts";
import { startScriptTrackers, type ScriptTrackers } from "./script-tracker.ts";
import type { EngineCommand, EngineMessage } from "./ipc.ts";
import { epochOf } from "../base/time.ts";
import { instanceLabels } from "../plan/instance-key.ts";

/** How long an ending engine waits for its last notifications: inside the supervisor's 5 s grace. */
const NOTIFY_AT_EXIT_MS = 3000;

/** How late a timer may fire before the input that came meanwhile is read first. */
const LATE_MS = 2;

/**
 * Node's clock. A timer that fires late (the engine was held up: a busy host, a pause) runs after
 * the next poll of the sockets, not before it: Node runs due timers before it reads input, so a
 * backup's Master_Down_Timer would otherwise expire on adverts that came in time and wait unread
 * in the socket, and the backup would take over from a live master.
 */
export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, delayMs) => {
    const due = performance.now() + delayMs;
    let after: NodeJS.Immediate | undefined;
    const t = setTimeout(() => {
      if (performance.now() - due > LATE_MS) after = setImmediate(fn);
      else fn();
    }, delayMs);
    return {
      cancel: () => {
        clearTimeout(t);
        clearImmediate(after);
      },
    };
  },
};

export interface EngineArgs {
  node: string;
  /** Send status reports to the supervisor when something worth reporting changes (cluster mode). */
  reportStatus?: boolean;
  /**
   * Bind virtual addresses permanently: no lifetime, no renewal (the dead man's switch off; a node
   * whose every vipkeeper process died keeps its addresses, as keepalived's does).
   */
  permanentAddresses?: boolean;
  /**
   * The engine's scheduling priority (nice, -20..19; keepalived's vrrp_priority). Above the rest of
   * the agent, whose health checks can keep a small node's cores busy: a master whose adverts wait
   * for a core past Master_Down_Interval loses its routers to a backup.
   */
  nice?: number;
}

/** Sets the engine's priority; without CAP_SYS_NICE it runs on at the one it has, and says so. */
function setEnginePriority(nice: number | undefined, log: Logger): void {
  if (nice === undefined || nice === getPriority()) return;
  try {
    setPriority(nice);
  } catch (err) {
    log.warn(
      { nice, running: getPriority(), err: (err as Error).message },
      "could not set the engine's priority (it needs CAP_SYS_NICE); running at the one it has",
    );
  }
}

export async function runEngineProcess(plan: NodePlan, args: EngineArgs): Promise<number> {
  const log = createLogger("engine", { node: args.node });
  setEnginePriority(args.nice, log);
  const tell = (msg: EngineMessage) => {
    if (process.connected) process.send?.(msg);
  };
  // Listening from the start: an owner (priority 255) is master as soon as it starts, and a stop
  // may come before the rest is set up; by Node's default it would end the engine unresigned.
  // The agent's death (its end of the IPC channel closes: SIGKILL, OOM kill) is a stop too: an
  // engine without its supervisor has no crash protection and nobody to take its orders, so it
  // resigns, releases and exits rather than run on as an orphan (a new agent starts its own).
  let orphaned = false;
  let onDisconnect: () => void = () => undefined;
  const stopAsked = new Promise<void>((resolve) => {
    process.once("SIGTERM", () => resolve());
    process.once("SIGINT", () => resolve());
    onDisconnect = () => {
      orphaned = true;
      log.warn("the agent is gone; resigning and exiting");
      resolve();
    };
    process.once("disconnect", onDisconnect);
    if (!process.connected) onDisconnect();
  });
  const pidFile = writeEnginePidFile();
  const stalls = watchStalls(log);
  // Packets may arrive before the engine exists; they are dropped until it does.
  const deliver: { to?: VrrpEngine } = {};
  const host = await openHostNetwork(
    [],
    log,
    (ifname, family, packet) => deliver.to?.receive(ifname, family, packet),
    {
      ...(args.permanentAddresses ? {} : { addressLifetime: DEFAULT_ADDRESS_LIFETIME }),
      onDrop: (reason) => deliver.to?.counters.add("drops", { reason }),
    },
  );
  const engine = new VrrpEngine({
    plans: [],
    port: (p) => host.vrrpPort(p),
    addresses: host.addresses,
    announcer: host.announcer,
    routes: host.routes,
    clock: realClock,
    readInput: () => host.drain(),
    log,
    // keepalived sends IPv6 unicast adverts with hop limit 64: for unicast IPv6 the peer list
    // (sources are checked against it) and the interface binding stand in for the 255 check.
    requireMaxTtl: (p) => !(p.family === 6 && p.unicastPeers.length > 0),
    onTransition: (event) => {
      tell({ type: "state", masters: engine.masters().map((p) => p.key) });
      reporter?.report();
      if (event.to === "master" && event.sinceLastAdvertMs !== undefined)
        tell({ type: "failover", instance: event.plan.key, ms: event.sinceLastAdvertMs });
      notifier.track(runNotifyScripts(event, log));
      notifier.notify(event);
    },
    onGroupTransition: (event) => notifier.track(runGroupNotifyScripts(event, log)),
  });
  deliver.to = engine;
  const notifier = new Notifier(args.node, log, engine.counters);
  const reporter = args.reportStatus ? statusReporter(engine, tell) : undefined;
  host.watchLinks((name, up) => engine.setLink(name, up));
  const files = fileWatch((path, present) => engine.setFile(path, present));
  const routers = new RouterParts(engine, host, files, log);
  const onCommand = (msg: EngineCommand) => {
    // The agent's main process serves the metrics, and asks the engine for a snapshot.
    if (msg.type === "snapshot")
      tell({ type: "snapshot", id: msg.id, instances: engine.status(), counters: engine.counters.entries() });
    else if (msg.type === "tracked") for (const t of msg.states) engine.setClusterTracked(t.name, t.healthy);
    else if (msg.type === "plan")
      void routers.want(msg.plan).then(() => {
        tell({ type: "state", masters: engine.masters().map((p) => p.key) });
        reporter?.report();
      });
  };
  process.on("message", onCommand);
  await routers.want(plan);
  tell({ type: "ready" });
  reporter?.all();

  await stopAsked;
  process.off("disconnect", onDisconnect); // the engine disconnects by itself at the end
  log.info({ orphaned }, "resigning and releasing addresses");
  process.off("message", onCommand);
  reporter?.stop();
  await routers.stop();
  tell({ type: "state", masters: [] });
  files.close();
  host.close();
  removeEnginePidFile(pidFile);
  stalls.stop();
  // What the stop told (scripts, webhooks, mail) may finish, within the supervisor's stop grace:
  // the addresses are released already, and a receiver that hangs must not keep the engine.
  if (!(await notifier.idleWithin(NOTIFY_AT_EXIT_MS)))
    log.warn({ waitedMs: NOTIFY_AT_EXIT_MS }, "notifications still under way at exit; left undone");
  // The IPC channel would keep this process alive; the agent may have closed it first (it exits).
  if (process.connected) process.disconnect();
  return 0;
}

/**
 * The routers of the running engine and what each owns besides its instances (its virtual MACs'
 * interfaces, its tracked scripts). want() brings them to a plan router by router; a router that
 * cannot start (its interface missing) is logged and tried again with backoff, while the others run.
 */
class RouterParts {
  private running: NodePlan = { instances: [], skipped: [] };
  private wanted: NodePlan = { instances: [], skipped: [] };
  private readonly vmacs = new Map<string, VirtualMacs>();
  private readonly scripts = new Map<string, ScriptTrackers>();
  private queue = Promise.resolve();
  private retry: NodeJS.Timeout | undefined;
  private readonly backoff = new Backoff({ firstMs: 1000, maxMs: 30_000 });
  private stopped = false;

  private readonly engine: VrrpEngine;
  private readonly host: HostNetwork;
  private readonly files: ReturnType<typeof fileWatch>;
  private readonly log: Logger;

  constructor(engine: VrrpEngine, host: HostNetwork, files: ReturnType<typeof fileWatch>, log: Logger) {
    this.engine = engine;
    this.host = host;
    this.files = files;
    this.log = log;
  }

  /** Changes in the order asked; resolves when this plan is in place (as far as it can be). */
  want(plan: NodePlan): Promise<void> {
    this.wanted = plan;
    const done = this.queue.then(() => this.step());
    // What did apply stays; the whole plan is tried again with backoff.
    this.queue = done.catch((err: unknown) =>
      this.retryLater("error", { err: (err as Error).message }, "could not apply the plan; trying again"),
    );
    return this.queue;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retry);
    await this.queue;
    for (const s of this.scripts.values()) s.stop();
    await this.engine.stop();
    for (const r of [...this.vmacs.keys()]) await this.dropVirtualMacs(r);
  }

  /** A router's virtual MACs' interfaces go (their addresses with them). */
  private async dropVirtualMacs(router: string): Promise<void> {
    await this.vmacs
      .get(router)
      ?.remove()
      .catch((err: unknown) =>
        this.log.error({ router, err: (err as Error).message }, "could not remove a virtual MAC"),
      );
    this.vmacs.delete(router);
  }

  /** The wanted plan again after the backoff (a failure, or routers that did not start). */
  private retryLater(level: "error" | "warn", what: Record<string, unknown>, message: string): void {
    const delayMs = this.backoff.next();
    this.log[level]({ ...what, delayMs }, message);
    clearTimeout(this.retry);
    if (!this.stopped) this.retry = setTimeout(() => void this.want(this.wanted), delayMs);
  }

  private async step(): Promise<void> {
    if (this.stopped) return;
    clearTimeout(this.retry);
    const next = this.wanted;
    const steps = routerSteps(this.running, next);
    const byRouter = plansByRouter(next);
    const of = (...wanted: string[]) => [...steps].filter(([, s]) => wanted.includes(s)).map(([r]) => r);
    const going = of("stop", "restart");
    if (going.length > 0) {
      for (const r of going) this.scripts.get(r)?.stop();
      await this.engine.removeRouters(new Set(going));
      for (const r of going) {
        this.scripts.delete(r);
        await this.dropVirtualMacs(r);
      }
    }
    for (const r of of("in-place"))
      for (const i of byRouter.get(r)!.instances) {
        this.engine.updateAddresses(i.key, i.addresses);
        this.engine.updateSources(i.key, i.sources);
        this.engine.updateClusterTracking(i.key, i.track);
      }
    // What runs now: the kept routers with their new addresses; the starting ones join below.
    let runs: InstancePlan[] = next.instances.filter((i) =>
      ["keep", "in-place"].includes(steps.get(i.router)!),
    );
    const failed: string[] = [];
    // The virtual MACs' interfaces first: the instances' sockets are bound to them.
    const made: string[] = [];
    for (const r of of("start", "restart"))
      try {
        this.vmacs.set(r, await createVirtualMacs(byRouter.get(r)!.instances, this.log));
        made.push(r);
      } catch (err) {
        failed.push(r);
        this.log.error({ router: r, err: (err as Error).message }, `router ${r} not started`);
      }
    const instancesOf = (routers: string[]) => routers.flatMap((r) => byRouter.get(r)!.instances);
    try {
      // One look at the host for all of them (it lists links and addresses: not once per router);
      // the sockets no router uses any more close.
      await this.host.use([...runs, ...instancesOf(made)]);
      runs = [...runs, ...instancesOf(made)];
    } catch {
      // One of them cannot start (its interface is missing): find which, and start the others.
      for (const r of made)
        try {
          await this.host.use([...runs, ...instancesOf([r])]);
          runs = [...runs, ...instancesOf([r])];
        } catch (err) {
          failed.push(r);
          await this.dropVirtualMacs(r);
          this.log.error({ router: r, err: (err as Error).message }, `router ${r} not started`);
        }
      await this.host.use(runs);
    }
    const starting = runs.filter((i) => ["start", "restart"].includes(steps.get(i.router)!));
    const plans = withoutOwnAddresses(starting, this.host.localAddresses);
    await this.engine.addInstances(plans, () => {
      // What is known already of their tracked objects, before they start.
      for (const p of plans) for (const name of linksOf(p)) this.engine.setLink(name, this.host.linkUp(name));
      this.files.add(plans.flatMap((p) => p.track.files.map((f) => f.path)));
    });
    for (const [router, mine] of plansByRouter({ instances: plans, skipped: [] }))
      this.scripts.set(
        router,
        startScriptTrackers(mine.instances, (r, name, ok) => this.engine.setScript(r, name, ok), this.log),
      );
    this.running = { instances: runs, skipped: [] };
    if (failed.length === 0) this.backoff.reset();
    else this.retryLater("warn", { routers: failed }, "trying the routers that did not start again");
  }
}

/** While a foreign source goes on speaking, its `at` in the status is refreshed this often. */
const FOREIGN_REFRESH_MS = 20_000;

/**
 * Status for the supervisor, router by router: the routers whose status changed in a way worth a
 * status write (state, priority, the master heard, addresses held, a foreign source, or the same
 * one FOREIGN_REFRESH_MS later) — never one per advert. Soon after a transition (the transitions of
 * one moment, such as 255 routers starting, go in one message), else from a check each second;
 * `all()` sends every router (a new engine's first word).
 */
function statusReporter(engine: VrrpEngine, tell: (msg: EngineMessage) => void) {
  const last = new Map<string, string>();
  let soon: NodeJS.Immediate | undefined;
  const epoch = (t: number | undefined) => (t === undefined ? undefined : epochOf(t));
  const signature = (i: InstanceStatus) =>
    JSON.stringify([
      i.state,
      i.effectivePriority,
      i.holdsAddresses,
      i.splitBrain,
      i.lastAdvertFrom,
      i.lastAdvertPriority,
      (i.lastAnnounceAt ?? -1) >= i.since, // announced since the last transition
      i.tracked.filter((t) => !t.healthy).map((t) => t.name),
      i.lastForeignAdvert?.from,
      Math.floor((i.lastForeignAdvert?.at ?? 0) / FOREIGN_REFRESH_MS),
    ]);
  const report = (all: boolean) => {
    const byRouter = new Map<string, InstanceStatus[]>();
    for (const i of engine.status()) {
      const { router } = instanceLabels(i.key);
      byRouter.set(router, [...(byRouter.get(router) ?? []), i]);
    }
    for (const router of last.keys()) if (!byRouter.has(router)) last.delete(router);
    const changed: InstanceStatus[] = [];
    for (const [router, instances] of byRouter) {
      const sig = instances.map(signature).join();
      if (!all && last.get(router) === sig) continue;
      last.set(router, sig);
      changed.push(...instances);
    }
    if (changed.length === 0) return;
    tell({
      type: "status",
      instances: changed.map((i) => {
        const { lastAdvertHeardAt, lastAnnounceAt, lastForeignAdvert, ...rest } = i;
        const heard = epoch(lastAdvertHeardAt);
        const announced = epoch(lastAnnounceAt);
        return {
          ...rest,
          since: epoch(i.since)!,
          ...(heard !== undefined ? { lastAdvertHeardAt: heard } : {}),
          ...(announced !== undefined ? { lastAnnounceAt: announced } : {}),
          ...(lastForeignAdvert
            ? { lastForeignAdvert: { ...lastForeignAdvert, at: epoch(lastForeignAdvert.at)! } }
            : {}),
        };
      }),
    });
  };
  const timer = setInterval(() => report(false), 1000);
  timer.unref();
  return {
    /** Something changed: the changed routers' status, once this moment's events are done. */
    report: () => {
      soon ??= setImmediate(() => {
        soon = undefined;
        report(false);
      });
    },
    all: () => report(true),
    stop: () => {
      clearInterval(timer);
      if (soon) clearImmediate(soon);
    },
  };
}

/**
 * Tracked files, from filesystem events on their directories (keepalived polls a script instead).
 * Paths are added as routers come; a watch stays until the engine ends (a few, and cheap).
 */
function fileWatch(onChange: (path: string, present: boolean) => void) {
  const watchers = new Map<string, FSWatcher | undefined>();
  const present = new Map<string, boolean>();
  return {
    /** Watches these paths (those not watched yet) and tells the state of each. */
    add(paths: readonly string[]): void {
      for (const path of new Set(paths)) {
        if (!watchers.has(path)) {
          present.set(path, existsSync(path));
          let watcher: FSWatcher | undefined;
          try {
            watcher = watch(dirname(path), () => {
              const now = existsSync(path);
              if (now !== present.get(path)) onChange(path, (present.set(path, now), now));
            });
          } catch {
            // The directory does not exist yet: the file cannot either. Not watched until a restart.
          }
          watchers.set(path, watcher);
        }
        onChange(path, present.get(path)!);
      }
    },
    close(): void {
      for (const w of watchers.values()) w?.close();
    },
  };
}
