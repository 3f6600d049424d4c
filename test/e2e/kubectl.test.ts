// kubectl's conventions for vipkeeper's objects, proven with the built kubectl against the real
// kube-apiserver this file starts (scripts/kube-up.sh): CRDs install and are Established (their
// CEL rules within the real cost budget), short names and the category, printer columns,
// `kubectl explain` for every field, server-side apply with field managers and conflicts, the status
// subresource, `kubectl wait`, and kubectl's own validation (no --validate=false needed).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { crds } from "../../src/api/crds.ts";
import { validateIPPool } from "../../src/api/ip-pool.ts";
import { validateVirtualRouter } from "../../src/api/virtual-router.ts";
import { validateVirtualServer } from "../../src/api/virtual-server.ts";
import { RealKube, ROOT } from "../../src/lab/real-kube.ts";

type Json = Record<string, unknown>;
let kube: RealKube;

beforeAll(async () => {
  kube = await RealKube.start();
}, 180_000);
afterAll(async () => kube?.stop());

const ROUTER = `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualRouter
metadata:
  name: web
spec:
  addresses:
    - address: 198.18.0.50/24
    - address: 2001:db8::50/64
  advertInterval: 100ms
`;

const POOL = `apiVersion: vipkeeper.io/v1alpha1
kind: IPPool
metadata:
  name: pool
spec:
  addresses: ["198.18.10.0/24", "2001:db8:10::/64"]
`;

const SERVER = `apiVersion: vipkeeper.io/v1alpha1
kind: VirtualServer
metadata:
  name: web
  namespace: default
spec:
  address: 198.18.0.50
  port: 80
  realServers:
    - address: 198.18.0.13
      port: 8080
`;

const words = (s: string) => s.replace(/\s+/g, " ").trim();

