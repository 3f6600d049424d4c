// Transition notifications beyond scripts: webhooks (JSON POST, timeout, retries with backoff) and
// mail through an SMTP server as keepalived's smtp_alert sends it (nodemailer). Fire and forget:
// the VRRP engine hands the event over and never waits; failures are logged and counted.
import { Backoff } from "../base/backoff.ts";
import type { Logger } from "pino";
import type { TransitionEvent } from "./events.ts";
import type { Counters } from "../base/counters.ts";

/** The JSON body of a webhook, one per transition. */
export interface TransitionNotice {
  node: string;
  router: string;
  instance: string;
  /** The vrrp_instance name the router was imported from, when it was. */
  keepalivedInstance?: string;
  vrid: number;
  from: string;
  to: string;
  reason: string;
  priority: number;
  addresses: string[];
  /** When this node saw the transition (ISO 8601). */
  time: string;
}

export function transitionNotice(node: string, event: TransitionEvent, now = new Date()): TransitionNotice {
  return {
    node,
    router: event.plan.router,
    instance: event.plan.key,
    ...(event.plan.keepalivedName ? { keepalivedInstance: event.plan.keepalivedName } : {}),
    vrid: event.plan.vrid,
    from: event.from,
    to: event.to,
    reason: event.reason,
    priority: event.priority,
    addresses: event.plan.addresses.map((a) => `${a.address}/${a.prefixLength}`),
    time: now.toISOString(),
  };
}

/** keepalived's words: "Entering MASTER state". */
const STATE_WORD: Record<string, string> = {
  master: "MASTER",
  backup: "BACKUP",
  fault: "FAULT",
  initialize: "STOP",
};

export function mailText(n: TransitionNotice, routerId: string): { subject: string; text: string } {
  const state = STATE_WORD[n.to] ?? n.to.toUpperCase();
  return {
    // keepalived's subject, word for word, so admins' mail filters keep matching.
    subject: `[${routerId}] VRRP Instance ${n.keepalivedInstance ?? n.instance} - Entering ${state} state`,
    text: [
      `=> VRRP Instance ${n.instance} is now ${state} on ${n.node} <=`,
      `from ${n.from}, because: ${n.reason}; priority ${n.priority}; VRID ${n.vrid}`,
      `addresses: ${n.addresses.join(", ")}`,
      `at ${n.time}`,
      "",
    ].join("\n"),
  };
}

export class Notifier {
  private readonly node: string;
  private readonly log: Logger;
  private readonly counters: Counters | undefined;
  /** Sends under way (idle() waits for them: tests, and the engine's exit). */
  private pending = new Set<Promise<void>>();

  constructor(node: string, log: Logger, counters?: Counters) {
    this.node = node;
    this.log = log;
    this.counters = counters;
  }

  notify(event: TransitionEvent): void {
    const n = event.plan.notify;
    if (!n.webhooks?.length && !n.mail) return;
    const notice = transitionNotice(this.node, event);
    for (const hook of n.webhooks ?? []) this.track(this.postWebhook(hook, notice, event.plan.key));
    if (n.mail) this.track(this.sendMail(n.mail, notice, event.plan.key));
  }

  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }

  /** Resolves true once every send is done, or false if some are still going after `ms`. */
  async idleWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
    const done = await Promise.race([this.idle().then(() => true as const), late]);
    clearTimeout(timer);
    return done;
  }

  /** Something else sent on a transition (its scripts): idle() waits for it too. */
  track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private count(channel: string, instance: string, ok: boolean): void {
    this.counters?.add("notifications", { instance, channel, result: ok ? "sent" : "failed" });
  }

  private async postWebhook(
    hook: { url: string; timeoutMs: number; retries: number },
    notice: TransitionNotice,
    instance: string,
  ): Promise<void> {
    const error = await deliverWebhook(hook, notice);
    this.count("webhook", instance, error === undefined);
    if (error !== undefined) this.log.warn({ instance, url: hook.url, err: error }, "webhook not delivered");
  }

  private async sendMail(mail: MailPlan, notice: TransitionNotice, instance: string): Promise<void> {
    const error = await deliverMail(mail, mailText(notice, mail.routerId ?? this.node));
    this.count("mail", instance, error === undefined);
    if (error !== undefined)
      this.log.warn({ instance, server: `${mail.host}:${mail.port}`, err: error }, "mail not sent");
  }
}

export type MailPlan = NonNullable<TransitionEvent["plan"]["notify"]["mail"]>;
export type WebhookPlan = NonNullable<TransitionEvent["plan"]["notify"]["webhooks"]>[number];

/** POSTs `body` as JSON with retries and backoff; resolves with the last error, or undefined once delivered. */
export async function deliverWebhook(hook: WebhookPlan, body: unknown): Promise<string | undefined> {
  let lastError = "";
  const retry = new Backoff({ firstMs: 500, maxMs: 10_000 });
  for (let attempt = 0; attempt <= hook.retries; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, retry.next()));
    try {
      const res = await fetch(hook.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(hook.timeoutMs),
      });
      await res.body?.cancel();
      if (res.ok) return undefined;
      lastError = `HTTP ${res.status}`;
      if (res.status >= 400 && res.status < 500 && res.status !== 429) break; // the receiver refuses it
    } catch (err) {
      lastError = (err as Error).message;
    }
  }
  return lastError;
}

/** Sends one mail as keepalived's smtp_alert does; resolves with the error, or undefined once sent. */
export async function deliverMail(
  mail: MailPlan,
  message: { subject: string; text: string },
): Promise<string | undefined> {
  // Loaded on the first mail: it adds ~15 MB to every engine process, and most never send one.
  const { default: nodemailer } = await import("nodemailer");
  const transport = nodemailer.createTransport({
    host: mail.host,
    port: mail.port,
    secure: false,
    connectionTimeout: mail.connectTimeoutMs,
    greetingTimeout: mail.connectTimeoutMs,
    socketTimeout: mail.connectTimeoutMs,
  });
  try {
    await transport.sendMail({ from: mail.from, to: mail.to, ...message });
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    transport.close();
  }
}
