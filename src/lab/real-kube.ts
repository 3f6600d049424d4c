// A real control plane for a test file, a bench or `vipkeeper lab --cluster`: etcd and kube-apiserver started by scripts/kube-up.sh
// (built by scripts/build-kube.sh) on free ports in a folder of its own, and stopped by
// scripts/kube-down.sh. kubectl and helm are the built ones, never whatever else is on PATH.
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";

export const ROOT = join(import.meta.dirname, "../..");
const SCRIPTS = join(ROOT, "scripts");

/** Where scripts/build-kube.sh put kube-apiserver, kubectl, etcd and helm. */
export const KUBE_BIN = execFileSync(
  "bash",
  ["-c", `. "${SCRIPTS}/kube-versions.sh" && printf %s "$KUBE_BIN"`],
  {
    encoding: "utf8",
  },
);

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { env, maxBuffer: 64 << 20, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        resolve({ code, stdout, stderr: err && !stderr ? err.message : stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export class RealKube {
  readonly kubeconfig: string;
  readonly dir: string;
  /** kube-apiserver's port on 127.0.0.1. */
  readonly port: number;
  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
    this.kubeconfig = join(dir, "kubeconfig");
  }

  /** Starts etcd and kube-apiserver in a new temporary folder; fails with kube-up's message. */
  static async start(): Promise<RealKube> {
    const dir = mkdtempSync(join(tmpdir(), "vk-kube-"));
    const [api, etcd, peer] = [await freePort(), await freePort(), await freePort()];
    const env = {
      ...process.env,
      KUBE_API_PORT: String(api),
      ETCD_CLIENT_PORT: String(etcd),
      ETCD_PEER_PORT: String(peer),
    };
    const r = await run("bash", [join(SCRIPTS, "kube-up.sh"), dir], env);
    if (r.code !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`scripts/kube-up.sh failed (${r.code}):\n${r.stderr}`);
    }
    return new RealKube(dir, api);
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromFile(this.kubeconfig);
    return kc;
  }

  private env(): NodeJS.ProcessEnv {
    return {
      ...process.env,
      PATH: `${KUBE_BIN}:${process.env.PATH ?? ""}`,
      KUBECONFIG: this.kubeconfig,
      // helm and kubectl keep their caches here, not in the user's home.
      HOME: this.dir,
      HELM_CACHE_HOME: join(this.dir, "helm/cache"),
      HELM_CONFIG_HOME: join(this.dir, "helm/config"),
      HELM_DATA_HOME: join(this.dir, "helm/data"),
    };
  }

  kubectl(args: string[], input?: string): Promise<Run> {
    return run(join(KUBE_BIN, "kubectl"), args, this.env(), input);
  }

  /** kubectl that must succeed; returns its stdout. */
  async kubectlOk(args: string[], input?: string): Promise<string> {
    const r = await this.kubectl(args, input);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(" ")} failed (${r.code}):\n${r.stderr}`);
    return r.stdout;
  }

  /**
   * Applies vipkeeper's CRDs (crds/) and returns once they serve: Established, and then lists
   * answer (just after Established, kube-apiserver can still say 429 "storage is (re)initializing").
   */
  async installCrds(): Promise<void> {
    await this.kubectlOk(["apply", "-f", join(ROOT, "crds")]);
    await this.kubectlOk(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await this.kubectl(["get", "virtualrouters,virtualservers,ippools", "-A"]);
      if (r.code === 0) return;
      if (Date.now() > deadline) throw new Error(`vipkeeper's CRDs do not serve after 30 s:\n${r.stderr}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  }

  /** deploy/'s namespace, service accounts, roles and the agents' admission policy, as installed. */
  async installRbac(): Promise<void> {
    const files = ["01-namespace.yaml", "02-rbac.yaml"].flatMap((f) => ["-f", join(ROOT, "deploy", f)]);
    await this.kubectlOk(["apply", ...files]);
  }

  helm(args: string[], input?: string): Promise<Run> {
    return run(join(KUBE_BIN, "helm"), args, this.env(), input);
  }

  /** Any command with KUBECONFIG and the built tools first on PATH (for pipelines). */
  sh(script: string, input?: string): Promise<Run> {
    return run("bash", ["-o", "pipefail", "-c", script], this.env(), input);
  }

  /**
   * A kubeconfig that authenticates as the service account (a token from the TokenRequest API,
   * as a pod's projected token, bound to `boundPod` if given), reaching the server at
   * https://HOST:PORT (default its own).
   */
  async serviceAccountKubeConfig(
    namespace: string,
    name: string,
    hostPort = `127.0.0.1:${this.port}`,
    boundPod?: string,
  ): Promise<string> {
    // Bound to a pod, the token also names the pod's node (authentication.kubernetes.io/node-name).
    const bound = boundPod ? ["--bound-object-kind=Pod", `--bound-object-name=${boundPod}`] : [];
    const token = (
      await this.kubectlOk(["create", "token", name, "-n", namespace, "--duration=6h", ...bound])
    ).trim();
    const ca = readFileSync(join(this.dir, "pki/ca.crt")).toString("base64");
    // JSON (which kubectl reads too): a client reads it without a YAML parser, as a pod reads its
    // in-cluster credentials, so an agent here loads what the DaemonSet's do.
    return JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: `https://${hostPort}`, "certificate-authority-data": ca } }],
      users: [{ name, user: { token } }],
      contexts: [{ name: "c", context: { cluster: "c", user: name } }],
      "current-context": "c",
    });
  }

  /** Stops kube-apiserver only (etcd runs on): an API server outage, until startApiServer(). */
  async stopApiServer(): Promise<void> {
    const r = await run("bash", [join(SCRIPTS, "kube-down.sh"), this.dir, "kube-apiserver"], process.env);
    if (r.code !== 0) throw new Error(`scripts/kube-down.sh failed:\n${r.stderr}`);
  }

  /** Starts kube-apiserver again after stopApiServer(); resolves once /readyz is ok. */
  async startApiServer(): Promise<void> {
    const r = await run("bash", [join(SCRIPTS, "kube-up.sh"), this.dir], {
      ...process.env,
      KUBE_API_PORT: String(this.port),
    });
    if (r.code !== 0) throw new Error(`scripts/kube-up.sh failed (${r.code}):\n${r.stderr}`);
  }

  /** The same as stop() (for the lab's LabApi). */
  close(): Promise<void> {
    return this.stop();
  }

  /**
   * The same as stop(), synchronously: for a process's exit handler (kube-up.sh starts the
   * servers in sessions of their own, so nothing else ends them when the lab's process ends).
   */
  stopSync(): void {
    spawnSync("bash", [join(SCRIPTS, "kube-down.sh"), this.dir], { stdio: "ignore" });
    if (!process.env.VK_KEEP_KUBE) rmSync(this.dir, { recursive: true, force: true });
  }

  async stop(): Promise<void> {
    const r = await run("bash", [join(SCRIPTS, "kube-down.sh"), this.dir], process.env);
    if (r.code !== 0) throw new Error(`scripts/kube-down.sh failed:\n${r.stderr}`);
    if (!process.env.VK_KEEP_KUBE) rmSync(this.dir, { recursive: true, force: true });
  }
}
