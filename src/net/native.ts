// The project's own socket addon (native/vipkeeper_net.c): generic syscalls, protocols in TypeScript.
// Chosen over raw-socket (no recvmsg, so no IPv6 hop limit or destination; no bind; nan, which needs
// overriding to build on Node 24; main thread only) and over spawning `ip` (~20 ms a call).
import { createRequire } from "node:module";

export interface NativeNet {
  socket(domain: number, type: number, protocol: number): number;
  close(fd: number): void;
  bind(fd: number, sockaddr: Buffer): void;
  setsockopt(fd: number, level: number, name: number, value: Buffer): void;
  getsockname(fd: number): Buffer;
  sendmsg(fd: number, data: Buffer, to: Buffer | null, control: Buffer | null): number;
  startReading(
    fd: number,
    onMessage: (data: Buffer, from: Buffer, control: Buffer, flags: number) => void,
    bufferSize: number,
    controlSize: number,
    onError?: (err: Error) => void,
    /** Only the datagram is passed: `from`, `control` and `flags` are undefined (fewer copies). */
    dataOnly?: boolean,
  ): void;
  stopReading(fd: number): void;
  ifNameToIndex(name: string): number;
}

/** An errno failure from the addon: `code` is the errno name (EEXIST, EADDRNOTAVAIL, ...). */
export interface SyscallError extends Error {
  code: string;
  errno: number;
}

let loaded: NativeNet | undefined;

export function nativeNet(): NativeNet {
  if (loaded) return loaded;
  const path = new URL("../../build/Release/vipkeeper_net.node", import.meta.url).pathname;
  try {
    loaded = createRequire(import.meta.url)(path) as NativeNet;
  } catch (err) {
    throw new Error(
      `vipkeeper's network addon is not built (${(err as Error).message.split("\n")[0]}): run \`npm run build:native\` with Node 24 on PATH`,
    );
  }
  return loaded;
}

export function errnoCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String(err.code) : undefined;
}
