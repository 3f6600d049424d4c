// The lab's forwarder as a program, run in a node's namespace: node unix-forward-main.ts PORT SOCKET
// (127.0.0.1:PORT -> SOCKET; see unix-forward.ts). A module of its own, not a check of
// process.argv in the library: bundled, the library's code sits in a shared chunk, where no such
// check can tell it was started as a program.
import { tcpToUnix } from "./unix-forward.ts";

const [port, path] = process.argv.slice(2);
if (!port || !path) {
  process.stderr.write("usage: unix-forward-main.ts PORT SOCKET\n");
  process.exit(2);
}
await tcpToUnix(Number(port), path);
process.stdout.write("ready\n");
