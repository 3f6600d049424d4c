// keepalived 2.2.7 itself (`keepalived -t -i ID -f FILE`, which checks a configuration without
// running it) reads the shared-configuration cases as vipkeeper does: the same probes, from the
// same files and lines, and no other complaint.
import { describe, expect, it } from "vitest";
import { CASES, HAVE_KEEPALIVED, keepalivedReads, SHARED_PAIR, writeCase } from "./shared-conf-cases.ts";

if (!HAVE_KEEPALIVED)
  console.warn("test/keepalived/keepalived-check skipped: keepalived is not installed (scripts/setup.sh)");

describe.skipIf(!HAVE_KEEPALIVED)("keepalived -t -i ID reads the shared-configuration cases", () => {
  it.each(CASES)("$name, as vipkeeper does", (c) => {
    const main = writeCase(c.files);
    for (const [id, probes] of Object.entries(c.reads)) {
      const { probes: read, other } = keepalivedReads(main, id);
      expect({ id, read, other }).toEqual({ id, read: probes, other: [] });
    }
  });

  it("accepts the two-node file the import test reads, for each node, without a complaint", () => {
    const main = writeCase({ "main.conf": SHARED_PAIR });
    for (const id of ["n1", "n2"])
      expect({ id, ...keepalivedReads(main, id) }).toEqual({ id, probes: [], other: [] });
  });
});
