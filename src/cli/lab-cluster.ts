// `vipkeeper lab --cluster`: vipkeeper as a cluster runs it, on one machine. A real kube-apiserver
// and etcd (scripts/kube-up.sh), the controller, and agents on three lab nodes in network
// namespaces, each with its own service account's token; examples/ applied with kubectl; the
// master shown by `kubectl get vr`; the master's agent killed, the status following and the
// client's outage measured. Everything is removed on exit or Ctrl-C.
import { existsSync, readdirSync } from "node:fs";
import { extname, join } from "node:path";
import { AGENT_NAMESPACE, ClusterLab, serviceAccountCredentials } from "../lab/cluster-lab.ts";
import { Probe } from "../lab/probe.ts";
import { KUBE_BIN, RealKube, ROOT } from "../lab/real-kube.ts";
import { waitUntil } from "../lab/wait.ts";

const VIP = "198.18.0.60"; // examples/virtualrouter.yaml
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runClusterLab(): Promise<number> {
  for (const b of ["kube-apiserver", "etcd", "kubectl"])
    if (!existsSync(join(KUBE_BIN, b))) {
      process.stderr.write(
        `vipkeeper lab --cluster: ${join(KUBE_BIN, b)} is missing: run \`bash scripts/setup.sh\` (it builds the Kubernetes parts, ~20 min the first time)\n`,
      );
      return 1;
    }
  const t0 = Date.now();
  const say = (text: string) =>
    process.stdout.write(`${((Date.now() - t0) / 1000).toFixed(3).padStart(8)} s  ${text}\n`);
  const show = (out: string) => process.stdout.write(`${out.replace(/^/gm, "             ").trimEnd()}\n`);

  say("starting etcd and kube-apiserver (scripts/kube-up.sh)");
  const kube = await RealKube.start();
  // kube-up.sh starts them in sessions of their own: stopped here however this process ends.
  const stopKube = () => kube.stopSync();
  process.once("exit", stopKube);
  let c: ClusterLab<RealKube> | undefined;
  const interrupted = () => {
    c?.lab.destroy();
    process.exit(130);
  };
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  const kubectl = async (...args: string[]) => {
    process.stdout.write(`           $ kubectl ${args.join(" ")}\n`);
    show(await kube.kubectlOk(args));
  };
  try {
    say(`kube-apiserver ready at https://127.0.0.1:${kube.port} (KUBECONFIG=${kube.kubeconfig})`);
    await kubectl("apply", "-f", join(ROOT, "crds"));
    await kube.installCrds(); // applied again (unchanged), and waited for until they serve
    await kubectl(
      "apply",
      "-f",
      join(ROOT, "deploy/01-namespace.yaml"),
      "-f",
      join(ROOT, "deploy/02-rbac.yaml"),
    );

    const lab = await ClusterLab.createWith("vkdemo-", 3, kube, serviceAccountCredentials(kube));
    c = lab;
    say(
      `lab up: nodes ${lab.lab.nodes.map((n) => `${n.name} ${n.ipv4}`).join(", ")} (Node objects), client ${lab.lab.client.ipv4}`,
    );
    await kubectl("label", "nodes", "--all", "edge=true");
    // As on a node that forwards for NAT real servers (the agent warns when it is off).
    for (const n of lab.lab.nodes) lab.lab.exec(n.name, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    lab.startController();
    for (const n of lab.lab.nodes) lab.startAgent(n.name);
    say(
      `controller and agents started, each with its own service account's token (namespace ${AGENT_NAMESPACE})`,
    );

    // The real servers of examples/virtualserver.yaml on the client host, and kube-proxy's part
    // for the LoadBalancer Service (port 80 on every node answers with the node's name).
    const backend = join(import.meta.dirname, `../lab/http-backend${extname(import.meta.filename)}`);
    for (const port of ["8081", "8082"])
      lab.lab.spawn("client", [process.execPath, backend, port, `rs${port}`]);
    for (const n of lab.lab.nodes) lab.lab.spawn(n.name, [process.execPath, backend, "80", n.name]);

    const examples = readdirSync(join(ROOT, "examples"))
      .filter((f) => f.endsWith(".yaml") && f !== "lab.yaml")
      .sort()
      .flatMap((f) => ["-f", join(ROOT, "examples", f)]);
    await kubectl("apply", ...examples);

    const master = async () =>
      (await kube.kubectlOk(["get", "vr", "ingress-vip", "-o", "jsonpath={.status.master}"])).trim();
    const holder = await lab.settledMaster(VIP, master, 60_000);
    say(`${holder} is master of ingress-vip and holds ${VIP}`);
    const externalIp = async () =>
      (
        await kube.kubectlOk(["get", "svc", "web-lb", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"])
      ).trim();
    await waitUntil(async () => (await externalIp()) !== "", 30_000, "an address for Service web-lb");
    const lbAddress = await externalIp();
    // The Service's address is kept by a router the controller made for the pool (lb-<pool>-<i>).
    await waitUntil(
      async () =>
        (await kube.kubectlOk(["get", "vr", "-o", "jsonpath={.items[*].status.master}"])).trim().split(/\s+/)
          .length === 2,
      30_000,
      "a master for the pool's router",
    );
    await waitUntil(
      async () =>
        (await kube.kubectlOk(["get", "vs", "web", "-o", "jsonpath={.status.active}"])).trim() === "2",
      30_000,
      "both real servers of the VirtualServer healthy",
    );
    await kubectl("get", "vr");
    await kubectl("get", "vs", "-A");
    await kubectl("get", "svc", "web-lb");
    await kubectl("get", "ippool");
    const curl = () => {
      try {
        return lab.lab.exec("client", ["curl", "-s", "--max-time", "1", `http://${lbAddress}/`]).trim();
      } catch {
        return "";
      }
    };
    await waitUntil(() => curl() !== "", 30_000, `an answer from ${lbAddress}`);
    say(`client: http://${lbAddress}/ answered by ${curl()}, the node that holds the Service's address`);

    // Act 1: the master's agent dies (its pod killed); the node lives on.
    let probe = new Probe(lab.lab, "client", VIP);
    await sleep(1000);
    say(`client pings ${VIP} every ${probe.intervalMs} ms`);
    say(`killing ${holder}'s agent: SIGKILL of every vipkeeper process on it, as when its pod is killed`);
    let failAt = Date.now();
    lab.killAgent(holder);
    await waitUntil(
      () => lab.lab.holders(VIP).some((n) => n !== holder),
      10_000,
      `another node to take ${VIP}`,
    );
    let next = lab.lab.holders(VIP).find((n) => n !== holder)!;
    say(`${next} took ${VIP} (+${Date.now() - failAt} ms)`);
    await waitUntil(async () => (await master()) === next, 30_000, `status.master to name ${next}`);
    say(`status.master names ${next} (+${Date.now() - failAt} ms)`);
    await kubectl("get", "vr", "ingress-vip");
    await waitUntil(() => !lab.lab.holds(holder, VIP), 10_000, `${holder} to let go of ${VIP}`);
    say(`${holder} let go of ${VIP} by itself (+${Date.now() - failAt} ms: no agent renews its lifetime)`);
    let r = await probe.stop(failAt);
    const outage = (what: string) =>
      process.stdout.write(
        `\n  Client's outage, ${what}: ${r.longestGapMs.toFixed(0)} ms` +
          ` (pings every ${probe.intervalMs} ms; VRRP at 100 ms adverts: Master_Down_Interval is about 360 ms)\n\n`,
      );
    outage("master's agent killed");
    say(
      r.longestGapMs < 100
        ? `(${holder}'s kernel still answered for ${VIP} until ${next}'s gratuitous ARP moved the client)`
        : `(the client's traffic moved when ${next} took over and announced it)`,
    );
    say(`${holder}'s agent starts again`);
    const restartedAt = Math.floor(Date.now() / 1000) * 1000; // status times are whole seconds
    lab.startAgent(holder);
    const entry = async () =>
      (
        JSON.parse(
          (await kube.kubectlOk(["get", "vr", "ingress-vip", "-o", "jsonpath={.status.nodes}"])) || "[]",
        ) as { name: string; state: string; since?: string }[]
      ).find((n) => n.name === holder);
    await waitUntil(
      async () => {
        const e = await entry();
        return !!e && ["Backup", "Master"].includes(e.state) && Date.parse(e.since ?? "") >= restartedAt;
      },
      60_000,
      `${holder}'s agent to rejoin`,
    );
    say(`${holder} rejoined as ${(await entry())?.state}`);
    const settled = await lab.settledMaster(VIP, master, 60_000);
    say(`${settled} is master of ingress-vip`);

    // Act 2: the master's node fails (its cable pulled): nothing answers until a backup takes over.
    probe = new Probe(lab.lab, "client", VIP);
    await sleep(1000);
    say(`pulling ${settled}'s cable: the node is gone for everyone`);
    failAt = Date.now();
    lab.lab.linkDown(settled);
    await waitUntil(
      () => lab.lab.holders(VIP).some((n) => n !== settled),
      10_000,
      `another node to take ${VIP}`,
    );
    next = lab.lab.holders(VIP).find((n) => n !== settled)!;
    say(`${next} took ${VIP} (+${Date.now() - failAt} ms)`);
    await waitUntil(async () => (await master()) === next, 30_000, `status.master to name ${next}`);
    say(`status.master names ${next} (+${Date.now() - failAt} ms)`);
    await sleep(500);
    r = await probe.stop(failAt);
    outage("master's node failed");
    await kubectl("get", "vr", "ingress-vip");
    lab.lab.linkUp(settled);
    say(`${settled}'s cable is back`);
    return 0;
  } catch (err) {
    process.stderr.write(`vipkeeper lab --cluster: ${(err as Error).message}\n`);
    if (c) process.stderr.write(`last lines of the lab's logs:\n${c.dump(30)}\n`);
    return 1;
  } finally {
    say("removing the lab and stopping the API server");
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
    if (c) await c.destroy();
    else await kube.stop();
    process.off("exit", stopKube);
  }
}
