// Blind byte mutations shared by the binary fuzz targets: what a corrupted or hostile packet looks
// like when nothing about its format is known. The targets add mutations of named fields.
import type { Random } from "./random.ts";

export type ByteMutation = "bit-flip" | "byte-set" | "truncate" | "extend" | "insert" | "delete" | "random";

const ALL: readonly ByteMutation[] = [
  "bit-flip",
  "byte-set",
  "truncate",
  "extend",
  "insert",
  "delete",
  "random",
];

/** One blind mutation of `b` (a new buffer; `b` is left as it was). */
export function mutateBytes(rng: Random, b: Buffer, kind: ByteMutation = rng.pick(ALL)): Buffer {
  const out = Buffer.from(b);
  const at = rng.below(out.length + 1);
  switch (kind) {
    case "bit-flip":
      if (out.length > 0) out[at % out.length]! ^= 1 << rng.below(8);
      return out;
    case "byte-set":
      if (out.length > 0) out[at % out.length] = rng.pick([0, 0xff, 0x7f, 0x80, rng.below(256)]);
      return out;
    case "truncate":
      return out.subarray(0, rng.below(out.length + 1));
    case "extend":
      return Buffer.concat([out, rng.bytes(rng.int(1, 64))]);
    case "insert":
      return Buffer.concat([out.subarray(0, at), rng.bytes(rng.int(1, 8)), out.subarray(at)]);
    case "delete":
      return Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + rng.int(1, 8)))]);
    case "random":
      return rng.bytes(rng.below(2 * out.length + 8));
  }
}
