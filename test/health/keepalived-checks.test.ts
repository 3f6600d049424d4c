// keepalived's checks as keepalived runs them, against real servers in the lab (n2) checked from
// another host (n1): every url of an HTTP_GET must pass, each with its own path, status and
// digest; SMTP_CHECK (220 banner, 250 to HELO, QUIT) against its host list; PING_CHECK over ICMP
// and ICMPv6. Each passing and failing. Lab prefix "vkhc-".
import { createHash } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckResult, CheckSpec, Target } from "../../src/health/checkers.ts";
import { Lab } from "../../src/lab/lab.ts";

const SERVERS = join(import.meta.dirname, "lab-servers.ts");
const CHECK = join(import.meta.dirname, "check-once.ts");
const md5 = (s: string) => createHash("md5").update(s).digest("hex");

let lab: Lab;
let rs: { v4: string; v6: string };
/** An address on the lab's segment that nobody holds. */
const NOBODY = { v4: "198.18.0.99", v6: "2001:db8::99" };

beforeAll(async () => {
  lab = Lab.create({ prefix: "vkhc-", nodes: 2 });
  lab.destroyOnExit();
  rs = { v4: lab.node("n2").ipv4, v6: lab.node("n2").ipv6 };
  const servers = lab.spawn("n2", [process.execPath, SERVERS]);
  await new Promise<void>((resolve, reject) => {
    let out = "";
    servers.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("ready")) resolve();
    });
    servers.once("exit", (code) => reject(new Error(`lab servers exited (${code})`)));
  });
}, 60_000);
afterAll(() => lab?.destroy());

/** Runs the checks from n1, one process for the list. */
function check(cases: { spec: CheckSpec; targets: Target[]; timeoutMs?: number }[]): CheckResult[] {
  const out = lab.exec("n1", [
    process.execPath,
    CHECK,
    JSON.stringify(cases.map((c) => ({ timeoutMs: 2000, ...c }))),
  ]);
  return JSON.parse(out) as CheckResult[];
}

const http = (more: { path: string; statusCodes: number[]; digest?: string }[]): CheckSpec => ({
  type: "http",
  path: "/a",
  statusCodes: [200],
  digest: md5("alpha"),
  more,
});

describe("keepalived's checks in the lab", () => {
  it("HTTP_GET with several url blocks: healthy only when every url passes, each with its own path, status and digest", () => {
    const at = [{ address: rs.v4, port: 8080 }];
    const [all, badStatus, badDigest, v6] = check([
      {
        spec: http([
          { path: "/b", statusCodes: [200], digest: md5("beta") },
          { path: "/created", statusCodes: [201] },
        ]),
        targets: at,
      },
      // The first url passes; the second's status is not one it accepts.
      { spec: http([{ path: "/missing", statusCodes: [200] }]), targets: at },
      // The second url's own digest (not the first's) is compared with its body.
      { spec: http([{ path: "/b", statusCodes: [200], digest: md5("alpha") }]), targets: at },
      {
        spec: http([{ path: "/b", statusCodes: [200], digest: md5("beta") }]),
        targets: [{ address: rs.v6, port: 8080 }],
      },
    ]);
    expect(all).toMatchObject({ ok: true, detail: "3 urls passed" });
    expect(badStatus).toMatchObject({ ok: false, detail: "/missing: status 404" });
    // The detail never carries what the target answered (its digest): see SECURITY.md.
    expect(badDigest).toMatchObject({ ok: false, detail: "/b: body digest differs from spec" });
    expect(v6).toMatchObject({ ok: true, detail: "2 urls passed" });
  }, 30_000);

  it("SMTP_CHECK: banner, HELO and QUIT; a refusing banner, a refused HELO or no server fail; a host list must all pass", () => {
    const smtp: CheckSpec = { type: "smtp", helo: "foo.bar.com" };
    const [good, multiLine, v6, badBanner, badHelo, closed, hosts, hostsOneDown] = check([
      { spec: smtp, targets: [{ address: rs.v4, port: 25 }] },
      { spec: smtp, targets: [{ address: rs.v4, port: 2500 }] },
      { spec: smtp, targets: [{ address: rs.v6, port: 25 }] },
      { spec: smtp, targets: [{ address: rs.v4, port: 2525 }] },
      { spec: smtp, targets: [{ address: rs.v4, port: 2526 }] },
      { spec: smtp, targets: [{ address: rs.v4, port: 2599 }] },
      // keepalived's host blocks: every host of the list is checked.
      {
        spec: smtp,
        targets: [
          { address: rs.v4, port: 25 },
          { address: rs.v6, port: 2500 },
        ],
      },
      {
        spec: smtp,
        targets: [
          { address: rs.v4, port: 25 },
          { address: NOBODY.v4, port: 25 },
        ],
        timeoutMs: 1500,
      },
    ]);
    expect(good).toMatchObject({ ok: true, detail: "banner, HELO and QUIT answered" });
    expect(multiLine).toMatchObject({ ok: true });
    expect(v6).toMatchObject({ ok: true });
    expect(badBanner).toMatchObject({ ok: false, detail: "banner 554" });
    expect(badHelo).toMatchObject({ ok: false, detail: "HELO answered 501" });
    expect(closed).toMatchObject({ ok: false, detail: expect.stringContaining("ECONNREFUSED") as string });
    expect(hosts).toMatchObject({ ok: true, detail: "2 targets passed" });
    expect(hostsOneDown).toMatchObject({
      ok: false,
      detail: expect.stringContaining(`${NOBODY.v4}:25: `) as string,
    });
  }, 30_000);

  it("PING_CHECK: an ICMP or ICMPv6 echo answered passes; an address nobody holds, or a host that drops echo, fails", () => {
    const ping: CheckSpec = { type: "ping" };
    const t = (address: string) => [{ address, port: 0 }];
    const [v4, v6, nobody4, nobody6] = check([
      { spec: ping, targets: t(rs.v4) },
      { spec: ping, targets: t(rs.v6) },
      { spec: ping, targets: t(NOBODY.v4), timeoutMs: 1000 },
      { spec: ping, targets: t(NOBODY.v6), timeoutMs: 1000 },
    ]);
    expect(v4).toMatchObject({ ok: true, detail: "echo reply" });
    expect(v6).toMatchObject({ ok: true, detail: "echo reply" });
    expect(nobody4).toMatchObject({ ok: false, detail: "no echo reply within 1000 ms" });
    expect(nobody6).toMatchObject({ ok: false, detail: "no echo reply within 1000 ms" });
    // The real server alive but dropping echo requests (its firewall): down, and up again once it answers.
    lab.exec(
      "n2",
      ["nft", "-f", "-"],
      [
        "table inet vkhc {",
        "  chain echo_drop {",
        "    type filter hook input priority 0;",
        "    icmp type echo-request drop",
        "    icmpv6 type echo-request drop",
        "  }",
        "}",
        "",
      ].join("\n"),
    );
    const [dropped4, dropped6] = check([
      { spec: ping, targets: t(rs.v4), timeoutMs: 1000 },
      { spec: ping, targets: t(rs.v6), timeoutMs: 1000 },
    ]);
    expect(dropped4).toMatchObject({ ok: false });
    expect(dropped6).toMatchObject({ ok: false });
    lab.exec("n2", ["nft", "delete", "table", "inet", "vkhc"]);
    expect(check([{ spec: ping, targets: t(rs.v4) }])[0]).toMatchObject({ ok: true });
  }, 30_000);
});
