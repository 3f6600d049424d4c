// Writes src/api/generated/structural.ts, the structural checks of the API objects compiled from
// their schemas (src/api/schema/structural-code.ts says why):
//   node scripts/gen-structural.ts
// test/api/structural.test.ts fails when it is out of date.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { structuralModule } from "../src/api/schema/structural-code.ts";

writeFileSync(join(import.meta.dirname, "../src/api/generated/structural.ts"), structuralModule());
