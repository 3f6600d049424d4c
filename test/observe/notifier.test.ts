// Webhooks and mail for transitions, against a real HTTP receiver and a real SMTP server
// (smtp-server), both on this host's loopback: retries, the JSON body, keepalived-style mail.
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { Counters } from "../../src/base/counters.ts";
import type { TransitionEvent } from "../../src/observe/events.ts";
import type { InstancePlan } from "../../src/plan/plan.ts";
import { Notifier } from "../../src/observe/notifier.ts";
import { startSmtpSink, type ReceivedMail } from "../support/smtp-sink.ts";

const silent = pino({ level: "silent" });
const closers: (() => void)[] = [];
afterAll(() => closers.forEach((c) => c()));

const eventFor = (notify: InstancePlan["notify"]): TransitionEvent => ({
  plan: {
    key: "web/ipv4",
    router: "web",
    vrid: 51,
    addresses: [{ address: "198.18.0.50", prefixLength: 24, family: 4, dev: "eth0" }],
    notify,
  } as unknown as InstancePlan,
  from: "backup",
  to: "master",
  reason: "master-down",
  at: 0,
  priority: 150,
});

const body = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let b = "";
    req.on("data", (d: Buffer) => (b += d.toString()));
    req.on("end", () => resolve(b));
  });

describe("webhooks", () => {
  it("POSTs the transition as JSON, retrying after a server error", async () => {
    const received: unknown[] = [];
    let calls = 0;
    const server = createServer((req, res) => {
      calls++;
      void body(req).then((b) => {
        if (calls === 1) return res.writeHead(503).end();
        received.push({ type: req.headers["content-type"], body: JSON.parse(b) as unknown });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    closers.push(() => server.close());
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const counters = new Counters();
    const n = new Notifier("n1", silent, counters);
    n.notify(eventFor({ webhooks: [{ url, timeoutMs: 1000, retries: 2 }] }));
    await n.idle();
    expect(calls).toBe(2);
    expect(received).toEqual([
      {
        type: "application/json",
        body: expect.objectContaining({
          node: "n1",
          router: "web",
          instance: "web/ipv4",
          from: "backup",
          to: "master",
          priority: 150,
          addresses: ["198.18.0.50/24"],
        }) as unknown,
      },
    ]);
    expect(counters.get("notifications", { instance: "web/ipv4", channel: "webhook", result: "sent" })).toBe(
      1,
    );
  });

  it("gives up after its retries against a receiver that is not there, and counts the failure", async () => {
    const counters = new Counters();
    const n = new Notifier("n1", silent, counters);
    n.notify(eventFor({ webhooks: [{ url: "http://127.0.0.1:9/none", timeoutMs: 200, retries: 1 }] }));
    await n.idle();
    expect(
      counters.get("notifications", { instance: "web/ipv4", channel: "webhook", result: "failed" }),
    ).toBe(1);
  });
});

describe("mail", () => {
  it("sends keepalived's subject to every recipient through the SMTP server", async () => {
    const mails: ReceivedMail[] = [];
    const sink = await startSmtpSink(0, (m) => mails.push(m));
    closers.push(() => sink.close());
    const port = sink.port;
    const counters = new Counters();
    const n = new Notifier("n1", silent, counters);
    n.notify(
      eventFor({
        mail: {
          to: ["ops@example.org", "oncall@example.org"],
          from: "vk@example.org",
          host: "127.0.0.1",
          port,
          connectTimeoutMs: 3000,
          routerId: "LVS_DEVEL",
        },
      }),
    );
    await n.idle();
    expect(mails).toHaveLength(1);
    expect(mails[0]!.from).toBe("vk@example.org");
    expect(mails[0]!.to).toEqual(["ops@example.org", "oncall@example.org"]);
    expect(mails[0]!.data).toContain("Subject: [LVS_DEVEL] VRRP Instance web/ipv4 - Entering MASTER state");
    expect(counters.get("notifications", { instance: "web/ipv4", channel: "mail", result: "sent" })).toBe(1);
  });
});
