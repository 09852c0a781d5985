// One call to mount a Filesystem and serve it, and the matching shutdown — what the agent uses.
// The pieces (FuseConnection, FuseSession) stay separate for the fd hand-over of a later step.

import { InitFlag } from './abi.ts';
import { FuseConnection, type MountOptions } from './connection.ts';
import { stderrLogger } from './context.ts';
import type { DeviceOptions } from './device.ts';
import type { Filesystem } from './filesystem.ts';
import { setReadAhead, type UnmountResult } from './mount.ts';
import {
  FuseSession,
  type FuseLogger,
  type NegotiatedProtocol,
  type SessionOptions,
} from './session.ts';

export interface MountedFilesystem {
  readonly connection: FuseConnection;
  readonly session: FuseSession;
  readonly protocol: NegotiatedProtocol;
  /**
   * Unmount (lazily when busy), wait up to `graceMs` (default 10 s) for the kernel to end the
   * connection, then close the device. A detached mount whose users outlive the grace period is
   * aborted: they get ENOTCONN. Always call this before exiting: Node's exit waits for its
   * threadpool, where reads of a live connection block.
   */
  unmount(options?: { graceMs?: number }): Promise<UnmountResult | 'not-mounted'>;
  /**
   * Stop serving without unmounting: the mount lives on in the process that holds another copy
   * of the device fd (a supervisor, or the next owner of a hand-over).
   */
  release(): void;
}

/** Mount `fs` at options.mountpoint and serve it until unmounted. Resolves after FUSE_INIT. */
export async function mountFilesystem(
  fs: Filesystem,
  options: MountOptions & SessionOptions,
): Promise<MountedFilesystem> {
  const connection = await FuseConnection.mount(options);
  const session = new FuseSession(connection.device, fs, options);
  session.start();
  let protocol: NegotiatedProtocol;
  try {
    protocol = await session.ready;
  } catch (err) {
    await connection.unmount({ lazyIfBusy: true }).catch(() => undefined);
    throw err;
  }
  if (options.readAheadKb !== undefined)
    applyReadAhead(connection, options.readAheadKb, options.log);
  return served(connection, session, protocol, options.log);
}

/**
 * Only now, after FUSE_INIT: the kernel offers its current window (128 KiB by default) as
 * max_readahead in INIT and, processing our reply (synchronously, in our write), sets the window
 * to the smaller of the two — a window set at mount time would be lowered back to 128 KiB.
 * Files opened from here on use the new window. Not fatal: a read-only /sys only costs speed.
 */
function applyReadAhead(connection: FuseConnection, kb: number, log: FuseLogger | undefined): void {
  try {
    setReadAhead(connection.mountpoint, kb);
  } catch (err) {
    (log ?? stderrLogger).warn({ err, readAheadKb: kb }, 'fuse: cannot set the readahead window');
  }
}

/**
 * Serve a connection mounted by another process, from its inherited device fd (hand-over):
 * no FUSE_INIT (the previous owner negotiated `protocol`), and FUSE_NOTIFY_RESEND right away so
 * that requests the previous owner read but did not answer come to this process.
 */
export function adoptFilesystem(
  fs: Filesystem,
  handover: { fd: number; mountpoint: string; protocol: NegotiatedProtocol },
  options: DeviceOptions & SessionOptions = {},
): MountedFilesystem {
  const connection = FuseConnection.adopt(handover.fd, handover.mountpoint, options);
  const session = new FuseSession(connection.device, fs, { ...options, resume: handover.protocol });
  session.start();
  if (handover.protocol.flags & InitFlag.HAS_RESEND) session.notifyResend();
  else
    (options.log ?? stderrLogger).warn(
      {},
      'fuse: kernel cannot resend; requests pending in the old process hang',
    );
  return served(connection, session, handover.protocol, options.log);
}

/**
 * Serve a mount whose device fd this process inherited from the process that mounted it (the
 * agent's supervisor). With `protocol`, an earlier server of this mount already answered
 * FUSE_INIT: resume it and ask the kernel to resend what that server left unanswered. Without,
 * this process answers the kernel's FUSE_INIT (then sets the readahead window, as a mount does).
 */
export async function serveInheritedFilesystem(
  fs: Filesystem,
  inherited: { fd: number; mountpoint: string; protocol?: NegotiatedProtocol },
  options: DeviceOptions & SessionOptions & { readAheadKb?: number } = {},
): Promise<MountedFilesystem> {
  const { fd, mountpoint, protocol } = inherited;
  if (protocol) return adoptFilesystem(fs, { fd, mountpoint, protocol }, options);
  const connection = FuseConnection.adopt(fd, mountpoint, options);
  const session = new FuseSession(connection.device, fs, options);
  session.start();
  const negotiated = await session.ready;
  if (options.readAheadKb !== undefined)
    applyReadAhead(connection, options.readAheadKb, options.log);
  return served(connection, session, negotiated, options.log);
}

function served(
  connection: FuseConnection,
  session: FuseSession,
  protocol: NegotiatedProtocol,
  log: FuseLogger | undefined,
): MountedFilesystem {
  let stopping: Promise<UnmountResult | 'not-mounted'> | undefined;
  return {
    connection,
    session,
    protocol,
    unmount: (opts) => (stopping ??= stop(connection, session, opts?.graceMs ?? 10_000, log)),
    release: () => connection.release(),
  };
}

async function stop(
  connection: FuseConnection,
  session: FuseSession,
  graceMs: number,
  log: FuseLogger | undefined,
): Promise<UnmountResult | 'not-mounted'> {
  const result = await connection.unmount({ lazyIfBusy: true });
  if (!(await settlesWithin(session.closed, graceMs))) {
    // Still in use after a lazy unmount: cut the users off so the device reads return.
    await connection.abort().catch((err: unknown) => log?.error({ err }, 'fuse: abort failed'));
    await settlesWithin(session.closed, 5_000);
  }
  connection.close();
  return result;
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const settled = await Promise.race([promise.then(() => true), timeout]);
  clearTimeout(timer);
  return settled;
}

/**
 * On SIGTERM/SIGINT: unmount (lazily when busy), then call `onDone` (default: exit 0).
 * Returns a function that removes the handlers.
 */
export function unmountOnSignals(
  mounted: MountedFilesystem,
  options: {
    signals?: NodeJS.Signals[];
    graceMs?: number;
    log?: FuseLogger;
    onDone?: (signal: NodeJS.Signals) => void;
  } = {},
): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const onDone = options.onDone ?? (() => process.exit(0));
  const remove = (): void => signals.forEach((s) => process.off(s, handler));
  const handler = (signal: NodeJS.Signals): void => {
    remove();
    mounted
      .unmount({ graceMs: options.graceMs })
      .catch((err: unknown) => options.log?.error({ err }, 'fuse: unmount on signal failed'))
      .finally(() => onDone(signal));
  };
  signals.forEach((s) => process.on(s, handler));
  return remove;
}
