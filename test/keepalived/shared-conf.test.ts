// One keepalived.conf shared by several hosts: `@ID` conditional lines, `$NAME` parameters,
// `~SEQ`, and include combined with them. The cases in shared-conf-cases.ts are read by
// keepalived 2.2.7 the same way (keepalived-check.test.ts).
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  defaultConfigId,
  KeepalivedSyntaxError,
  parseKeepalived,
  parseKeepalivedFile,
  type Statement,
} from "../../src/keepalived/syntax.ts";
import { CASES, vipkeeperReads, writeCase } from "./shared-conf-cases.ts";

const read = (text: string, configId?: string) =>
  parseKeepalived(text, "k.conf", configId === undefined ? {} : { configId });
const words = (list: Statement[]) => list.map((s) => [s.keyword, ...s.args].join(" "));

/** The KeepalivedSyntaxError `f` throws. */
function syntaxError(f: () => unknown): KeepalivedSyntaxError {
  try {
    f();
  } catch (err) {
    if (err instanceof KeepalivedSyntaxError) return err;
    throw err;
  }
  throw new Error("no KeepalivedSyntaxError");
}

describe("a keepalived.conf shared between hosts", () => {
  describe.each(CASES)("$name", (c) => {
    it.each(Object.keys(c.reads))("reads what host %s reads", (id) => {
      expect(vipkeeperReads(writeCase(c.files), id)).toEqual(c.reads[id]);
    });
  });

  it("takes keepalived's default config id, the host name's first label", () => {
    expect(defaultConfigId("lb1.example.com")).toBe("lb1");
    expect(defaultConfigId("lb1")).toBe("lb1");
  });
});

describe("conditional lines", () => {
  it("without a config id, skips every @ID line and keeps every @^ID line, as keepalived without one", () => {
    expect(words(read("@n1 a\n@^n1 b\n"))).toEqual(["b"]);
  });

  it("on a block opener, take or leave the block with it", () => {
    const text = "@n1 unicast_peer { 198.18.0.2 }\n@^n1 unicast_peer { 198.18.0.1 }\n";
    expect(read(text, "n1")[0]!.children!.map((s) => s.keyword)).toEqual(["198.18.0.2"]);
    expect(read(text, "n2")[0]!.children!.map((s) => s.keyword)).toEqual(["198.18.0.1"]);
  });

  it("after a brace decide the rest of the line, its closing brace too", () => {
    expect(read("global_defs { @n1 router_id a }\n", "n1")[0]!.children).toMatchObject([
      { keyword: "router_id", args: ["a"], line: 1 },
    ]);
    const err = syntaxError(() => read("global_defs { @n1 router_id a }\n", "n2"));
    expect(err.message).toBe("k.conf:1: '{' is never closed");
  });

  it("are one condition per line, as keepalived reads them: a second @ID is a keyword", () => {
    expect(words(read("@n1 @n2 router_id a\n", "n1"))).toEqual(["@n2 router_id a"]);
  });
});

describe("parameters", () => {
  it("are replaced when a line is read, so a value refers to parameters defined after it (keepalived.conf(5))", () => {
    const text = `$ADDRESS_BASE=10.2.\${ADDRESS_BASE_SUB}
$ADDRESS_BASE_SUB=0
\${ADDRESS_BASE}.100/32
$ADDRESS_BASE_SUB=10
\${ADDRESS_BASE}.100/32
`;
    expect(read(text).map((s) => `${s.line} ${s.keyword}`)).toEqual(["3 10.2.0.100/32", "5 10.2.10.100/32"]);
  });

  it("leave an undefined $NAME as written (a script's own words), and refuse an undefined ${NAME} outside quotes", () => {
    expect(read('notify "/bin/echo $HOME ${HOME}" $USER\n')[0]!.args).toEqual([
      "/bin/echo $HOME ${HOME}",
      "$USER",
    ]);
    const err = syntaxError(() => read("vrrp_instance A {\n  priority ${PRIO}\n}\n"));
    expect(err.message).toBe("k.conf:2: ${PRIO}: parameter PRIO is not defined");
  });

  it("replace inside quotes, and keep the quoted words whole", () => {
    expect(read('$DIR=/etc/keepalived\nnotify "${DIR}/notify.sh master"\n')[0]!.args).toEqual([
      "/etc/keepalived/notify.sh master",
    ]);
  });

  it("give each line of a multi-line value the reference's line, and end the value at an empty line", () => {
    const top = read("$M=a \\\n  b 1 \\\n\nc\n$M\n");
    expect(top.map((s) => `${s.line} ${[s.keyword, ...s.args].join(" ")}`)).toEqual(["4 c", "5 a", "5 b 1"]);
  });

  it("refuse a multi-line value referred to before the end of a line, where keepalived leaves it unreplaced", () => {
    const err = syntaxError(() => read("$M=a \\\nb\nx $M y\n"));
    expect(err.line).toBe(3);
    expect(err.message).toContain("parameter M has several lines");
  });

  it("refuse a multi-line definition that a conditional skips: keepalived would read its continuation as configuration", () => {
    const text = "@n1 $PEERS=198.18.0.1 \\\n  198.18.0.2\nunicast_peer {\n  @n1 $PEERS\n}\n";
    expect(read(text, "n1")[0]!.children!.map((s) => s.keyword)).toEqual(["198.18.0.1", "198.18.0.2"]);
    const err = syntaxError(() => read(text, "n2"));
    expect(err.line).toBe(1);
    expect(err.message).toContain("multi-line definition on a conditional line");
  });

  it("refuse a parameter that refers to itself, naming it", () => {
    const err = syntaxError(() => read("$A=x$A\nrouter_id $A\n"));
    expect(err.message).toMatch(
      /^k\.conf:2: parameter substitution does not end: does \$A refer to itself\?$/,
    );
    // A multi-line value naming itself, and a ~SEQ whose line names the parameter it is in.
    for (const text of ["$M=a \\\n$M\n$M\n", "$S=~SEQ(I, 2) $S\n$S\n"])
      expect(syntaxError(() => read(text)).message).toContain("expand inside each other too deeply");
  });

  it("predefine _INSTANCE, _PWD, _HASH and _BANG, and refuse _RANDOM", () => {
    expect(read('router_id lb_${_INSTANCE}\nnotify "${_PWD}/x.sh ${_HASH}${_BANG}"\n', "n1")).toMatchObject([
      { keyword: "router_id", args: ["lb_n1"] },
      { keyword: "notify", args: [`${process.cwd()}/x.sh #!`] },
    ]);
    expect(syntaxError(() => read("router_id ${_RANDOM 1 9}\n")).message).toContain("_RANDOM");
  });
});

