// One health check attempt against one real server, for each kind keepalived has: HTTP(S) GET
// with expected status and optional body digest (every url in turn), TCP connect, UDP (a reply,
// or no ICMP refusal), DNS query, SMTP (banner, HELO, QUIT), ICMP echo, and exec. Each resolves
// (never rejects) with ok, a reason and its latency.
import { createHash } from "node:crypto";
import { createSocket } from "node:dgram";
import { Resolver } from "node:dns/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect, type Socket } from "node:net";
import { runShell } from "../base/shell.ts";
import { icmpEcho } from "../net/icmp-echo.ts";

export interface CheckResult {
  ok: boolean;
  /**
   * The outcome in a few words (a status code, an error, a count), for logs and Events. Never what
   * the target answered: a namespace's check must not read a node's services through it.
   */
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
      /** Further URLs, each fetched in turn after the first; all must pass (keepalived's url blocks). */
      more?: { path: string; statusCodes: number[]; digest?: string }[];
    }
  | { type: "smtp"; helo: string }
  | { type: "ping" }
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

/** The check against every target in turn (a real server's check targets): all must pass. */
export async function runChecks(
  spec: CheckSpec,
  targets: readonly Target[],
  timeoutMs: number,
): Promise<CheckResult> {
  if (targets.length === 1) return runCheck(spec, targets[0]!, timeoutMs);
  const t0 = started();
  for (const t of targets) {
    const r = await runCheck(spec, t, timeoutMs);
    if (!r.ok) return done(t0, false, `${hostHeader(undefined, t)}: ${r.detail}`);
  }
  return done(t0, true, `${targets.length} targets passed`);
}

