// One health check attempt against one real server, for each kind keepalived has: HTTP(S) GET
// with expected status and optional body digest, TCP connect, UDP (a reply, or no ICMP refusal),
// DNS query, and exec. Each resolves (never rejects) with ok, a reason and its latency.
import { createHash } from "node:crypto";
import { createSocket } from "node:dgram";
import { Resolver } from "node:dns/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { runShell } from "../agent/shell.ts";

export interface CheckResult {
  ok: boolean;
  /** Why it failed (or what it saw), for logs. */
  detail: string;
  latencyMs: number;
}

export type CheckSpec =
  | {
      type: "http" | "https";
      path: string;
      statusCodes: number[];
      digest?: string;
      host?: string;
      insecure?: boolean;
    }
  | { type: "tcp" }
  | { type: "udp"; payload?: string }
  | { type: "dns"; name: string; recordType: "A" | "AAAA" }
  | { type: "exec"; command: string };

export interface Target {
  address: string;
  port: number;
}

const started = () => performance.now();
const done = (t0: number, ok: boolean, detail: string): CheckResult => ({
  ok,
  detail,
  latencyMs: performance.now() - t0,
});

export function runCheck(spec: CheckSpec, target: Target, timeoutMs: number): Promise<CheckResult> {
  switch (spec.type) {
    case "http":
    case "https":
      return httpCheck(spec, target, timeoutMs);
    case "tcp":
      return tcpCheck(target, timeoutMs);
    case "udp":
      return udpCheck(spec, target, timeoutMs);
    case "dns":
      return dnsCheck(spec, target, timeoutMs);
    case "exec":
      return execCheck(spec, target, timeoutMs);
  }
}

function httpCheck(
  spec: Extract<CheckSpec, { type: "http" | "https" }>,
  target: Target,
  timeoutMs: number,
): Promise<CheckResult> {
  const t0 = started();
  return new Promise((resolve) => {
    const request = spec.type === "https" ? httpsRequest : httpRequest;
    const req = request(
      {
        host: target.address,
        port: target.port,
        path: spec.path,
        method: "GET",
        agent: false,
        timeout: timeoutMs,
        headers: { host: spec.host ?? target.address, "user-agent": "vipkeeper-health" },
        ...(spec.type === "https" ? { rejectUnauthorized: !spec.insecure, servername: spec.host } : {}),
      },
      (res) => {
        const hash = spec.digest ? createHash("md5") : undefined;
        res.on("data", (d: Buffer) => hash?.update(d));
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          if (!spec.statusCodes.includes(status)) return resolve(done(t0, false, `status ${status}`));
          const digest = hash?.digest("hex");
          if (spec.digest && digest !== spec.digest.toLowerCase())
            return resolve(done(t0, false, `digest ${digest ?? ""} differs`));
          resolve(done(t0, true, `status ${status}`));
        });
        res.on("error", (e) => resolve(done(t0, false, e.message)));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", (e) => resolve(done(t0, false, e.message)));
    req.end();
  });
}

function tcpCheck(target: Target, timeoutMs: number): Promise<CheckResult> {
  const t0 = started();
  return new Promise((resolve) => {
    const s = connect({ host: target.address, port: target.port, timeout: timeoutMs });
    s.once("connect", () => {
      s.destroy();
      resolve(done(t0, true, "connected"));
    });
    s.once("timeout", () => {
      s.destroy();
      resolve(done(t0, false, `no connection within ${timeoutMs} ms`));
    });
    s.once("error", (e) => resolve(done(t0, false, e.message)));
  });
}

/** keepalived's UDP_CHECK: healthy unless the port is refused (ICMP) or, with a payload, no reply. */
function udpCheck(
  spec: Extract<CheckSpec, { type: "udp" }>,
  target: Target,
  timeoutMs: number,
): Promise<CheckResult> {
  const t0 = started();
  return new Promise((resolve) => {
    const sock = createSocket(target.address.includes(":") ? "udp6" : "udp4");
    const finish = (ok: boolean, detail: string) => {
      clearTimeout(timer);
      sock.close();
      resolve(done(t0, ok, detail));
    };
    const timer = setTimeout(
      () => finish(!spec.payload, spec.payload ? "no reply" : "no refusal"),
      spec.payload ? timeoutMs : Math.min(timeoutMs, 500),
    );
    sock.on("error", (e) => finish(false, e.message));
    sock.on("message", () => finish(true, "reply"));
    sock.connect(target.port, target.address, () => sock.send(Buffer.from(spec.payload ?? "")));
  });
}

async function dnsCheck(
  spec: Extract<CheckSpec, { type: "dns" }>,
  target: Target,
  timeoutMs: number,
): Promise<CheckResult> {
  const t0 = started();
  const resolver = new Resolver({ timeout: timeoutMs, tries: 1 });
  resolver.setServers([
    target.address.includes(":") ? `[${target.address}]:${target.port}` : `${target.address}:${target.port}`,
  ]);
  try {
    const answers =
      spec.recordType === "AAAA" ? await resolver.resolve6(spec.name) : await resolver.resolve4(spec.name);
    return done(t0, answers.length > 0, `${answers.length} answers`);
  } catch (err) {
    return done(t0, false, (err as Error).message);
  }
}

async function execCheck(
  spec: Extract<CheckSpec, { type: "exec" }>,
  target: Target,
  timeoutMs: number,
): Promise<CheckResult> {
  const t0 = started();
  const r = await runShell(spec.command, { timeoutMs, args: [target.address, String(target.port)] });
  return done(t0, r.code === 0, r.timedOut ? "timed out" : (r.error ?? `exit ${r.code ?? "signal"}`));
}
