import { mkdtempSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  KeepalivedSyntaxError,
  parseKeepalived,
  parseKeepalivedFile,
  type Statement,
} from "../../src/keepalived/syntax.ts";

const FIXTURES = join(import.meta.dirname, "../fixtures/keepalived"); // copied from shared/fixtures

const find = (list: Statement[], keyword: string, arg?: string) =>
  list.find((s) => s.keyword === keyword && (arg === undefined || s.args[0] === arg));

describe("keepalived.conf syntax", () => {
  it("reads the tutorial's haproxy pair as written", () => {
    const top = parseKeepalivedFile(join(FIXTURES, "haproxy-pair-master.conf"));
    expect(top.map((s) => `${s.keyword} ${s.args.join(" ")}`.trim())).toEqual([
      "global_defs",
      "vrrp_script chk_haproxy",
      "vrrp_script chk_mantaince_down",
      "vrrp_instance VI_1",
    ]);
    const script = find(top, "vrrp_script", "chk_mantaince_down")!;
    expect(find(script.children!, "script")!.args).toEqual([
      "[[ -f /etc/keepalived/down ]] && exit 1 || exit 0",
    ]);
    const vi = find(top, "vrrp_instance", "VI_1")!;
    expect(find(vi.children!, "state")).toMatchObject({ args: ["MASTER"], line: 26 }); // the trailing comment is gone
    expect(find(vi.children!, "virtual_ipaddress")!.children![0]).toMatchObject({
      keyword: "172.16.100.1/16",
      args: ["dev", "eth0", "label", "eth0:0"],
    });
    expect(find(vi.children!, "notify_master")!.args).toEqual(["/etc/keepalived/notify.sh master"]);
  });

  it("reads every fixture", () => {
    for (const f of ["haproxy-dual-master.conf", "lvs-dr-http.conf", "lvs-dr-tcp.conf"]) {
      expect(parseKeepalivedFile(join(FIXTURES, f)).length).toBeGreaterThan(0);
    }
    const lvs = parseKeepalivedFile(join(FIXTURES, "lvs-dr-tcp.conf"));
    const vs = find(lvs, "virtual_server")!;
    expect(vs.args).toEqual(["172.16.100.1", "80"]);
    expect(vs.children!.filter((s) => s.keyword === "real_server")).toHaveLength(2);
  });

  it("takes blocks on one line and braces without spaces", () => {
    const top = parseKeepalived("vrrp_instance A{ virtual_ipaddress { 198.18.0.50/24 198.18.0.51 } }\n");
    expect(top[0]).toMatchObject({ keyword: "vrrp_instance", args: ["A"] });
    expect(top[0]!.children![0]!.children![0]).toMatchObject({
      keyword: "198.18.0.50/24",
      args: ["198.18.0.51"],
    });
  });

  it("includes files by glob, relative to the including file", () => {
    const dir = mkdtempSync(join(tmpdir(), "vk-inc-"));
    mkdirSync(join(dir, "conf.d"));
    writeFileSync(join(dir, "conf.d", "a.conf"), "vrrp_instance A {\n}\n");
    writeFileSync(join(dir, "conf.d", "b.conf"), "vrrp_instance B {\n}\n");
    writeFileSync(join(dir, "main.conf"), "global_defs {\n}\ninclude conf.d/*.conf\n");
    const top = parseKeepalivedFile(join(dir, "main.conf"));
    expect(top.map((s) => s.args[0] ?? s.keyword)).toEqual(["global_defs", "A", "B"]);
    expect(top[1]!.file).toBe(join(dir, "conf.d", "a.conf"));
  });

  it.each([
    ["an unclosed block", "vrrp_instance A {\n  priority 100\n", 1, "never closed"],
    ["a stray close", "}\n", 1, "without a matching"],
    ["an unterminated quote", 'vrrp_script s {\n  script "killall -0 x\n}\n', 2, "unterminated"],
    // Found by bench/fuzz.ts: 20,000 nested blocks exhausted the stack (a RangeError, not this error).
    [
      "blocks nested too deep",
      "global_defs {\n~SEQ(i, 20000) vrrp_instance X {\n",
      2,
      "nested more than 64 deep",
    ],
    [
      "an include that cannot be read, at its include line",
      "global_defs {\n}\ninclude missing.conf\n",
      3,
      "cannot read",
    ],
  ])("reports %s with its line", (_name, text, line, words) => {
    try {
      parseKeepalived(text, "k.conf");
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(KeepalivedSyntaxError);
      expect((err as KeepalivedSyntaxError).line).toBe(line);
      expect((err as Error).message).toContain(words);
      expect((err as Error).message).toMatch(/^k\.conf:\d+: /);
    }
  });
});
