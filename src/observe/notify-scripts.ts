// keepalived's notify scripts: notify_master / _backup / _fault / _stop run as given, and `notify`
// with INSTANCE <name> <STATE> <priority> appended (the vrrp_instance's own name when the router
// was imported from a keepalived.conf). Fire and forget: VRRP never waits on them;
// a failure or an overrun is logged.
import type { Logger } from "pino";
import type { GroupTransitionEvent, TransitionEvent } from "./events.ts";
import { runShell } from "../base/shell.ts";

const TIMEOUT_MS = 60_000;

/** keepalived's state word for a transition's target. */
function stateWord(to: string): "MASTER" | "BACKUP" | "FAULT" | "STOP" {
  if (to === "master") return "MASTER";
  if (to === "fault") return "FAULT";
  if (to === "initialize") return "STOP";
  return "BACKUP";
}

/** The commands a transition runs, with their arguments (pure). */
export function notifyCommands(event: TransitionEvent): { command: string; args: string[] }[] {
  const n = event.plan.notify;
  const word = stateWord(event.to);
  const out: { command: string; args: string[] }[] = [];
  const specific = { MASTER: n.master, BACKUP: n.backup, FAULT: n.fault, STOP: n.stop }[word];
  if (specific) out.push({ command: specific, args: [] });
  if (n.any)
    out.push({
      command: n.any,
      args: ["INSTANCE", event.plan.keepalivedName ?? event.plan.router, word, String(event.priority)],
    });
  return out;
}

/** A sync group's commands (keepalived's vrrp_sync_group notify_*; `notify` gets GROUP <name> <STATE>). */
export function groupNotifyCommands(event: GroupTransitionEvent): { command: string; args: string[] }[] {
  // Set on one member; where several set them, the first by name.
  const n = [...event.members]
    .sort((a, b) => a.router.localeCompare(b.router))
    .find((m) => m.syncGroupNotify)?.syncGroupNotify;
  if (!n) return [];
  const word = { master: "MASTER", backup: "BACKUP", fault: "FAULT", stop: "STOP" }[event.to];
  const out: { command: string; args: string[] }[] = [];
  const specific = { master: n.master, backup: n.backup, fault: n.fault, stop: n.stop }[event.to];
  if (specific) out.push({ command: specific, args: [] });
  if (n.any) out.push({ command: n.any, args: ["GROUP", n.group, word] });
  return out;
}

/** Starts a sync group's scripts; the promise (never rejected) ends when they have. */
export function runGroupNotifyScripts(event: GroupTransitionEvent, log: Logger): Promise<void> {
  return runCommands(groupNotifyCommands(event), `group ${event.group}`, log);
}

/** Starts the transition's scripts; the promise (never rejected) ends when they have. */
export function runNotifyScripts(event: TransitionEvent, log: Logger): Promise<void> {
  return runCommands(notifyCommands(event), event.plan.key, log);
}

function runCommands(
  commands: { command: string; args: string[] }[],
  instance: string,
  log: Logger,
): Promise<void> {
  return Promise.all(
    commands.map(({ command, args }) => {
      // keepalived appends its arguments to the command line: `notify.sh` gets INSTANCE name ...
      const line = args.length ? `${command} "$@"` : command;
      return runShell(line, { timeoutMs: TIMEOUT_MS, args }).then((r) => {
        if (r.code !== 0)
          log.warn(
            { instance, command, code: r.code, timedOut: r.timedOut, err: r.error },
            "notify script failed",
          );
      });
    }),
  ).then(() => undefined);
}
