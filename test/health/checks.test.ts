// Health checks against real servers on this host's loopback: HTTP status and digest, TCP, UDP,
// DNS (a small responder), exec; and the scheduler's retries, rise / fall and concurrency.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createSocket } from "node:dgram";
import { createServer as createHttpServer } from "node:http";
import { rmSync } from "node:fs";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import pino from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { Counters } from "../../src/base/counters.ts";
import { runCheck } from "../../src/health/checkers.ts";
import { HealthScheduler, type CheckJob } from "../../src/health/scheduler.ts";
import { waitUntil } from "../../src/lab/wait.ts";

const closers: (() => void)[] = [];
afterAll(() => closers.forEach((c) => c()));
const LO = "127.0.0.1";

let status = 200;
let inFlight = 0;
let maxInFlight = 0;
const http = createHttpServer((req, res) => {
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  setTimeout(() => {
    inFlight--;
    res.writeHead(req.url === "/missing" ? 404 : status).end("hello");
  }, 20);
});
const port = await new Promise<number>((r) =>
  http.listen(0, LO, () => r((http.address() as AddressInfo).port)),
);
closers.push(() => http.close());

/** A port nothing listens on: bound, then closed. */
const closedPort = async () => {
  const s = createTcpServer();
  const p = await new Promise<number>((r) => s.listen(0, LO, () => r((s.address() as AddressInfo).port)));
  await new Promise((r) => s.close(r));
  return p;
};

