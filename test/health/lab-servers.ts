// Real servers for test/health/keepalived-checks.test.ts, run inside a lab host: HTTP on 8080 (each
// path its own body and status) and SMTP servers that answer well or badly, one per port. Prints
// "ready" once every port listens.
import { createServer as createHttpServer } from "node:http";
import { createServer, type Socket } from "node:net";

const http = createHttpServer((req, res) => {
  if (req.url === "/a") res.writeHead(200).end("alpha");
  else if (req.url === "/b") res.writeHead(200).end("beta");
  else if (req.url === "/created") res.writeHead(201).end("made");
  else res.writeHead(404).end("no");
});

type Smtp = { banner: string; helo: (name: string) => string };
const SMTP: Record<number, Smtp> = {
  // A good server; its HELO answer names the client, so the test sees the name sent.
  25: { banner: "220 mx.lab ESMTP\r\n", helo: (n) => `250 mx.lab hello ${n}\r\n` },
  // Multi-line replies, as Postfix and Exim write them.
  2500: {
    banner: "220-mx.lab ESMTP\r\n220-no UCE\r\n220 ready\r\n",
    helo: (n) => `250-mx.lab hello ${n}\r\n250 8BITMIME\r\n`,
  },
  // Refuses the connection at the banner.
  2525: { banner: "554 mx.lab no service\r\n", helo: () => "" },
  // Greets, then refuses the HELO.
  2526: { banner: "220 mx.lab ESMTP\r\n", helo: () => "501 syntax error\r\n" },
};

function smtp(s: Smtp) {
  return (sock: Socket) => {
    sock.write(s.banner);
    let got = "";
    sock.on("data", (d: Buffer) => {
      got += d.toString("latin1");
      let eol;
      while ((eol = got.indexOf("\r\n")) >= 0) {
        const line = got.slice(0, eol);
        got = got.slice(eol + 2);
        if (/^HELO /i.test(line)) sock.write(s.helo(line.slice(5)));
        else if (/^QUIT/i.test(line)) sock.end("221 bye\r\n");
        else sock.write("500 what\r\n");
      }
    });
    sock.on("error", () => {});
  };
}

const listening = [
  new Promise<void>((r) => http.listen(8080, "::", r)),
  ...Object.entries(SMTP).map(
    ([port, s]) => new Promise<void>((r) => createServer(smtp(s)).listen(Number(port), "::", r)),
  ),
];
await Promise.all(listening);
process.stdout.write("ready\n");
