// Real server up/down notifications, as keepalived's checkers send them: webhooks (JSON naming the
// virtual server and the real server), mail with keepalived's subject, and the real server's
// notify_up / notify_down scripts. Fire and forget: the load balancer hands the change over and
// the dataplane never waits on a receiver; failures are logged and counted.
import type { Logger } from "pino";
import type { Counters } from "../base/counters.ts";
import type { NotifyPlan } from "../plan/plan.ts";
import { runShell } from "../base/shell.ts";
import { deliverMail, deliverWebhook, type MailPlan, type WebhookPlan } from "./notifier.ts";

const SCRIPT_TIMEOUT_MS = 60_000;

/** A real server's health changed (what the health scheduler reports). */
export interface RealServerChange {
  /** The load balancer's key of the service (namespace/name). */
  service: string;
  /** The real server's key (address:port, [v6]:port). */
  server: string;
  healthy: boolean;
  /** What the last check saw. */
  detail: string;
}

/** The JSON body of a webhook, one per real server transition. */
export interface RealServerNotice {
  type: "real-server";
  node: string;
  virtualServer: string;
  /** The service as keepalived writes it in mail: [address]:port, or FWM n. */
  service: string;
  realServer: string;
  state: "up" | "down";
  detail: string;
  /** When this node saw the change (ISO 8601). */
  time: string;
}

/** Where one service's changes go. */
export interface ServiceNotify {
  /** keepalived's label of the virtual server: 198.18.0.1:80, [2001:db8::1]:80, FWM 7. */
  label: string;
  webhooks?: WebhookPlan[];
  mail?: MailPlan;
  /** notify_up / notify_down by real server key. */
  scripts?: ReadonlyMap<string, { up?: string; down?: string }>;
}

export function realServerNotice(
  node: string,
  change: RealServerChange,
  label: string,
  now = new Date(),
): RealServerNotice {
  return {
    type: "real-server",
    node,
    virtualServer: change.service,
    service: label,
    realServer: change.server,
    state: change.healthy ? "up" : "down",
    detail: change.detail,
    time: now.toISOString(),
  };
}

/** keepalived's words: "[LVS_DEVEL] Realserver 10.0.0.1:80 of virtual server 10.0.0.100:80 - DOWN". */
export function realServerMailText(n: RealServerNotice, routerId: string): { subject: string; text: string } {
  const state = n.state === "up" ? "UP" : "DOWN";
  return {
    subject: `[${routerId}] Realserver ${n.realServer} of virtual server ${n.service} - ${state}`,
    text: [
      `=> Realserver ${n.realServer} of virtual server ${n.service} (${n.virtualServer}) is ${state} on ${n.node} <=`,
      `last check: ${n.detail}`,
      `at ${n.time}`,
      "",
    ].join("\n"),
  };
}

/**
 * The Kubernetes Event of a real server's change, on its VirtualServer (cluster mode; only the
 * master of the VirtualServer's router records it): "n2: real server 198.18.0.11:80 down (…)",
 * with what the last check saw, as the webhooks and mail carry it.
 */
export function realServerEvent(
  node: string,
  change: RealServerChange,
): { type: "Normal" | "Warning"; reason: "RealServerUp" | "RealServerDown"; message: string } {
  const state = change.healthy ? "up" : "down";
  return {
    type: change.healthy ? "Normal" : "Warning",
    reason: change.healthy ? "RealServerUp" : "RealServerDown",
    message: `${node}: real server ${change.server} ${state}${change.detail ? ` (${change.detail})` : ""}`,
  };
}

/** keepalived's label of a service: the address with port, or its firewall mark (a group's: its first). */
export function serviceLabel(spec: {
  address?: string;
  port?: number;
  fwmark?: number;
  group?: { address?: string; port?: number; fwmark?: number }[];
}): string {
  if (spec.group?.[0]) return serviceLabel(spec.group[0]);
  if (spec.fwmark !== undefined) return `FWM ${spec.fwmark}`;
  const a = spec.address ?? "?";
  return a.includes(":") ? `[${a}]:${spec.port ?? 0}` : `${a}:${spec.port ?? 0}`;
}

/** Webhooks and mail of the router that keeps a service's address, from its plan. */
export function fromRouterNotify(label: string, notify: NotifyPlan | undefined): ServiceNotify {
  return {
    label,
    ...(notify?.webhooks?.length ? { webhooks: notify.webhooks } : {}),
    ...(notify?.mail ? { mail: notify.mail } : {}),
  };
}

export class RealServerNotifier {
  private readonly node: string;
  private readonly log: Logger;
  private readonly counters: Counters | undefined;
  private readonly lookup: (service: string) => ServiceNotify | undefined;
  private readonly pending = new Set<Promise<void>>();

  constructor(opts: {
    node: string;
    log: Logger;
    counters?: Counters;
    lookup: (service: string) => ServiceNotify | undefined;
  }) {
    this.node = opts.node;
    this.log = opts.log;
    this.counters = opts.counters;
    this.lookup = opts.lookup;
  }

  /** Hands the change over and returns at once. */
  notify(change: RealServerChange): void {
    const where = this.lookup(change.service);
    if (!where) return;
    const notice = realServerNotice(this.node, change, where.label);
    for (const hook of where.webhooks ?? [])
      this.track("webhook", change, deliverWebhook(hook, notice), { url: hook.url });
    if (where.mail)
      this.track(
        "mail",
        change,
        deliverMail(where.mail, realServerMailText(notice, where.mail.routerId ?? this.node)),
        { server: `${where.mail.host}:${where.mail.port}` },
      );
    const script = where.scripts?.get(change.server)?.[change.healthy ? "up" : "down"];
    if (script)
      this.track(
        "script",
        change,
        runShell(script, { timeoutMs: SCRIPT_TIMEOUT_MS }).then((r) =>
          r.code === 0 ? undefined : (r.error ?? (r.timedOut ? "timed out" : `exit ${r.code ?? "signal"}`)),
        ),
        { command: script },
      );
  }

  /** For tests and shutdown: resolves when every delivery started so far has finished. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }

  private track(
    channel: string,
    change: RealServerChange,
    delivery: Promise<string | undefined>,
    context: Record<string, string>,
  ): void {
    const p = delivery.then(
      (error) => this.done(channel, change, error, context),
      (err: unknown) => this.done(channel, change, (err as Error).message, context),
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private done(
    channel: string,
    change: RealServerChange,
    error: string | undefined,
    context: Record<string, string>,
  ): void {
    this.counters?.add("lb_notifications", {
      virtual_server: change.service,
      channel,
      result: error === undefined ? "sent" : "failed",
    });
    if (error !== undefined)
      this.log.warn(
        { service: change.service, server: change.server, channel, ...context, err: error },
        "real server notification failed",
      );
  }
}