describe("checkers", () => {
  it("HTTP: expected status codes, and keepalived's MD5 digest of the body", async () => {
    const md5 = createHash("md5").update("hello").digest("hex");
    const t = { address: LO, port };
    expect((await runCheck({ type: "http", path: "/", statusCodes: [200], digest: md5 }, t, 1000)).ok).toBe(
      true,
    );
    expect(
      await runCheck({ type: "http", path: "/", statusCodes: [200], digest: "00" }, t, 1000),
    ).toMatchObject({
      ok: false,
      detail: expect.stringContaining("digest") as string,
    });
    expect(await runCheck({ type: "http", path: "/missing", statusCodes: [200] }, t, 1000)).toMatchObject({
      ok: false,
      detail: "status 404",
    });
  });

  it("HTTP as keepalived sends it: HTTP/1.0 with the Host header; chunked and length-delimited bodies digested", async () => {
    // A raw server, so the test sees the request as sent and controls the framing of the answer.
    const requests: string[] = [];
    const answers: Record<string, string> = {
      "/chunked": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=1\r\nlo\r\n0\r\n\r\n",
      "/length": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
      "/garbage": "SSH-2.0-OpenSSH\r\n\r\n",
    };
    const raw = createTcpServer((sock) => {
      let got = "";
      sock.on("data", (d: Buffer) => {
        got += d.toString("latin1");
        if (!got.includes("\r\n\r\n")) return;
        requests.push(got);
        const path = got.split(" ")[1]!;
        // /length keeps the connection open: the length alone must end the check.
        if (path === "/length") sock.write(answers[path]!);
        else sock.end(answers[path] ?? "HTTP/1.0 404 Not Found\r\n\r\n");
      });
      sock.on("error", () => {});
    });
    const rawPort = await new Promise<number>((r) =>
      raw.listen(0, LO, () => r((raw.address() as AddressInfo).port)),
    );
    closers.push(() => raw.close());
    const t = { address: LO, port: rawPort };
    const md5 = createHash("md5").update("hello").digest("hex");
    for (const path of ["/chunked", "/length"])
      expect(await runCheck({ type: "http", path, statusCodes: [200], digest: md5 }, t, 2000)).toMatchObject({
        ok: true,
      });
    expect((await runCheck({ type: "http", path: "/garbage", statusCodes: [200] }, t, 2000)).detail).toBe(
      "not an HTTP response",
    );
    await runCheck({ type: "http", path: "/x", statusCodes: [200], host: "www.example.org" }, t, 2000);
    expect(requests[0]).toMatch(
      new RegExp(`^GET /chunked HTTP/1\\.0\r\nHost: 127\\.0\\.0\\.1:${rawPort}\r\n`),
    );
    expect(requests.at(-1)).toMatch(/^GET \/x HTTP\/1\.0\r\nHost: www\.example\.org\r\n/);
  });

  it("HTTP and TCP fail on a closed port, and on a server that does not answer in time", async () => {
    const closed = { address: LO, port: await closedPort() };
    expect((await runCheck({ type: "tcp" }, closed, 500)).ok).toBe(false);
    expect((await runCheck({ type: "http", path: "/", statusCodes: [200] }, closed, 500)).ok).toBe(false);
    expect((await runCheck({ type: "tcp" }, { address: LO, port }, 500)).ok).toBe(true);
    const slow = await runCheck({ type: "http", path: "/", statusCodes: [200] }, { address: LO, port }, 5);
    expect(slow.ok).toBe(false);
  });

  it("TCP and HTTP checks end their connection with a reset, leaving no TIME_WAIT behind", async () => {
    // How each connection ended, as the server saw it: a reset (ECONNRESET) or a FIN ("end").
    const endings: string[] = [];
    const server = createTcpServer((c) => {
      c.on("data", () => c.write("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"));
      c.on("end", () => endings.push("fin"));
      c.on("error", (e: NodeJS.ErrnoException) =>
        endings.push(e.code === "ECONNRESET" ? "reset" : e.message),
      );
    });
    const p = await new Promise<number>((r) =>
      server.listen(0, LO, () => r((server.address() as AddressInfo).port)),
    );
    closers.push(() => server.close());
    const t = { address: LO, port: p };
    const md5 = createHash("md5").update("hello").digest("hex");
    expect((await runCheck({ type: "tcp" }, t, 1000)).ok).toBe(true);
    expect((await runCheck({ type: "http", path: "/", statusCodes: [200] }, t, 1000)).ok).toBe(true);
    expect((await runCheck({ type: "http", path: "/", statusCodes: [200], digest: md5 }, t, 1000)).ok).toBe(
      true,
    );
    await waitUntil(() => endings.length === 3, 2000, "the server to see three endings");
    expect(endings).toEqual(["reset", "reset", "reset"]);
    // The checker's side of each connection is gone, not waiting 60 s in TIME_WAIT.
    const ss = spawnSync("ss", ["-Htan", "state", "time-wait", "dst", `${LO}:${p}`], { encoding: "utf8" });
    expect(ss.status).toBe(0);
    expect(ss.stdout.trim()).toBe("");
  });

  it("an answer that arrived while the agent's event loop was late passes: the limit waits for it to be read", async () => {
    // A server in another process: it tells when a request came, and answers 20 ms later, while
    // this process is kept busy past the checks' 50 ms limit (a loaded host's agent). The checks
    // end with a reset, so the server handles its sockets' errors, as any server must.
    const server = spawn(
      process.execPath,
      [
        "-e",
        `require("net").createServer((c) => c.on("error", () => {}).once("data", () => { console.log("request"); setTimeout(() => c.end("HTTP/1.0 200 OK\\r\\n\\r\\n"), 20); })).listen(0, "${LO}", function () { console.log(this.address().port); });`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    closers.push(() => server.kill());
    const line = () => new Promise<string>((r) => server.stdout.once("data", (d: Buffer) => r(d.toString())));
    const target = { address: LO, port: Number(await line()) };
    const busy = (ms: number) => {
      const until = Date.now() + ms;
      while (Date.now() < until); // the event loop blocked
    };
    // TCP: the connection completes in the kernel while the loop is blocked.
    const tcp = runCheck({ type: "tcp" }, target, 50);
    busy(300);
    expect(await tcp).toMatchObject({ ok: true });
    // HTTP: the request is out; the answer arrives while the loop is blocked.
    const requested = line();
    const http = runCheck({ type: "http", path: "/", statusCodes: [200] }, target, 50);
    await requested;
    busy(300);
    expect(await http).toMatchObject({ ok: true });
  });

  it("UDP: a refused port fails; a reply to a payload succeeds", async () => {
    const echo = createSocket("udp4");
    echo.on("message", (m, r) => echo.send(m, r.port, r.address));
    const p = await new Promise<number>((r) => echo.bind(0, LO, () => r(echo.address().port)));
    closers.push(() => echo.close());
    expect((await runCheck({ type: "udp", payload: "ping" }, { address: LO, port: p }, 500)).ok).toBe(true);
    const refused = createSocket("udp4");
    const rp = await new Promise<number>((r) => refused.bind(0, LO, () => r(refused.address().port)));
    refused.close();
    expect((await runCheck({ type: "udp" }, { address: LO, port: rp }, 500)).ok).toBe(false);
  });

  it("DNS: an answer for the name succeeds; NXDOMAIN fails", async () => {
    // A minimal responder: one A record for web.test, NXDOMAIN otherwise.
    const dns = createSocket("udp4");
    dns.on("message", (q, r) => {
      let o = 12;
      const labels: string[] = [];
      while (q[o]! > 0) {
        labels.push(q.subarray(o + 1, o + 1 + q[o]!).toString());
        o += q[o]! + 1;
      }
      const question = q.subarray(12, o + 5);
      const found = labels.join(".") === "web.test";
      const head = Buffer.from([q[0]!, q[1]!, 0x81, found ? 0x80 : 0x83, 0, 1, 0, found ? 1 : 0, 0, 0, 0, 0]);
      const answer = found
        ? Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 0, 1])
        : Buffer.alloc(0);
      dns.send(Buffer.concat([head, question, answer]), r.port, r.address);
    });
    const p = await new Promise<number>((r) => dns.bind(0, LO, () => r(dns.address().port)));
    closers.push(() => dns.close());
    const t = { address: LO, port: p };
    expect((await runCheck({ type: "dns", name: "web.test", recordType: "A" }, t, 1000)).ok).toBe(true);
    expect((await runCheck({ type: "dns", name: "nothing.test", recordType: "A" }, t, 1000)).ok).toBe(false);
  });

  it("exec: the exit status decides, with the server as $1 and $2", async () => {
    const t = { address: "198.18.0.12", port: 8080 };
    expect((await runCheck({ type: "exec", command: '[ "$1:$2" = 198.18.0.12:8080 ]' }, t, 1000)).ok).toBe(
      true,
    );
    expect((await runCheck({ type: "exec", command: "exit 1" }, t, 1000)).ok).toBe(false);
  });
});

