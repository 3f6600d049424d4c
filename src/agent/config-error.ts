// The agent's file did not load: apart from the loader (config-file.ts), so that the agent's command
// line can tell it from other errors without loading the parsers and schemas (the cluster agent
// reads no file).
export class ConfigError extends Error {
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super(`${file}: invalid configuration\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.problems = problems;
  }
}
