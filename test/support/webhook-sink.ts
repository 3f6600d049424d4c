// A webhook receiver for lab tests: as a program (node webhook-sink.ts HOST PORT FILE) it answers
// every POST with 204 and appends its JSON body as one line to FILE, and says "listening" once up.
import { appendFileSync } from "node:fs";
import { createServer } from "node:http";

const [host, port, file] = process.argv.slice(2);
if (!host || !port || !file) throw new Error("usage: webhook-sink.ts HOST PORT FILE");
createServer((req, res) => {
  let body = "";
  req.on("data", (d: Buffer) => (body += d.toString()));
  req.on("end", () => {
    if (req.method === "POST") appendFileSync(file, `${JSON.stringify(JSON.parse(body))}\n`);
    res.writeHead(req.method === "POST" ? 204 : 405).end();
  });
}).listen(Number(port), host, () => process.stdout.write("listening\n"));