describe("the scheduler", () => {
  const job = (over: Partial<CheckJob> = {}): CheckJob => ({
    service: "web",
    server: `${LO}:${port}`,
    target: { address: LO, port },
    spec: { type: "http", path: "/", statusCodes: [200] },
    intervalMs: 40,
    timeoutMs: 500,
    retries: 0,
    delayBeforeRetryMs: 10,
    rise: 2,
    fall: 2,
    ...over,
  });

  it("reports down after `fall` failed rounds and up after `rise` good ones, each once", async () => {
    const changes: boolean[] = [];
    const counters = new Counters();
    const s = new HealthScheduler({
      log: pino({ level: "silent" }),
      counters,
      onChange: (_j, h) => changes.push(h),
    });
    status = 200;
    s.start([job()]);
    await new Promise((r) => setTimeout(r, 200));
    expect(changes).toEqual([]); // healthy from the start: no news
    status = 500;
    await new Promise((r) => setTimeout(r, 300));
    expect(changes).toEqual([false]);
    status = 200;
    await new Promise((r) => setTimeout(r, 300));
    s.stop();
    expect(changes).toEqual([false, true]);
    expect(counters.get("real_server_transitions", { service: "web", to: "down" })).toBe(1);
  });

  it("retries inside a round: a single failed attempt followed by a good one is no failure", async () => {
    const changes: boolean[] = [];
    const s = new HealthScheduler({ log: pino({ level: "silent" }), onChange: (_j, h) => changes.push(h) });
    // exec fails every other call: each round's retry succeeds
    const flip = `/tmp/vk-flip-${process.pid}`;
    s.start([
      job({
        spec: {
          type: "exec",
          command: `if [ -e ${flip} ]; then rm ${flip}; exit 0; else touch ${flip}; exit 1; fi`,
        },
        retries: 1,
        fall: 1,
      }),
    ]);
    await new Promise((r) => setTimeout(r, 400));
    s.stop();
    rmSync(flip, { force: true });
    expect(changes).toEqual([]);
  });

  it("never runs more than `concurrency` checks at once", async () => {
    maxInFlight = 0;
    const s = new HealthScheduler({
      concurrency: 3,
      log: pino({ level: "silent" }),
      onChange: () => undefined,
    });
    s.start(Array.from({ length: 20 }, (_, i) => job({ server: `s${i}`, intervalMs: 10 })));
    await new Promise((r) => setTimeout(r, 300));
    s.stop();
    expect(maxInFlight).toBeGreaterThan(0);
    expect(maxInFlight).toBeLessThanOrEqual(3);
  });
});
