// A mail sink for tests: an SMTP server (smtp-server) that hands over each message it receives.
// As a program (node smtp-sink.ts PORT FILE) it appends each as a JSON line to FILE, for lab nodes.
import { appendFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { SMTPServer } from "smtp-server";

export interface ReceivedMail {
  from: string;
  to: string[];
  data: string;
}

/** Listens on 127.0.0.1:port (0: any free port); resolves with the port and a close function. */
export function startSmtpSink(
  port: number,
  onMail: (mail: ReceivedMail) => void,
): Promise<{ port: number; close(): void }> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    onData(stream, session, done) {
      let data = "";
      stream.on("data", (d: Buffer) => (data += d.toString()));
      stream.on("end", () => {
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
        onMail({ from, to: session.envelope.rcptTo.map((r) => r.address), data });
        done();
      });
    },
  });
  return new Promise((resolve) =>
    server.listen(port, "127.0.0.1", () =>
      resolve({ port: (server.server.address() as AddressInfo).port, close: () => server.close() }),
    ),
  );
}

if (import.meta.filename === process.argv[1]) {
  const [port, file] = process.argv.slice(2);
  if (!port || !file) throw new Error("usage: smtp-sink.ts PORT FILE");
  await startSmtpSink(Number(port), (mail) => appendFileSync(file, `${JSON.stringify(mail)}\n`));
  process.stdout.write("listening\n");
}
