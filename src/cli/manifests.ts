// `vipkeeper manifests`: prints the install manifests (what deploy/ holds) for a namespace, an
// image and values of the chart's shape — `helm template` for machines without helm.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { repoCrdFiles } from "../install/files.ts";
import { deployFiles, resolveValues, ValuesError } from "../install/manifests.ts";

const HELP = `Usage: vipkeeper manifests [options] | kubectl apply -f -

Prints the CRDs, namespace, RBAC, controller and agent settings that deploy/ holds, with these
changes applied.

Options:
  --namespace NS     install into NS (default: vipkeeper)
  --image REPO:TAG   the image for controller and agents
  --values FILE      values in the chart's shape (charts/vipkeeper/values.yaml), over the defaults
  --no-crds          leave the CRDs out
  -h, --help         show this help
`;

export function manifests(argv: string[], readFile = (f: string) => readFileSync(f, "utf8")): string {
  const { values: opts } = parseArgs({
    args: argv,
    options: {
      namespace: { type: "string" },
      image: { type: "string" },
      values: { type: "string" },
      "no-crds": { type: "boolean" },
    },
  });
  const overrides = (opts.values ? parseYaml(readFile(opts.values)) : {}) as Record<string, unknown>;
  if (opts.image) {
    // The tag is after the last colon that follows the last slash (a registry may have a port).
    const m = /^(.+?)(?::([^:/]+))?$/.exec(opts.image)!;
    const image = (overrides.image ?? {}) as Record<string, unknown>;
    overrides.image = { ...image, repository: m[1], ...(m[2] ? { tag: m[2] } : {}) };
  }
  const namespace = opts.namespace ?? "vipkeeper";
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace))
    throw new ValuesError(`--namespace: '${namespace}' is not a valid namespace name`);
  const files = deployFiles([...repoCrdFiles().values()], namespace, resolveValues(overrides));
  return [...files]
    .filter(([name]) => !(opts["no-crds"] && name.includes("crds")))
    .map(([, text]) => text)
    .join("---\n");
}

export function runManifests(argv: string[]): number {
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(HELP);
    return 0;
  }
  try {
    process.stdout.write(manifests(argv));
    return 0;
  } catch (err) {
    process.stderr.write(`vipkeeper manifests: ${(err as Error).message}\n`);
    return 2;
  }
}
