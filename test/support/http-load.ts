// A client for lab tests: N HTTP GETs, each on a new connection, printing how many answers came
// from each server name (and failures) as JSON. Run: node http-load.ts URL N [SOURCE] (SOURCE: the
// local address to connect from, to be a second client from the same host). Failures count as
// "error"; their causes (timeout, ECONNREFUSED, ECONNRESET, ...) go to stderr, to tell a slow
// machine from a refused or reset connection.
import { get } from "node:http";

const [url, n, source] = process.argv.slice(2);
const counts: Record<string, number> = {};
const causes: Record<string, number> = {};
const one = () =>
  new Promise<string>((resolve) => {
    const req = get(
      url!,
      { agent: false, timeout: 1000, ...(source ? { localAddress: source } : {}) },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve(body));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err: NodeJS.ErrnoException) => {
      const cause = err.code ?? err.message;
      causes[cause] = (causes[cause] ?? 0) + 1;
      resolve("error");
    });
  });
for (let i = 0; i < Number(n); i++) {
  const who = await one();
  counts[who] = (counts[who] ?? 0) + 1;
}
if (counts.error) process.stderr.write(`failures by cause: ${JSON.stringify(causes)}\n`);
process.stdout.write(`${JSON.stringify(counts)}\n`);