export function runCheck(spec: CheckSpec, target: Target, timeoutMs: number): Promise<CheckResult> {
  switch (spec.type) {
    case "http":
    case "https":
      return spec.more?.length ? everyUrl(spec, target, timeoutMs) : oneUrl(spec, target, timeoutMs);
    case "smtp":
      return smtpCheck(spec, target, timeoutMs);
    case "ping":
      return pingCheck(target, timeoutMs);
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

type HttpSpec = Extract<CheckSpec, { type: "http" | "https" }>;

function oneUrl(spec: HttpSpec, target: Target, timeoutMs: number): Promise<CheckResult> {
  return spec.type === "https" ? httpCheck(spec, target, timeoutMs) : plainHttpCheck(spec, target, timeoutMs);
}

/** keepalived's HTTP_GET / SSL_GET with several url blocks: each in turn, on its own connection; all must pass. */
async function everyUrl(spec: HttpSpec, target: Target, timeoutMs: number): Promise<CheckResult> {
  const t0 = started();
  const { more, ...first } = spec;
  const urls = [first, ...(more ?? []).map((u) => ({ ...first, digest: undefined, ...u }))];
  for (const u of urls) {
    const r = await oneUrl(u, target, timeoutMs);
    if (!r.ok) return done(t0, false, `${u.path}: ${r.detail}`);
  }
  return done(t0, true, `${urls.length} urls passed`);
}

/** A line-oriented reply: the status of its last line ("250-a\r\n250 b\r\n" is one reply). */
function smtpReply(buffer: string): { status: number; rest: string } | undefined {
  let p = 0;
  for (;;) {
    const eol = buffer.indexOf("\r\n", p);
    if (eol < 0) return undefined;
    const line = buffer.slice(p, eol);
    p = eol + 2;
    if (!/^\d{3}-/.test(line))
      return { status: /^\d{3}/.test(line) ? Number(line.slice(0, 3)) : 0, rest: buffer.slice(p) };
  }
}

/** keepalived's SMTP_CHECK: the 220 banner, HELO answered by 250, QUIT. */
function smtpCheck(
  spec: Extract<CheckSpec, { type: "smtp" }>,
  target: Target,
  timeoutMs: number,
): Promise<CheckResult> {
  const t0 = started();
  return new Promise((resolve) => {
    const sock = connect({ host: target.address, port: target.port });
    const { finish, limit } = attempt(t0, resolve, () => sock.destroy());
    limit(timeoutMs, () => finish(false, `no answer within ${timeoutMs} ms (${step})`));
    let step: "banner" | "HELO" | "QUIT" = "banner";
    let received = "";
    sock.setEncoding("latin1");
    sock.on("data", (d: string) => {
      received += d;
      if (received.length > MAX_HEAD) return finish(false, "reply too long");
      for (;;) {
        const reply = smtpReply(received);
        if (!reply) return;
        received = reply.rest;
        if (step === "banner") {
          if (reply.status !== 220) return finish(false, `banner ${reply.status || "not SMTP"}`);
          step = "HELO";
          sock.write(`HELO ${spec.helo}\r\n`);
        } else if (step === "HELO") {
          if (reply.status !== 250) return finish(false, `HELO answered ${reply.status}`);
          step = "QUIT";
          sock.write("QUIT\r\n");
        } else return finish(true, "banner, HELO and QUIT answered");
      }
    });
    // Some servers close at once after QUIT without a 221: the HELO already passed, as for keepalived.
    sock.once("end", () => finish(step === "QUIT", `connection closed before the ${step} reply`));
    sock.once("error", (e) => finish(false, e.message));
  });
}

async function pingCheck(target: Target, timeoutMs: number): Promise<CheckResult> {
  const t0 = started();
  const r = await icmpEcho(target.address, timeoutMs);
  return done(t0, r.ok, r.detail);
}

/**
 * The one verdict of an attempt on a socket: the first call of `finish` wins, clears the time limit
 * and closes the socket (a reply and the limit may both come, and closing twice would throw).
 */
function attempt(t0: number, resolve: (r: CheckResult) => void, close: () => void) {
  let settled = false;
  let timer: NodeJS.Timeout | undefined;
  const finish = (ok: boolean, detail: string) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    close();
    resolve(done(t0, ok, detail));
  };
  const limit = (ms: number, expire: () => void) => void (timer = deadline(ms, expire));
  return { finish, limit };
}

/**
 * Ends a check's TCP connection with a reset once it has its answer, as HAProxy does with its
 * checks: a FIN close leaves the connection in TIME_WAIT, in the node's socket table for 60 s and
 * in conntrack (loaded with the nftables backend's NAT) for 120 s, so 10,000 checks a second fill a
 * 262,144-entry table and the kernel drops new connections and the node's VRRP adverts (found by
 * bench/under-load.ts); after a reset conntrack keeps the entry 10 s. A socket still connecting has
 * sent no more than a SYN and is simply destroyed. Banner protocols (SMTP) close gracefully
 * instead, since servers like Postfix log every reset as an error.
 */
function abortCheck(sock: Socket): void {
  if (sock.connecting || sock.destroyed) sock.destroy();
  else sock.resetAndDestroy();
}

/**
 * A check's time limit. When it fires, the verdict waits one turn of the event loop: timers run
 * before sockets are polled, so on a loop running late (a busy host) the limit could fire before
 * an answer that had already arrived is read, and a healthy server would be failed for the agent's
 * own lag (seen at saturation: bench/health-keepalived.ts).
 */
function deadline(ms: number, expire: () => void): NodeJS.Timeout {
  return setTimeout(() => setImmediate(expire), ms);
}

function httpCheck(spec: HttpSpec, target: Target, timeoutMs: number): Promise<CheckResult> {
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
            return resolve(done(t0, false, "body digest differs from spec"));
          resolve(done(t0, true, `status ${status}`));
        });
        res.on("error", (e) => resolve(done(t0, false, e.message)));
      },
    );
    // An idle timeout: read what has arrived before giving up (see deadline()).
    req.on("timeout", () => setImmediate(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`))));
    req.on("error", (e) => resolve(done(t0, false, e.message)));
    req.end();
  });
}

const MAX_HEAD = 64 * 1024;
const MAX_BODY = 16 * 1024 * 1024;

/** The Host header: the configured name, else the address (bracketed for IPv6) and a non-80 port. */
function hostHeader(host: string | undefined, target: Target): string {
  if (host) return host;
  const a = target.address.includes(":") ? `[${target.address}]` : target.address;
  return target.port === 80 ? a : `${a}:${target.port}`;
}

/** A chunked body's data, or undefined when it is malformed. */
export function dechunk(body: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let p = 0;
  for (;;) {
    const eol = body.indexOf("\r\n", p);
    if (eol < 0) return undefined;
    const size = parseInt(body.subarray(p, eol).toString("latin1").split(";")[0]!, 16);
    if (!Number.isFinite(size)) return undefined;
    if (size === 0) return Buffer.concat(parts);
    if (eol + 2 + size > body.length) return undefined;
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    p = eol + 2 + size + 2;
  }
}

/**
 * Plain HTTP as keepalived's HTTP_GET does it: one HTTP/1.0 GET on a fresh connection. Written on
 * the socket rather than with node:http, which costs several times the CPU per check; without a
 * digest the answer is decided by its status line and the connection closed at once.
 */
function plainHttpCheck(spec: HttpSpec, target: Target, timeoutMs: number): Promise<CheckResult> {
  const t0 = started();
  return new Promise((resolve) => {
    const sock = connect({ host: target.address, port: target.port });
    const { finish, limit } = attempt(t0, resolve, () => abortCheck(sock));
    limit(timeoutMs, () => finish(false, `no answer within ${timeoutMs} ms`));
    sock.setNoDelay(true);
    sock.once("connect", () =>
      sock.write(
        `GET ${spec.path} HTTP/1.0\r\nHost: ${hostHeader(spec.host, target)}\r\nUser-Agent: vipkeeper-health\r\nConnection: close\r\n\r\n`,
      ),
    );
    let received: Buffer = Buffer.alloc(0);
    let status = 0;
    let bodyAt = -1;
    let chunked = false;
    let length: number | undefined;
    const judgeBody = () => {
      let body: Buffer = received.subarray(bodyAt);
      if (chunked) {
        const data = dechunk(body);
        if (!data) return finish(false, "malformed chunked body");
        body = data;
      } else if (length !== undefined) body = body.subarray(0, length);
      const digest = createHash("md5").update(body).digest("hex");
      if (digest !== spec.digest!.toLowerCase()) finish(false, "body digest differs from spec");
      else finish(true, `status ${status}`);
    };
    sock.on("data", (d: Buffer) => {
      received = received.length === 0 ? d : Buffer.concat([received, d]);
      if (bodyAt < 0) {
        const end = received.indexOf("\r\n\r\n");
        if (end < 0) {
          if (received.length > MAX_HEAD) finish(false, "response head too long");
          return;
        }
        const head = received.subarray(0, end).toString("latin1");
        const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head);
        if (!m) return finish(false, "not an HTTP response");
        status = Number(m[1]);
        if (!spec.statusCodes.includes(status)) return finish(false, `status ${status}`);
        if (!spec.digest) return finish(true, `status ${status}`);
        bodyAt = end + 4;
        chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(head);
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        if (cl) length = Number(cl[1]);
      }
      if (received.length - bodyAt > MAX_BODY) return finish(false, "body too long for a digest");
      if (length !== undefined && !chunked && received.length - bodyAt >= length) judgeBody();
    });
    sock.once("end", () => {
      if (bodyAt >= 0) judgeBody();
      else finish(false, status ? `status ${status}` : "connection closed before a response");
    });
    sock.once("error", (e) => finish(false, e.message));
  });
}

function tcpCheck(target: Target, timeoutMs: number): Promise<CheckResult> {
  const t0 = started();
  return new Promise((resolve) => {
    const s = connect({ host: target.address, port: target.port });
    const { finish, limit } = attempt(t0, resolve, () => abortCheck(s));
    limit(timeoutMs, () => finish(false, `no connection within ${timeoutMs} ms`));
    s.once("connect", () => finish(true, "connected"));
    s.once("error", (e) => finish(false, e.message));
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
    const { finish, limit } = attempt(t0, resolve, () => sock.close());
    limit(spec.payload ? timeoutMs : Math.min(timeoutMs, 500), () =>
      finish(!spec.payload, spec.payload ? "no reply" : "no refusal"),
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
