// Real server up/down, end to end on this host's loopback: real HTTP real servers checked by the
// health scheduler, whose changes go through the load balancer's hooks to a real webhook receiver,
// a real SMTP server (keepalived's subject), notify_up/notify_down scripts, and Prometheus metrics
// scraped over HTTP from the registry the agent serves.
import { serveMetrics } from "../../src/observe/http-endpoint.ts";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { Counters } from "../../src/base/counters.ts";
import { loadConfig } from "../../src/file-mode/config-file.ts";
import { checkJobs } from "../../src/lb/from-api.ts";
import type { CheckJob } from "../../src/health/scheduler.ts";
import { HealthScheduler } from "../../src/health/scheduler.ts";
import { LoadBalancerMetrics } from "../../src/observe/lb-metrics.ts";
import { agentLoadBalancerHooks, loadBalancerHooks } from "../../src/observe/lb-observer.ts";
import { VrrpMetrics } from "../../src/observe/metrics.ts";
import {
  RealServerNotifier,
  realServerEvent,
  realServerMailText,
  realServerNotice,
  serviceLabel,
} from "../../src/observe/real-server-notifier.ts";
import { startSmtpSink, type ReceivedMail } from "../support/smtp-sink.ts";

const silent = pino({ level: "silent" });
const closers: (() => void)[] = [];
afterAll(() => closers.forEach((c) => c()));

const listen = async (server: Server): Promise<number> => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => server.close());
  return (server.address() as AddressInfo).port;
};
const body = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let b = "";
    req.on("data", (d: Buffer) => (b += d.toString()));
    req.on("end", () => resolve(b));
  });
