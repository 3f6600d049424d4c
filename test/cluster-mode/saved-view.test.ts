// The view an agent keeps on the node: what planning reads, without the agents' status, answered
// back the same, written only when it changed, root-only, and ignored with a warning when unreadable.
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { ClusterView } from "../../src/cluster-mode/cluster-agent.ts";
import { snapshotOf, viewOf, ViewStore } from "../../src/cluster-mode/saved-view.ts";
import type { RouterObject } from "../../src/cluster/routers.ts";
import type { VirtualServer } from "../../src/api/virtual-server.ts";

const router: RouterObject & { status: Record<string, unknown> } = {
  apiVersion: "vipkeeper.io/v1alpha1",
  kind: "VirtualRouter",
  metadata: { name: "web" },
  spec: {
    version: 2,
    addresses: [{ address: "198.18.0.50/24" }],
    authentication: { type: "PASS", secretRef: { name: "vrrp", key: "web" } },
    track: {
      endpoints: [{ namespace: "shop", service: "web" }],
      pods: [{ namespace: "ing", matchLabels: { app: "ingress" } }],
    },
  },
  status: { vrid: 7, preferredMaster: "n1", master: "n2", nodes: [{ name: "n1", state: "Backup" }] },
};
const vs = {
  apiVersion: "vipkeeper.io/v1alpha1",
  kind: "VirtualServer",
  metadata: { name: "web", namespace: "shop" },
  spec: {
    address: "198.18.0.50",
    port: 80,
    routerRef: "web",
    realServers: [{ address: "198.18.0.99", port: 80 }],
  },
  status: { active: 1 },
} as VirtualServer & { status: unknown };

const live: ClusterView = {
  routers: () => [router],
  nodes: () => [{ name: "n1", labels: {}, addresses: ["198.18.0.11"] }],
  secret: (name, key) => (name === "vrrp" && key === "web" ? "s3cret" : undefined),
  virtualServers: () => [vs],
  namespaceLabels: (ns) => (ns === "shop" ? { "kubernetes.io/metadata.name": "shop" } : undefined),
  endpointsReady: (ns, svc) => ns === "shop" && svc === "web",
  readyPods: (ns) => (ns === "ing" ? 2 : 0),
};

describe("saved cluster view", () => {
  it("keeps what planning reads and answers it back; the agents' status is left out", () => {
    const s = snapshotOf(live, new Date("2026-12-05T00:00:00Z"));
    expect(s.routers[0]!.status).toEqual({ vrid: 7, preferredMaster: "n1" });
    expect((s.virtualServers[0] as { status?: unknown }).status).toBeUndefined();
    const back = viewOf(JSON.parse(JSON.stringify(s)) as typeof s);
    expect(back.routers()).toEqual(s.routers);
    expect(back.nodes()).toEqual(live.nodes());
    expect(back.secret("vrrp", "web")).toBe("s3cret");
    expect(back.secret("other", "x")).toBeUndefined();
    expect(back.namespaceLabels("shop")).toEqual({ "kubernetes.io/metadata.name": "shop" });
    expect(back.namespaceLabels("nope")).toBeUndefined();
    expect(back.endpointsReady("shop", "web")).toBe(true);
    expect(back.endpointsReady("shop", "other")).toBe(false);
    expect(back.readyPods("ing", { app: "ingress" })).toBe(2);
    expect(back.readyPods("ing", { app: "other" })).toBe(0);
  });

  it("is written atomically, root-only, only when it changed; an unreadable file is ignored with a warning", () => {
    const dir = mkdtempSync(join(tmpdir(), "vk-view-"));
    const path = join(dir, "state", "cluster-view-n1.json");
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (l: string) => void lines.push(l) });
    const store = new ViewStore(path, log);
    expect(store.load()).toBeUndefined();
    store.save(snapshotOf(live, new Date(1)));
    const first = statSync(path);
    expect(first.mode & 0o777).toBe(0o600);
    // The same content later: not written again (only savedAt would differ).
    store.save(snapshotOf(live, new Date(2)));
    expect(statSync(path).mtimeMs).toBe(first.mtimeMs);
    expect(new ViewStore(path, log).load()?.routers[0]?.metadata.name).toBe("web");
    writeFileSync(path, "{ not json");
    expect(new ViewStore(path, log).load()).toBeUndefined();
    expect(lines.join("")).toContain("saved cluster view unreadable; ignored");
    writeFileSync(path, JSON.stringify({ version: 2 }));
    expect(new ViewStore(path, log).load()).toBeUndefined();
    expect(readFileSync(path, "utf8")).toContain("version");
  });
});