describe("~SEQ", () => {
  it("repeats the rest of its line, with keepalived's defaults for a missing start and step", () => {
    expect(words(read("~SEQ(I, 3) a$I\n"))).toEqual(["a1", "a2", "a3"]);
    expect(words(read("~SEQ(I, 0) a$I\n"))).toEqual(["a1", "a0"]); // keepalived starts at 1 unless the end is negative
    expect(words(read("~SEQ(I, 5, 3) a$I\n"))).toEqual(["a5", "a4", "a3"]);
    expect(words(read("$N=0x10\n~SEQx(I, 0x0e, 1, $N) a$I\n"))).toEqual(["ae", "af", "a10"]);
  });

  it.each([
    ["a step that never reaches the end", "~SEQ(I, 1, -1, 3) a\n", "never reaches the end"],
    ["no variable", "~SEQ(3) a\n", "expected ~SEQ(VAR"],
    ["a word for a number", "~SEQ(I, three) a\n", "whole numbers"],
    ["a negative ~SEQx", "~SEQx(I, -3) a\n", "positive numbers"],
    ["too many repetitions", "~SEQ(I, 1000000) a\n", "more than 100000"],
    ["a ~LST, not supported", "~LST(I, 1, 2) a$I\n", "~LST lists are not supported"],
  ])("refuses %s with its line", (_what, text, words) => {
    const err = syntaxError(() => read(`global_defs {\n}\n${text}`));
    expect(err.line).toBe(3);
    expect(err.message).toContain(words);
  });
});

describe("include with conditionals and parameters", () => {
  it("reports a problem in an included file with that file and line", () => {
    const main = writeCase({
      "main.conf": "include inc.conf\n",
      "inc.conf": "global_defs {\n  id ${NOPE}\n}\n",
    });
    const err = syntaxError(() => parseKeepalivedFile(main));
    expect(err.message).toBe(`${join(dirname(main), "inc.conf")}:2: \${NOPE}: parameter NOPE is not defined`);
  });

  it.each([
    ["a conditional", "@n1 include inc.conf\n"],
    ["a parameter", "$INC=include inc.conf\n$INC\n"],
  ])("refuses an include made by %s, which keepalived 2.2.7 reads twice", (_what, text) => {
    const main = writeCase({ "main.conf": text, "inc.conf": "router_id a\n" });
    const err = syntaxError(() => parseKeepalivedFile(main, { configId: "n1" }));
    expect(err.message).toContain("include made by a conditional or a parameter");
  });

  it("skips a conditional include for another host, and gives each file its own ${_PWD}", () => {
    const main = writeCase({
      "main.conf": "@n2 include inc.conf\ninclude sub/inc.conf\n",
      "sub/inc.conf": 'notify "${_PWD}/notify.sh"\n',
    });
    expect(parseKeepalivedFile(main, { configId: "n1" })).toMatchObject([
      { keyword: "notify", args: [`${dirname(main)}/sub/notify.sh`] },
    ]);
  });

  it("lets a block opened in one file take statements from the file it includes", () => {
    const main = writeCase({
      "main.conf": "vrrp_instance A {\n  include prio.conf\n}\n",
      "prio.conf": "@n1 priority 101\n",
    });
    expect(parseKeepalivedFile(main, { configId: "n1" })[0]!.children).toMatchObject([
      { keyword: "priority", args: ["101"], line: 1 },
    ]);
  });
});
