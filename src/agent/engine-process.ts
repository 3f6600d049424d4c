// The engine process: opens this node's VRRP sockets, runs the VRRP engine on real timers, follows
// link and file tracking, reports its masters to the supervisor, and on SIGTERM/SIGINT resigns and
// releases everything before exiting 0.
import { existsSync, watch, type FSWatcher } from "node:fs";
import { dirname } from "node:path";
import { performance } from "node:perf_hooks";
import { createLogger } from "../observe/log.ts";
import { VrrpEngine, type Clock } from "./engine.ts";
import { openHostNetwork } from "./host.ts";
import { createVirtualMacs, removeVirtualMacs } from "./virtual-mac.ts";
import { DEFAULT_ADDRESS_LIFETIME } from "./address-keeper.ts";
import { removeEnginePidFile, writeEnginePidFile } from "./leftovers.ts";
import { withoutOwnAddresses, type NodePlan } from "../plan/plan.ts";
import { Notifier } from "../observe/notifier.ts";
import { runGroupNotifyScripts, runNotifyScripts } from "../observe/notify-scripts.ts";
import { startScriptTrackers } from "./script-tracker.ts";
import type { EngineMessage } from "./supervisor.ts";
import type { EngineUpdate } from "./engine-main.ts";

/** How long an ending engine waits for its last notifications: inside the supervisor's 5 s grace. */
const NOTIFY_AT_EXIT_MS = 3000;

export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, delayMs) => {
    const t = setTimeout(fn, delayMs);
    return { cancel: () => clearTimeout(t) };
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
}

export async function runEngineProcess(plan: NodePlan, args: EngineArgs): Promise<number> {
  const log = createLogger("engine", { node: args.node });
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
  // Packets may arrive before the engine exists; they are dropped until it does.
  const deliver: { to?: VrrpEngine } = {};
  // The virtual MACs' interfaces first: the VRRP sockets of those instances are bound to them.
  const vmacs = await createVirtualMacs(plan.instances, log);
  const host = await openHostNetwork(
    plan.instances,
    log,
    (ifname, family, packet) => deliver.to?.receive(ifname, family, packet),
    args.permanentAddresses ? {} : { addressLifetime: DEFAULT_ADDRESS_LIFETIME },
  ).catch(async (err: unknown) => {
    await vmacs.remove();
    throw err;
  });
  const engine = new VrrpEngine({
    plans: withoutOwnAddresses(plan.instances, host.localAddresses),
    port: (p) => host.vrrpPort(p),
    addresses: host.addresses,
    announcer: host.announcer,
    routes: host.routes,
    clock: realClock,
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
  const running = engine;
  await host.watchLinks((name, up) => running.setLink(name, up));
  const watchers = watchFiles(plan, (path, present) => running.setFile(path, present));
  await running.start();
  const scripts = startScriptTrackers(
    plan.instances,
    (router, name, ok) => running.setScript(router, name, ok),
    log,
  );
  tell({ type: "ready" });
  reporter?.report();
  const onUpdate = (msg: EngineUpdate | { type: "snapshot"; id: number }) => {
    // The agent's main process serves the metrics, and asks each engine for a snapshot.
    if (msg.type === "snapshot") {
      tell({
        type: "snapshot",
        id: msg.id,
        instances: running.status(),
        counters: running.counters.entries(),
      });
      return;
    }
    if (msg.type === "tracked") {
      for (const t of msg.states) running.setClusterTracked(t.name, t.healthy);
      return;
    }
    if (msg.type === "remove") {
      const gone = plan.instances.filter((i) => msg.routers.includes(i.router));
      void running
        .removeRouters(new Set(msg.routers))
        .then(() => removeVirtualMacs(gone, process.pid, log))
        .catch((err: unknown) =>
          log.error({ err: (err as Error).message }, "could not remove a stopped router's virtual MAC"),
        )
        .then(() => reporter?.report());
      return;
    }
    if (msg.type !== "addresses") return;
    for (const i of msg.instances) {
      running.updateAddresses(i.key, i.addresses);
      running.updateSources(i.key, i.sources);
    }
    reporter?.report();
  };
  process.on("message", onUpdate);

  await stopAsked;
  process.off("disconnect", onDisconnect); // the engine disconnects by itself at the end
  log.info({ orphaned }, "resigning and releasing addresses");
  scripts.stop();
  reporter?.stop();
  await running.stop();
  tell({ type: "state", masters: [] });
  for (const w of watchers) w.close();
  host.close();
  await vmacs
    .remove()
    .catch((err: unknown) => log.error({ err: (err as Error).message }, "could not remove virtual MACs"));
  removeEnginePidFile(pidFile);
  process.off("message", onUpdate);
  // What the stop told (scripts, webhooks, mail) may finish, within the supervisor's stop grace:
  // the addresses are released already, and a receiver that hangs must not keep the engine.
  if (!(await notifier.idleWithin(NOTIFY_AT_EXIT_MS)))
    log.warn({ waitedMs: NOTIFY_AT_EXIT_MS }, "notifications still under way at exit; left undone");
  // The IPC channel would keep this process alive; the agent may have closed it first (it exits).
  if (process.connected) process.disconnect();
  return 0;
}

/** While a foreign source goes on speaking, its `at` in the status is refreshed this often. */
const FOREIGN_REFRESH_MS = 20_000;

/**
 * Status for the supervisor: at once on a transition, else when a check each second finds a change
 * worth a status write (priority, the master heard, addresses held, a foreign source, or the same
 * one FOREIGN_REFRESH_MS later) — never one per advert.
 */
function statusReporter(engine: VrrpEngine, tell: (msg: EngineMessage) => void) {
  let last = "";
  const epoch = (t: number | undefined) =>
    t === undefined ? undefined : Math.round(Date.now() - (performance.now() - t));
  const report = (force = true) => {
    const instances = engine.status();
    const significant = JSON.stringify(
      instances.map((i) => [
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
      ]),
    );
    if (!force && significant === last) return;
    last = significant;
    tell({
      type: "status",
      instances: instances.map((i) => {
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
  return { report: () => report(true), stop: () => clearInterval(timer) };
}

/** Tracked files, from filesystem events on their directories (keepalived polls a script instead). */
function watchFiles(plan: NodePlan, onChange: (path: string, present: boolean) => void): FSWatcher[] {
  const paths = [...new Set(plan.instances.flatMap((i) => i.track.files.map((f) => f.path)))];
  const watchers: FSWatcher[] = [];
  for (const path of paths) {
    let present = existsSync(path);
    onChange(path, present);
    try {
      watchers.push(
        watch(dirname(path), () => {
          const now = existsSync(path);
          if (now !== present) onChange(path, (present = now));
        }),
      );
    } catch {
      // The directory does not exist yet: the file cannot either. Not watched until a restart.
    }
  }
  return watchers;
}
