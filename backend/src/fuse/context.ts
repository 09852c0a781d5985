// Per-request context handed to the filesystem, and the logger the session writes to.

import { constants } from 'node:os';

import type { FuseRequest } from './decode.ts';
import { FuseError, type MaybePromise, type RequestContext } from './filesystem.ts';

/** pino-compatible subset. */
export interface FuseLogger {
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

/** Promise-like, also from another realm (instanceof Promise would miss those). */
export function isThenable<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

/** RequestContext whose AbortController is only created if the filesystem looks at the signal. */
export class RequestCtx implements RequestContext {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  interrupted = false;
  private controller: AbortController | undefined;

  constructor(req: FuseRequest) {
    this.uid = req.header.uid;
    this.gid = req.header.gid;
    this.pid = req.header.pid;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.interrupted)
        this.controller.abort(new FuseError(constants.errno.EINTR, 'interrupted'));
    }
    return this.controller.signal;
  }

  interrupt(): void {
    if (this.interrupted) return;
    this.interrupted = true;
    this.controller?.abort(new FuseError(constants.errno.EINTR, 'interrupted'));
  }
}

export const stderrLogger: FuseLogger = {
  warn: (fields, message) => writeLog('warn', fields, message),
  error: (fields, message) => writeLog('error', fields, message),
};

function writeLog(level: string, fields: object, message: string): void {
  const plain = Object.fromEntries(
    Object.entries(fields).map(([k, v]) => [k, v instanceof Error ? `${v.name}: ${v.message}` : v]),
  );
  process.stderr.write(`${JSON.stringify({ level, msg: message, ...plain })}\n`);
}
