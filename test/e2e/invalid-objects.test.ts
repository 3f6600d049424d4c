// The invalid-object table (test/api/invalid-objects.ts) against the real kube-apiserver, which the
// file starts itself (scripts/kube-up.sh): each object rejected with the field named, as the
// in-process server does in test/api/crds.test.ts. And every CEL rule's good sample accepted, so the
// rules run within the real server's cost budget and agree with the in-process evaluator.
import { CustomObjectsApi } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure } from "../kubeapi/failure.ts";
import { SAMPLES } from "../api/cel-samples.ts";
import { causeFields, createObject, INVALID_OBJECTS, type InvalidCase } from "../api/invalid-objects.ts";
import { RealKube } from "../../src/lab/real-kube.ts";

let kube: RealKube;
let custom: CustomObjectsApi;

beforeAll(async () => {
  kube = await RealKube.start();
  await kube.installCrds();
  custom = kube.kubeConfig().makeApiClient(CustomObjectsApi);
}, 180_000);
afterAll(async () => kube?.stop());

describe("the real kube-apiserver with vipkeeper's CRDs", () => {
  INVALID_OBJECTS.forEach((c, i) => {
    it(`rejects ${c.kind}: ${c.name}, naming ${c.field}`, async () => {
      const f = await failure(createObject(custom, c, i));
      expect(f.code).toBe(422);
      expect(f.body.details?.causes?.map((x) => x.field)).toEqual(causeFields(c));
      expect(f.body.details?.causes?.[0]?.reason).toBe(c.reason);
      expect(f.body.message).toMatch(c.message);
      if (c.rulesNotChecked) expect(f.body.message).toMatch(/some validation rules were not checked/);
    });
  });

  it("accepts the good sample of every CEL rule", async () => {
    let i = 0;
    for (const [key, s] of Object.entries(SAMPLES)) {
      const kind = key.slice(0, key.indexOf(".")) as InvalidCase["kind"];
      const c: InvalidCase = { name: key, kind, spec: s.good, field: "", message: /./, reason: "" };
      await expect(createObject(custom, c, 1000 + i++), key).resolves.toBeTruthy();
    }
  });
});
