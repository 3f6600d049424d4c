// The API requests vipkeeper makes at rest, counted by a real kube-apiserver: its audit log
// (scripts/kube-up.sh keeps one) names each request's user, verb and resource. A lab of 3 nodes
// (real agents in network namespaces, the controller as a process, each with its own service
// account's token, as `vipkeeper lab --cluster` runs them) with R VirtualRouters and S
// LoadBalancer Services; once every router has a master and every Service an address, and a
// settling time has passed, requests are counted over a window in which nothing changes.
//
//   node bench/api-at-rest.ts [--routers 10] [--services 10] [--settle 30] [--minutes 5]   (root)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ClusterLab, serviceAccountCredentials } from "../src/lab/cluster-lab.ts";
import { RealKube } from "../src/lab/real-kube.ts";
import { waitUntil } from "../src/lab/wait.ts";

const { values } = parseArgs({
  options: {
    routers: { type: "string", default: "10" },
    services: { type: "string", default: "10" },
    settle: { type: "string", default: "30" },
    minutes: { type: "string", default: "5" },
  },
});
// The lab's one segment, 198.18.0.0/24: routers from .120, the pool .192-.255.
const ROUTERS = Math.min(Number(values.routers), 60);
const SERVICES = Math.min(Number(values.services), 60);
const SETTLE_S = Number(values.settle);
const MINUTES = Number(values.minutes);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface AuditEvent {
  stage: string;
  verb: string;
  requestReceivedTimestamp: string;
  user: { username: string; extra?: Record<string, string[]> };
  objectRef?: { resource?: string; subresource?: string; apiGroup?: string };
}

/** Each request once: a watch when it starts (it completes only when it ends), others when done. */
function requests(auditLog: string, from: number, to: number): AuditEvent[] {
  return readFileSync(auditLog, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEvent)
    .filter((e) => (e.verb === "watch" ? e.stage === "ResponseStarted" : e.stage === "ResponseComplete"))
    .filter((e) => {
      const t = Date.parse(e.requestReceivedTimestamp);
      return t >= from && t < to;
    });
}

function who(e: AuditEvent): string | undefined {
  const sa = /^system:serviceaccount:vipkeeper:vipkeeper-(agent|controller)$/.exec(e.user.username)?.[1];
  if (sa === "controller") return "controller";
  if (sa === "agent") return `agent ${e.user.extra?.["authentication.kubernetes.io/node-name"]?.[0] ?? "?"}`;
  return undefined;
}

const what = (e: AuditEvent) =>
  `${e.verb} ${e.objectRef?.resource ?? "?"}${e.objectRef?.subresource ? `/${e.objectRef.subresource}` : ""}`;

if (process.getuid?.() !== 0) {
  console.error("bench/api-at-rest.ts needs root (network namespaces)");
  process.exit(1);
}
const kube = await RealKube.start();
process.once("exit", () => kube.stopSync());
let c: ClusterLab<RealKube> | undefined;
try {
  await kube.installCrds();
  await kube.installRbac();
  c = await ClusterLab.createWith("vkrest-", 3, kube, serviceAccountCredentials(kube));
  const objects: object[] = [];
  for (let i = 0; i < ROUTERS; i++)
    objects.push({
      apiVersion: "vipkeeper.io/v1alpha1",
      kind: "VirtualRouter",
      metadata: { name: `r${i}` },
      spec: { addresses: [{ address: `198.18.0.${120 + i}/24` }] },
    });
  objects.push(
    {
      apiVersion: "vipkeeper.io/v1alpha1",
      kind: "IPPool",
      metadata: { name: "pool" },
      spec: { addresses: ["198.18.0.192/26"] },
    },
    { apiVersion: "v1", kind: "Namespace", metadata: { name: "bench" } },
  );
  for (let i = 0; i < SERVICES; i++)
    objects.push({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: `s${i}`, namespace: "bench" },
      spec: { type: "LoadBalancer", loadBalancerClass: "vipkeeper.io/vrrp", ports: [{ port: 80 }] },
    });
  await kube.kubectlOk(
    ["apply", "-f", "-"],
    JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
  );
  c.startController();
  for (const n of c.lab.nodes) c.startAgent(n.name);
  const count = async (args: string[], path: string) =>
    (await kube.kubectlOk([...args, "-o", `jsonpath=${path}`])).split(/\s+/).filter(Boolean).length;
  await waitUntil(
    async () =>
      (await count(["get", "vr"], "{.items[*].status.master}")) >= ROUTERS + 1 &&
      (await count(["get", "svc", "-n", "bench"], "{.items[*].status.loadBalancer.ingress[0].ip}")) ===
        SERVICES,
    180_000,
    "a master for every router and an address for every Service",
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}\n${await kube.kubectlOk(["get", "vr"])}\n${c!.dump(20)}`);
  });
  const routers = await count(["get", "vr"], "{.items[*].metadata.name}");
  console.log(
    `${routers} VirtualRouters (${ROUTERS} applied, the rest the pool's) with a master, ${SERVICES} Services with an address; settling ${SETTLE_S} s`,
  );
  await sleep(SETTLE_S * 1000);
  const from = Date.now();
  await sleep(MINUTES * 60_000);
  const to = Date.now();
  const seen = requests(join(kube.dir, "audit.log"), from, to);
  const ours = seen.filter((e) => who(e) !== undefined);
  const perMin = (n: number) => (n / MINUTES).toFixed(1);
  console.log(
    `\nAPI requests at rest over ${MINUTES} min (kube-apiserver's audit log; all users: ${perMin(seen.length)}/min)`,
  );
  const byWho = new Map<string, Map<string, number>>();
  for (const e of ours) {
    const m = byWho.get(who(e)!) ?? new Map<string, number>();
    m.set(what(e), (m.get(what(e)) ?? 0) + 1);
    byWho.set(who(e)!, m);
  }
  for (const [name, m] of [...byWho].sort()) {
    const total = [...m.values()].reduce((a, b) => a + b, 0);
    const parts = [...m].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${perMin(n)}`);
    console.log(`  ${name.padEnd(12)} ${perMin(total).padStart(6)}/min: ${parts.join(", ")}`);
  }
  const notLeases = ours.filter((e) => e.objectRef?.resource !== "leases");
  console.log(
    `vipkeeper's requests: ${perMin(ours.length)}/min in all, ${perMin(notLeases.length)}/min other than Lease renewals` +
      (notLeases.length ? ` (${[...new Set(notLeases.map(what))].join(", ")})` : ""),
  );
} finally {
  if (c) await c.destroy();
  else await kube.stop();
}
