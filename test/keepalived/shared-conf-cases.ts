// Small keepalived.conf files that share one configuration between hosts (`@ID` lines, `$NAME`
// parameters, `~SEQ`, include), with what each host reads from them. What a host reads is seen
// through probes inside vrrp_instance blocks: `p_*` keywords (keepalived reports each as an
// unknown keyword, with its file and line) and `priority p_*` values (keepalived reports each as
// an invalid number). shared-conf.test.ts checks that vipkeeper reads exactly these probes, and
// keepalived-check.test.ts that keepalived 2.2.7 (`keepalived -t -i ID -f FILE`) reads the same.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { parseKeepalivedFile, type Statement } from "../../src/keepalived/syntax.ts";

export interface SharedConfCase {
  name: string;
  /** Relative path -> text; main.conf is the file given to keepalived / vipkeeper. */
  files: Record<string, string>;
  /** Config id -> the probes read, in order, as `FILE:LINE p_keyword` or `FILE:LINE priority VALUE`. */
  reads: Record<string, string[]>;
}

export const CASES: SharedConfCase[] = [
  {
    name: "conditional lines",
    files: {
      "main.conf": `vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  virtual_ipaddress {
    198.18.0.1
  } @n1 p_after_brace_n1
  @n1 priority p101
  @n2 priority p100
  @^n1 p_not_n1
\t@n2\tp_tab_n2
  @n1
  @ n1 p_empty_id
  @N1 p_other_case
  @n1 p_commented_n1 # a comment
}
@n2 vrrp_instance VI_2 {
@n2   interface eth0
@n2   virtual_router_id 2
@n2   virtual_ipaddress { 198.18.0.2 }
@n2   p_in_vi2_n2
@n2 }
`,
    },
    reads: {
      n1: ["main.conf:6 p_after_brace_n1", "main.conf:7 priority p101", "main.conf:14 p_commented_n1"],
      n2: [
        "main.conf:8 priority p100",
        "main.conf:9 p_not_n1",
        "main.conf:10 p_tab_n2",
        "main.conf:20 p_in_vi2_n2",
      ],
      n3: ["main.conf:9 p_not_n1"],
    },
  },
  {
    name: "parameters",
    files: {
      "main.conf": `$PRIO=p_prio_default
@n1 $PRIO=p_prio_n1
$BASE=p_\${SUB}
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  virtual_ipaddress {
    198.18.0.1
  }
  priority $PRIO
  priority "x \${PRIO} y"
  $LOCAL=p_local
  $LOCAL
  \${LOCAL}_braced
  p_\${_INSTANCE}
  $SUB=one
  $BASE
  $SUB=two
  \${BASE}
  p_$UNDEFINED
  $IF_N1=@n1
  $IF_N1 p_via_param_n1
  $EMPTY=
  $EMPTY p_after_empty
}
`,
    },
    reads: {
      n1: [
        "main.conf:10 priority p_prio_n1",
        "main.conf:11 priority x p_prio_n1 y",
        "main.conf:13 p_local",
        "main.conf:14 p_local_braced",
        "main.conf:15 p_n1",
        "main.conf:17 p_one",
        "main.conf:19 p_two",
        "main.conf:20 p_$UNDEFINED",
        "main.conf:22 p_via_param_n1",
        "main.conf:24 p_after_empty",
      ],
      n2: [
        "main.conf:10 priority p_prio_default",
        "main.conf:11 priority x p_prio_default y",
        "main.conf:13 p_local",
        "main.conf:14 p_local_braced",
        "main.conf:15 p_n2",
        "main.conf:17 p_one",
        "main.conf:19 p_two",
        "main.conf:20 p_$UNDEFINED",
        "main.conf:24 p_after_empty",
      ],
    },
  },
  {
    name: "multi-line parameters and ~SEQ",
    files: {
      "main.conf": `$INSTANCE= \\
vrrp_instance VI_\${NUM} { \\
  interface eth0 \\
  virtual_router_id \${NUM} \\
  @n1 priority p_\${NUM}_n1 \\
  @^n1 priority p_\${NUM}_other \\
  # a comment, gone \\
  p_instance_\${NUM}   ! and another \\
  virtual_ipaddress { \\
    198.18.0.\${NUM} \\
  } \\
  $EXTRA \\
}
$EXTRA=p_extra_\${NUM}
$NUM=1
$INSTANCE
~SEQ(NUM, 2, 3) $INSTANCE
vrrp_instance VI_9 {
  interface eth0
  virtual_router_id 9
  virtual_ipaddress {
    198.18.0.9
  }
  ~SEQx(H, 9, 3, 15) p_hex_$H
  ~SEQ(I, 2, -1, 1) ~SEQ(J, 2) p_\${I}_$J
}
`,
    },
    reads: {
      n1: [
        ...[16, 17, 17].flatMap((line, i) => [
          `main.conf:${line} priority p_${i + 1}_n1`,
          `main.conf:${line} p_instance_${i + 1}`,
          `main.conf:${line} p_extra_${i + 1}`,
        ]),
        "main.conf:24 p_hex_9",
        "main.conf:24 p_hex_c",
        "main.conf:24 p_hex_f",
        "main.conf:25 p_2_1",
        "main.conf:25 p_2_2",
        "main.conf:25 p_1_1",
        "main.conf:25 p_1_2",
      ],
      n2: [
        ...[16, 17, 17].flatMap((line, i) => [
          `main.conf:${line} priority p_${i + 1}_other`,
          `main.conf:${line} p_instance_${i + 1}`,
          `main.conf:${line} p_extra_${i + 1}`,
        ]),
        "main.conf:24 p_hex_9",
        "main.conf:24 p_hex_c",
        "main.conf:24 p_hex_f",
        "main.conf:25 p_2_1",
        "main.conf:25 p_2_2",
        "main.conf:25 p_1_1",
        "main.conf:25 p_1_2",
      ],
    },
  },
  {
    name: "nested multi-line parameters (keepalived.conf(5)'s virtual_server example, shortened)",
    files: {
      "main.conf": `$RS= \\
p_rs_\${VS_NUM}_\${RS_NUM} \\
@n2 p_rs_n2_\${RS_NUM}
$VS= \\
vrrp_instance VI_\${VS_NUM} { \\
  interface eth0 \\
  virtual_router_id \${VS_NUM} \\
  virtual_ipaddress { \\
    198.18.0.\${VS_NUM} \\
  } \\
  $RS_NUM=1 \\
  $RS \\
  $RS_NUM=2 \\
  $RS \\
  p_vs_end \\
}
$VS_NUM=1
$VS
$VS_NUM=2
$VS
`,
    },
    reads: {
      n1: [18, 20].flatMap((line) => {
        const vs = line === 18 ? 1 : 2;
        return [
          `main.conf:${line} p_rs_${vs}_1`,
          `main.conf:${line} p_rs_${vs}_2`,
          `main.conf:${line} p_vs_end`,
        ];
      }),
      n2: [18, 20].flatMap((line) => {
        const vs = line === 18 ? 1 : 2;
        return [
          `main.conf:${line} p_rs_${vs}_1`,
          `main.conf:${line} p_rs_n2_1`,
          `main.conf:${line} p_rs_${vs}_2`,
          `main.conf:${line} p_rs_n2_2`,
          `main.conf:${line} p_vs_end`,
        ];
      }),
    },
  },
  {
    name: "braces and ~SEQ in values, comment characters, references ended by ',' and ')'",
    files: {
      "main.conf": `$OPEN=vrrp_instance VI_1 {
$SEQ=~SEQ(K, 1, 2) p_seq_param_$K
$A=p_a
$OPEN
  interface eth0
  virtual_router_id 1
  virtual_ipaddress {
    198.18.0.1
  }
  $SEQ
  priority "\${_HASH}\${_BANG}$A"
  priority a\\#b
  priority "a\\#b"
  priority $A)
  priority ($A)
  priority $A,x
  @n1 $W=p_w_n1
  @n2 $W=p_w_n2
  $W  ! comment
  p_last_$_INSTANCE
}
`,
    },
    reads: Object.fromEntries(
      ["n1", "n2"].map((id) => [
        id,
        [
          "main.conf:10 p_seq_param_1",
          "main.conf:10 p_seq_param_2",
          "main.conf:11 priority #!$A",
          "main.conf:12 priority a", // keepalived decomments twice: its parent's copy, then the reader's
          "main.conf:13 priority a\\#b",
          "main.conf:14 priority p_a)",
          "main.conf:15 priority (p_a)",
          "main.conf:16 priority p_a,x",
          `main.conf:19 p_w_${id}`,
          `main.conf:20 p_last_${id}`,
        ],
      ]),
    ),
  },
  {
    name: "includes with conditional lines and parameters",
    files: {
      "main.conf": `$DIR=conf.d
include defs.conf
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 1
  virtual_ipaddress {
    198.18.0.1
  }
  $FROM_DEFS
  include \${DIR}/*.conf
  $FROM_A
}
`,
      "defs.conf": `@n1 $FROM_DEFS=p_defs_n1
@^n1 $FROM_DEFS=p_defs_other
`,
      "conf.d/a.conf": `@n2 priority p_a_n2
$FROM_A=p_from_a
p_a_$DIR
`,
      "conf.d/b.conf": `@^n2 p_b_not_n2
`,
    },
    reads: {
      n1: ["main.conf:9 p_defs_n1", "a.conf:3 p_a_conf.d", "b.conf:1 p_b_not_n2", "main.conf:11 p_from_a"],
      n2: [
        "main.conf:9 p_defs_other",
        "a.conf:1 priority p_a_n2",
        "a.conf:3 p_a_conf.d",
        "main.conf:11 p_from_a",
      ],
    },
  },
];

