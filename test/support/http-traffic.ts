// HTTP traffic in the lab: real servers that answer with their name (src/lab/http-backend.ts) and a client
// that counts who answered (http-load.ts), each run in a lab host.
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { Lab } from "../../src/lab/lab.ts";
import { waitUntil } from "./agents.ts";

export const HTTP_BACKEND = join(import.meta.dirname, "../../src/lab/http-backend.ts");
export const HTTP_LOAD = join(import.meta.dirname, "http-load.ts");

/** Answers by server name (and "error" for failures). */
export type Answers = Record<string, number>;

/** N GETs of `url` from the lab's client, each on a new connection; `source`: one of its addresses. */
export function httpLoad(lab: Lab, url: string, n: number, source?: string): Answers {
  const argv = [process.execPath, HTTP_LOAD, url, String(n), ...(source ? [source] : [])];
  return JSON.parse(lab.exec("client", argv)) as Answers;
}

/** A real server on `host` answering every request with `name`; resolves once it listens. */
export async function startBackend(lab: Lab, host: string, port: number, name = host): Promise<ChildProcess> {
  const server = lab.spawn(host, [process.execPath, HTTP_BACKEND, String(port), name]);
  await new Promise((r) => server.stdout?.once("data", r));
  return server;
}

/** Waits until 4 requests in a row are all answered by `who`; the error names the last answers. */
export async function waitAnsweredBy(
  lab: Lab,
  url: string,
  who: string,
  what: string,
  ms: number,
  source?: string,
): Promise<void> {
  let last: Answers = {};
  try {
    await waitUntil(
      () => {
        last = httpLoad(lab, url, 4, source);
        return JSON.stringify(last) === JSON.stringify({ [who]: 4 });
      },
      ms,
      what,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}; last answers: ${JSON.stringify(last)}`);
  }
}