describe("vipkeeper's CRDs on the real kube-apiserver", () => {
  it("install with kubectl apply and become Established, their CEL rules within the cost budget", async () => {
    const out = await kube.kubectlOk(["apply", "-f", `${ROOT}/crds`]);
    expect(out).toMatch(/virtualrouters\.vipkeeper\.io created/);
    await kube.kubectlOk(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
    const list = JSON.parse(await kube.kubectlOk(["get", "crd", "-o", "json"])) as { items: Json[] };
    for (const crd of list.items) {
      const conditions = (crd.status as { conditions: { type: string; status: string; message: string }[] })
        .conditions;
      const status = Object.fromEntries(conditions.map((c) => [c.type, c.status]));
      expect(status, (crd.metadata as Json).name as string).toMatchObject({
        Established: "True",
        NamesAccepted: "True",
      });
      expect(conditions.find((c) => c.type === "NonStructuralSchema")).toBeUndefined();
    }
  });

  it("serves the short names vr, vs and ipp and the category vipkeeper", async () => {
    const res = await kube.kubectlOk([
      "api-resources",
      "--api-group=vipkeeper.io",
      "-o",
      "wide",
      "--no-headers",
    ]);
    const rows = res
      .trim()
      .split("\n")
      .map((l) => l.split(/\s+/));
    expect(rows.map((r) => r.slice(0, 2)).sort()).toEqual([
      ["ippools", "ipp"],
      ["virtualrouters", "vr"],
      ["virtualservers", "vs"],
    ]);
    for (const r of rows) expect(r.join(" ")).toMatch(/vipkeeper$/);
    for (const short of ["vr", "vs", "ipp", "vipkeeper"]) {
      const r = await kube.kubectl(["get", short, "-A"]);
      expect(r.code, `kubectl get ${short}: ${r.stderr}`).toBe(0);
    }
  });

  it("applies a router without --validate=false, and kubectl's validation names an unknown field", async () => {
    await kube.kubectlOk(["apply", "-f", "-"], ROUTER.replace("name: web", "name: client-side"));
    const bad = await kube.kubectl(
      ["apply", "-f", "-"],
      `${ROUTER.replace("name: web", "name: bad")}  bogus: 1\n`,
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/unknown field "spec\.bogus"/);
  });

  it("every file in examples/ applies (server-side dry run), and vipkeeper's validator accepts its objects", async () => {
    const r = await kube.kubectl(["apply", "--server-side", "--dry-run=server", "-f", `${ROOT}/examples`]);
    expect(r.code, r.stderr).toBe(0);
    for (const name of ["lab-vip", "ingress-vip"])
      expect(r.stdout).toContain(`virtualrouter.vipkeeper.io/${name} serverside-applied (server dry run)`);
    expect(r.stdout).toContain("virtualserver.vipkeeper.io/web serverside-applied (server dry run)");
    expect(r.stdout).toContain("ippool.vipkeeper.io/default-pool serverside-applied (server dry run)");
    expect(r.stdout).toContain("service/web-lb serverside-applied (server dry run)");
    const validators: Record<string, (o: unknown) => unknown[]> = {
      VirtualRouter: validateVirtualRouter,
      VirtualServer: validateVirtualServer,
      IPPool: validateIPPool,
    };
    for (const f of readdirSync(`${ROOT}/examples`))
      for (const doc of parseAllDocuments(readFileSync(`${ROOT}/examples/${f}`, "utf8"))) {
        const o = doc.toJS() as { kind: string };
        if (validators[o.kind]) expect(validators[o.kind]!(o), `${f}: ${o.kind}`).toEqual([]);
      }
  });

  it("server-side apply: the field manager owns its fields, and another manager's change conflicts", async () => {
    await kube.kubectlOk(["apply", "--server-side", "--field-manager=admin", "-f", "-"], ROUTER);
    const vr = JSON.parse(
      await kube.kubectlOk(["get", "vr", "web", "-o", "json", "--show-managed-fields"]),
    ) as {
      metadata: { managedFields: { manager: string; operation: string; fieldsV1: Json }[] };
    };
    const admin = vr.metadata.managedFields.find((m) => m.manager === "admin");
    expect(admin?.operation).toBe("Apply");
    expect(JSON.stringify(admin?.fieldsV1)).toContain('"f:advertInterval"');
    const other = ROUTER.replace("100ms", "200ms");
    const conflict = await kube.kubectl(
      ["apply", "--server-side", "--field-manager=someone", "-f", "-"],
      other,
    );
    expect(conflict.code).not.toBe(0);
    expect(conflict.stderr).toMatch(/conflict with "admin"/);
    expect(conflict.stderr).toMatch(/\.spec\.advertInterval/);
    await kube.kubectlOk(
      ["apply", "--server-side", "--field-manager=someone", "--force-conflicts", "-f", "-"],
      other,
    );
    expect(await kube.kubectlOk(["get", "vr", "web", "-o", "jsonpath={.spec.advertInterval}"])).toBe("200ms");
  });

  it("keeps status on its subresource: the main resource ignores status, the subresource ignores spec", async () => {
    const gen0 = await kube.kubectlOk(["get", "vr", "web", "-o", "jsonpath={.metadata.generation}"]);
    await kube.kubectlOk(["patch", "vr", "web", "--type=merge", "-p", '{"status":{"master":"n9"}}']);
    expect(await kube.kubectlOk(["get", "vr", "web", "-o", "jsonpath={.status.master}"])).toBe("");
    await kube.kubectlOk([
      "patch",
      "vr",
      "web",
      "--subresource=status",
      "--type=merge",
      "-p",
      '{"spec":{"advertInterval":"5s"},"status":{"vrid":7,"master":"n1"}}',
    ]);
    const after = JSON.parse(await kube.kubectlOk(["get", "vr", "web", "-o", "json"])) as {
      metadata: { generation: number };
      spec: { advertInterval: string };
      status: { vrid: number; master: string };
    };
    expect(after.spec.advertInterval).toBe("200ms");
    expect(after.status).toMatchObject({ vrid: 7, master: "n1" });
    expect(String(after.metadata.generation)).toBe(gen0);
    // A status value the schema refuses is refused on the subresource too.
    const bad = await kube.kubectl([
      "patch",
      "vr",
      "web",
      "--subresource=status",
      "--type=merge",
      "-p",
      '{"status":{"vrid":300}}',
    ]);
    expect(bad.stderr).toMatch(/status\.vrid: Invalid value: 300/);
  });

  it("kubectl wait --for=condition=Ready returns once the status says so", async () => {
    const waiting = kube.kubectl(["wait", "--for=condition=Ready", "vr/web", "--timeout=30s"]);
    const jsonpath = kube.kubectl(["wait", "--for=jsonpath={.status.master}=n2", "vr/web", "--timeout=30s"]);
    await new Promise((r) => setTimeout(r, 1000));
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    await kube.kubectlOk([
      "patch",
      "vr",
      "web",
      "--subresource=status",
      "--type=merge",
      "-p",
      JSON.stringify({
        status: {
          master: "n2",
          conditions: [
            {
              type: "Ready",
              status: "True",
              reason: "MasterElected",
              message: "n2 holds the addresses",
              lastTransitionTime: now,
            },
          ],
        },
      }),
    ]);
    const [w, j] = await Promise.all([waiting, jsonpath]);
    expect(w.code, w.stderr).toBe(0);
    expect(w.stdout).toMatch(/virtualrouter\.vipkeeper\.io\/web condition met/);
    expect(j.code, j.stderr).toBe(0);
  });

  it("kubectl get shows the printer columns of vr, ipp and vs", async () => {
    const out = await kube.kubectlOk(["get", "vr", "web"]);
    const [head, row] = out
      .trim()
      .split("\n")
      .map((l) => l.split(/\s{2,}/));
    expect(head).toEqual(["NAME", "VRID", "VIP", "MASTER", "READY", "AGE"]);
    expect(row!.slice(0, 5)).toEqual(["web", "7", "198.18.0.50/24", "n2", "True"]);
    await kube.kubectlOk(["apply", "-f", "-"], POOL);
    const pools = (await kube.kubectlOk(["get", "ipp", "pool"])).split("\n");
    expect(pools[0]).toMatch(/^NAME\s+ADDRESSES\s+IPV4\s+IPV6\s+AGE$/);
    expect(pools[1]).toContain('["198.18.10.0/24","2001:db8:10::/64"]');
    await kube.kubectlOk(["apply", "-f", "-"], SERVER);
    const servers = (await kube.kubectlOk(["get", "vs", "web", "-o", "wide"])).split("\n");
    expect(servers[0]).toMatch(/^NAME\s+ADDRESS\s+PORT\s+FWMARK\s+ACTIVE\s+READY\s+AGE$/);
    expect(servers[1]).toMatch(/^web\s+198\.18\.0\.50\s+80\s/);
  });

  it("kubectl explain describes every field of every kind", async () => {
    for (const crd of crds()) {
      const spec = crd.spec as {
        names: { plural: string };
        versions: { schema: { openAPIV3Schema: Json } }[];
      };
      const plural = spec.names.plural;
      const objects: [string, Json][] = [];
      const walk = (n: Json, path: string) => {
        const props = n.properties as Record<string, Json> | undefined;
        if (props && Object.keys(props).length) objects.push([path, n]);
        for (const [k, v] of Object.entries(props ?? {})) if (k !== "metadata") walk(v, `${path}.${k}`);
        if (n.items) walk(n.items as Json, path);
        if (typeof n.additionalProperties === "object") walk(n.additionalProperties as Json, path);
      };
      walk(spec.versions[0]!.schema.openAPIV3Schema, plural);
      expect(objects.length).toBeGreaterThan(1);
      for (const [path, n] of objects) {
        const text = words(await kube.kubectlOk(["explain", path]));
        for (const [k, v] of Object.entries(n.properties as Record<string, Json>)) {
          // kubectl explains apiVersion, kind and metadata in the API conventions' own words.
          if (path === plural && ["apiVersion", "kind", "metadata"].includes(k)) continue;
          expect(text, `${path}.${k}`).toContain(`${k} <`);
          if (v.description) expect(text, `${path}.${k}`).toContain(words(v.description as string));
        }
      }
    }
  }, 120_000);
});
