// A mail sink for lab nodes: an SMTP server (smtp-server) that appends each message it receives
// to a file as one JSON line. Run: node test/support/smtp-sink.ts PORT FILE
import { appendFileSync } from "node:fs";
import { SMTPServer } from "smtp-server";

const [port, file] = process.argv.slice(2);
if (!port || !file) throw new Error("usage: smtp-sink.ts PORT FILE");
const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ["STARTTLS"],
  onData(stream, session, done) {
    let data = "";
    stream.on("data", (d: Buffer) => (data += d.toString()));
    stream.on("end", () => {
      const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
      appendFileSync(
        file,
        `${JSON.stringify({ from, to: session.envelope.rcptTo.map((r) => r.address), data })}\n`,
      );
      done();
    });
  },
});
server.listen(Number(port), "127.0.0.1", () => process.stdout.write("listening\n"));