/** One file for two nodes, as an admin would share it: each node's router_id and priority. */
export const SHARED_PAIR = `global_defs {
  @n1 router_id lb_n1
  @n2 router_id lb_n2
}
$VIP=198.18.0.50/24
vrrp_instance VI_1 {
  interface eth0
  virtual_router_id 51
  @n1 priority 101
  @n2 priority 100
  advert_int 1
  virtual_ipaddress {
    $VIP
  }
}
`;

/** The files of a case in a new directory; returns main.conf's path. */
export function writeCase(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "vk-shared-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return join(dir, "main.conf");
}

/** The probes vipkeeper reads in the vrrp_instance blocks of `main`, for config id `id`. */
export function vipkeeperReads(main: string, id: string): string[] {
  const at = (s: Statement) => `${basename(s.file)}:${s.line}`;
  return parseKeepalivedFile(main, { configId: id })
    .filter((s) => s.keyword === "vrrp_instance")
    .flatMap((vi) => vi.children ?? [])
    .flatMap((s) =>
      s.keyword === "priority"
        ? [`${at(s)} priority ${s.args.join(" ")}`]
        : s.keyword.startsWith("p_")
          ? [`${at(s)} ${s.keyword}`]
          : [],
    );
}

export const HAVE_KEEPALIVED = spawnSync("keepalived", ["--version"]).status === 0;

/**
 * What `keepalived -t -i ID -f main` reports: the probes it read, in order, and every other
 * complaint but those about the interface (the test host may have no eth0).
 */
export function keepalivedReads(main: string, id: string): { probes: string[]; other: string[] } {
  const r = spawnSync("keepalived", ["-t", "-i", id, "-f", main], { cwd: dirname(main), encoding: "utf8" });
  const probes: string[] = [];
  const other: string[] = [];
  for (const line of `${r.stdout}${r.stderr}`.split("\n")) {
    const m = /^\((.+): Line (\d+)\) (?:Unknown keyword '(p_.*)'|invalid number '(.*)')$/.exec(line);
    if (m) probes.push(`${basename(m[1]!)}:${m[2]} ${m[3] ?? `priority ${m[4]}`}`);
    else if (line !== "" && !/interface|Priority not valid/i.test(line)) other.push(line);
  }
  return { probes, other };
}
