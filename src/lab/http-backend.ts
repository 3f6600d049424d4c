// A real server for lab tests: answers every HTTP request with its name. Run: node http-backend.ts PORT NAME
import { createServer } from "node:http";

const [port, name] = process.argv.slice(2);
createServer((_req, res) => res.writeHead(200, { connection: "close" }).end(name)).listen(Number(port), () =>
  process.stdout.write("listening\n"),
);
