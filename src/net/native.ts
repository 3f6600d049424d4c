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
  /**
   * Reads the socket on the event loop: each time it is readable, recvmmsg drains it into the
   * returned batch's slots (up to `batchSize` datagrams a call) and `onBatch(count)` is called
   * once for them. The batch's buffers are reused by the next drain: what a reader keeps past its
   * call it copies.
   */
  startReading(
    fd: number,
    onBatch: (count: number) => void,
    bufferSize: number,
    controlSize: number,
    batchSize: number,
    onError?: (err: Error) => void,
    /** No source addresses or ancillary data are read (`names`, `control` are undefined). */
    dataOnly?: boolean,
  ): ReadBatch;
  stopReading(fd: number): void;
  /**
   * After each drain, wait `ms` (0: not at all) before polling the socket again: what arrives
   * meanwhile is read in one wakeup, at most `ms` late.
   */
  setReadPause(fd: number, ms: number): void;
  /** Reads what is waiting now, paused or not: onBatch runs before this returns. */
  drainNow(fd: number): void;
  ifNameToIndex(name: string): number;
}

/**
 * The buffers of one socket's reads, made once by startReading. Datagram i (of an onBatch call's
 * `count`) is in `data` from i * bufferSize, `info[i * INFO_FIELDS + INFO_*]` bytes long, etc.
 */
export interface ReadBatch {
  readonly data: Buffer;
  /** Per datagram: INFO_FIELDS integers, indexed by INFO_LENGTH and the others below. */
  readonly info: Int32Array;
  /** Source addresses (struct sockaddr), SOCKADDR_SIZE bytes a slot. */
  readonly names?: Buffer;
  /** Ancillary data, controlSize bytes a slot. */
  readonly control?: Buffer;
}

export const INFO_FIELDS = 4;
/** The datagram's bytes in its slot (no more than bufferSize). */
export const INFO_LENGTH = 0;
/** recvmsg's msg_flags: MSG_TRUNC when the datagram was longer than its slot. */
export const INFO_FLAGS = 1;
export const INFO_NAME_LENGTH = 2;
export const INFO_CONTROL_LENGTH = 3;
/** sizeof(struct sockaddr_storage): one slot of `names`. */
export const SOCKADDR_SIZE = 128;

/**
 * One call per datagram over startReading, for readers that are not hot (netlink, ICMP echo, the
 * lab's prober). `data`, `from` and `control` are views of the batch, valid during the call only.
 */
export function readDatagrams(
  fd: number,
  onDatagram: (data: Buffer, from: Buffer, control: Buffer, flags: number) => void,
  opts: {
    bufferSize: number;
    controlSize?: number;
    /** Datagrams a drain takes at most (default 1: bufferSize bytes of memory per slot). */
    batchSize?: number;
    onError?: (err: Error) => void;
    /** `from` and `control` come empty. */
    dataOnly?: boolean;
  },
): void {
  const { bufferSize, controlSize = 0, batchSize = 1 } = opts;
  const empty = Buffer.alloc(0);
  const batch = nativeNet().startReading(
    fd,
    (count) => {
      const { data, info, names, control } = batch;
      for (let i = 0; i < count; i++) {
        const f = i * INFO_FIELDS;
        const at = i * bufferSize;
        const from = names
          ? names.subarray(i * SOCKADDR_SIZE, i * SOCKADDR_SIZE + info[f + INFO_NAME_LENGTH]!)
          : empty;
        const ctl = control
          ? control.subarray(i * controlSize, i * controlSize + info[f + INFO_CONTROL_LENGTH]!)
          : empty;
        onDatagram(data.subarray(at, at + info[f + INFO_LENGTH]!), from, ctl, info[f + INFO_FLAGS]!);
      }
    },
    bufferSize,
    controlSize,
    batchSize,
    opts.onError,
    opts.dataOnly,
  );
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