const until = async (what: string, ok: () => boolean, ms = 10_000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe("wording", () => {
  it("keepalived's mail subject for real servers, and labels for IPv4, IPv6 and fwmark services", () => {
    const n = realServerNotice(
      "lb1",
      { service: "default/vs-web", server: "198.18.0.11:80", healthy: false, detail: "status 503" },
      serviceLabel({ address: "198.18.0.100", port: 80 }),
      new Date(0),
    );
    expect(realServerMailText(n, "LVS_DEVEL").subject).toBe(
      "[LVS_DEVEL] Realserver 198.18.0.11:80 of virtual server 198.18.0.100:80 - DOWN",
    );
    expect(serviceLabel({ address: "2001:db8::1", port: 443 })).toBe("[2001:db8::1]:443");
    expect(serviceLabel({ fwmark: 7 })).toBe("FWM 7");
  });

  it("the Kubernetes Event of a real server's change: Warning RealServerDown, Normal RealServerUp", () => {
    const change = { service: "shop/web", server: "198.18.0.11:80", detail: "status 503" };
    expect(realServerEvent("n2", { ...change, healthy: false })).toEqual({
      type: "Warning",
      reason: "RealServerDown",
      message: "n2: real server 198.18.0.11:80 down (status 503)",
    });
    expect(
      realServerEvent("n2", { ...change, server: "[2001:db8::11]:80", healthy: true, detail: "" }),
    ).toEqual({
      type: "Normal",
      reason: "RealServerUp",
      message: "n2: real server [2001:db8::11]:80 up",
    });
  });
});

describe("a real server going down and up again", () => {
  it("reaches the webhook, the mail server, the scripts and the metrics; a hanging webhook delays nothing", async () => {
    // The real server: healthy until told to fail.
    let failing = false;
    const realPort = await listen(
      createServer((_req, res) => res.writeHead(failing ? 503 : 200, { connection: "close" }).end("ok")),
    );
    // A webhook receiver that records, and one that never answers.
    const hooks: { body: Record<string, unknown>; type: string | undefined }[] = [];
    const hookPort = await listen(
      createServer((req, res) => {
        void body(req).then((b) => {
          hooks.push({ body: JSON.parse(b) as Record<string, unknown>, type: req.headers["content-type"] });
          res.writeHead(204).end();
        });
      }),
    );
    const hanging = createServer(() => {}); // never answers
    const hangingPort = await listen(hanging);
    closers.push(() => hanging.closeAllConnections());
    const mails: ReceivedMail[] = [];
    const sink = await startSmtpSink(0, (m) => mails.push(m));
    closers.push(() => sink.close());
    const dir = mkdtempSync(join(tmpdir(), "vk-rs-"));
    const server = `127.0.0.1:${realPort}`;
    const service = "default/vs-web";

    const counters = new Counters();
    const notifier = new RealServerNotifier({
      node: "lb1",
      log: silent,
      counters,
      lookup: (s) =>
        s === service
          ? {
              label: serviceLabel({ address: "198.18.0.100", port: 80 }),
              webhooks: [
                { url: `http://127.0.0.1:${hookPort}/rs`, timeoutMs: 2000, retries: 0 },
                { url: `http://127.0.0.1:${hangingPort}/rs`, timeoutMs: 3000, retries: 0 },
              ],
              mail: {
                to: ["root@localhost"],
                from: "keepalived@localhost",
                host: "127.0.0.1",
                port: sink.port,
                connectTimeoutMs: 3000,
                routerId: "LVS_DEVEL",
              },
              scripts: new Map([
                [server, { up: `echo up >> ${dir}/events`, down: `echo down >> ${dir}/events` }],
              ]),
            }
          : undefined,
    });
    const vrrp = new VrrpMetrics({ counters: new Counters(), status: () => [] });
    const metrics = new LoadBalancerMetrics(vrrp.registry);
    const lbHooks = loadBalancerHooks({ log: silent, metrics, notifier });

    // The dataplane's side of a change: it must run before any receiver has answered.
    const order: string[] = [];
    const job: CheckJob = {
      service,
      server,
      target: { address: "127.0.0.1", port: realPort },
      spec: { type: "http", path: "/", statusCodes: [200] },
      intervalMs: 100,
      timeoutMs: 1000,
      retries: 0,
      delayBeforeRetryMs: 0,
      rise: 1,
      fall: 1,
    };
    const scheduler = new HealthScheduler({
      log: silent,
      onResult: (j, r) => lbHooks.checked?.(j, r),
      onChange: (j, healthy, last) => {
        lbHooks.changed?.(j, healthy, last);
        order.push(`dataplane ${healthy ? "up" : "down"} (hooks delivered: ${hooks.length})`);
        lbHooks.dataplaneUpdated?.("nftables", true, 0.002);
      },
    });
    lbHooks.started?.([job]);
    scheduler.start([job]);
    closers.push(() => scheduler.stop());

    failing = true;
    await until("the down notifications", () => hooks.length >= 1 && mails.length >= 1);
    failing = false;
    await until("the up notifications", () => hooks.length >= 2 && mails.length >= 2);
    scheduler.stop();
    // The dataplane went first each time, before the receiver had anything.
    expect(order).toEqual(["dataplane down (hooks delivered: 0)", "dataplane up (hooks delivered: 1)"]);
    expect(hooks.map((h) => [h.type, h.body.state, h.body.realServer, h.body.virtualServer])).toEqual([
      ["application/json", "down", server, service],
      ["application/json", "up", server, service],
    ]);
    expect(hooks[0]!.body).toMatchObject({ type: "real-server", node: "lb1", service: "198.18.0.100:80" });
    expect(hooks[0]!.body.detail).toBe("status 503");
    expect(mails.map((m) => /Subject: (.*)/.exec(m.data.replace(/\r?\n[ \t]+/g, " "))?.[1])).toEqual([
      `[LVS_DEVEL] Realserver ${server} of virtual server 198.18.0.100:80 - DOWN`,
      `[LVS_DEVEL] Realserver ${server} of virtual server 198.18.0.100:80 - UP`,
    ]);
    await until(
      "the scripts",
      () =>
        existsSync(join(dir, "events")) && readFileSync(join(dir, "events"), "utf8").split("\n").length >= 3,
    );
    expect(readFileSync(join(dir, "events"), "utf8")).toBe("down\nup\n");
    // The hanging receiver times out and is counted as failed; the others as sent.
    await notifier.idle();
    const sent = (channel: string, result: string) =>
      counters.get("lb_notifications", { virtual_server: service, channel, result });
    expect([
      sent("webhook", "sent"),
      sent("webhook", "failed"),
      sent("mail", "sent"),
      sent("script", "sent"),
    ]).toEqual([2, 2, 2, 2]);

    // The metrics, scraped over HTTP from the agent's registry.
    const http = await serveMetrics("127.0.0.1:0", vrrp.registry);
    closers.push(() => http.close());
    const text = await (
      await fetch(`http://127.0.0.1:${(http.address() as AddressInfo).port}/metrics`)
    ).text();
    const labels = `virtual_server="${service}",real_server="${server}"`;
    expect(text).toContain(`vipkeeper_lb_real_server_up{${labels}} 1`);
    expect(text).toContain(`vipkeeper_lb_real_server_transitions_total{${labels},to="down"} 1`);
    expect(text).toContain(`vipkeeper_lb_real_server_transitions_total{${labels},to="up"} 1`);
    expect(text).toMatch(/vipkeeper_health_check_duration_seconds_count\{kind="http",result="ok"\} [1-9]/);
    expect(text).toMatch(
      /vipkeeper_health_check_duration_seconds_count\{kind="http",result="failed"\} [1-9]/,
    );
    expect(text).toContain('vipkeeper_lb_dataplane_update_seconds_count{backend="nftables"} 2');
    // VRRP metrics are still there: one endpoint for both.
    expect(text).toContain("vipkeeper_vrrp_instance_state");
  }, 30_000);

  it("a hook that throws is logged and does not reach the caller", () => {
    const hooks = loadBalancerHooks({
      log: silent,
      notifier: {
        notify: () => {
          throw new Error("boom");
        },
      } as unknown as RealServerNotifier,
    });
    expect(() =>
      hooks.changed?.({ service: "s", server: "x:1", spec: { type: "tcp" } } as CheckJob, false, {
        ok: false,
        detail: "refused",
        latencyMs: 1,
      }),
    ).not.toThrow();
  });
});

describe("the agent's wiring from a keepalived.conf", () => {
  it("mails with global_defs' settings and runs notify_down, for a change the load balancer reports", async () => {
    const mails: ReceivedMail[] = [];
    const sink = await startSmtpSink(0, (m) => mails.push(m));
    closers.push(() => sink.close());
    const dir = mkdtempSync(join(tmpdir(), "vk-rsconf-"));
    const file = join(dir, "keepalived.conf");
    writeFileSync(
      file,
      `global_defs {
  notification_email {
    root@localhost
  }
  notification_email_from keepalived@localhost
  smtp_server 127.0.0.1 ${sink.port}
  router_id LVS_DEVEL
  smtp_alert
}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  priority 101
  virtual_ipaddress {
    198.18.0.100/24
  }
}
virtual_server 198.18.0.100 80 {
  real_server 198.18.0.11 80 {
    notify_down "echo down >> ${dir}/events"
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
`,
    );
    const config = loadConfig(file, "lb1");
    const vrrp = new VrrpMetrics({ counters: new Counters(), status: () => [] });
    const { hooks, notifier } = agentLoadBalancerHooks({
      node: "lb1",
      log: silent,
      routers: config.routers,
      virtualServers: config.virtualServers,
      realServerScripts: config.realServerScripts ?? [],
      registry: vrrp.registry,
    });
    const job = checkJobs(config.virtualServers[0]!)[0]!;
    hooks.started?.([job]);
    hooks.changed?.(job, false, { ok: false, detail: "connection refused", latencyMs: 1 });
    await notifier.idle();
    expect(mails.map((m) => /Subject: (.*)/.exec(m.data.replace(/\r?\n[ \t]+/g, " "))?.[1])).toEqual([
      "[LVS_DEVEL] Realserver 198.18.0.11:80 of virtual server 198.18.0.100:80 - DOWN",
    ]);
    expect(readFileSync(join(dir, "events"), "utf8")).toBe("down\n");
    const text = await vrrp.registry.metrics();
    expect(text).toContain(
      'vipkeeper_lb_real_server_up{virtual_server="default/vs-198-18-0-100-80",real_server="198.18.0.11:80"} 0',
    );
  });
});
