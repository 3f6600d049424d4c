// vipkeeper's command line: one binary for every role, a subcommand each, loaded only when used.
import { readFileSync } from "node:fs";

interface Command {
  summary: string;
  run(args: string[]): Promise<number> | number;
}

const commands: Record<string, Command> = {
  agent: {
    summary: "Run this node's VRRP instances, from a file or (--cluster) from the Kubernetes API",
    run: async (args) => (await import("./agent.ts")).runAgent(args),
  },
  controller: {
    summary: "Run the cluster controller (plans VirtualRouters, keeps the agents' DaemonSet)",
    run: async (args) => (await import("./controller.ts")).runController(args),
  },
  crds: {
    summary: "Print the CustomResourceDefinitions (or write them: --write DIR)",
    run: async (args) => (await import("./crds.ts")).runCrds(args),
  },
  import: {
    summary: "Print the VirtualRouter objects equivalent to keepalived.conf files",
    run: async (args) => (await import("./import.ts")).runImport(args),
  },
  manifests: {
    summary: "Print the install manifests (deploy/) for a namespace, image and chart values",
    run: async (args) => (await import("./manifests.ts")).runManifests(args),
  },
  lab: {
    summary: "Run a 3-node lab in network namespaces and show a failover (root)",
    run: async (args) => (await import("./lab.ts")).runLab(args),
  },
  sim: {
    summary: "Simulate a VRRP group on a virtual clock and print a failover timeline",
    run: async (args) => (await import("./sim.ts")).runSim(args),
  },
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    "Usage: vipkeeper <command> [options]",
    "",
    "Keeps virtual IPs alive with VRRP (keepalived-compatible) on bare-metal Kubernetes and plain hosts.",
    "",
    "Commands:",
    ...lines,
    "",
    "Options:",
    "  -h, --help     Show help (also: vipkeeper <command> --help)",
    "  -V, --version  Show the version",
    "",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "-h" || first === "--help" || first === "help") {
    process.stdout.write(usage());
    return first === undefined ? 2 : 0;
  }
  if (first === "-V" || first === "--version") {
    process.stdout.write(`vipkeeper ${version()}\n`);
    return 0;
  }
  const command = commands[first];
  if (!command) {
    process.stderr.write(`vipkeeper: unknown command '${first}'\n\n${usage()}`);
    return 2;
  }
  return command.run(rest);
}

process.exitCode = await main(process.argv.slice(2));
