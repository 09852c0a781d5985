// /dev/fuse as a FuseTransport. Reads block in the libuv threadpool (Node cannot poll a character
// device), so every outstanding read occupies one pool thread: UV_THREADPOOL_SIZE must leave room
// for the filesystem's own async I/O (see docs/benchmarks.md, "FUSE server").
// Replies are written synchronously: writing to /dev/fuse only copies the reply into the waiting
// request and wakes its caller, so it never blocks, and skipping the threadpool saves a hop per op.

import fs from 'node:fs';

import type { FuseTransport } from './transport.ts';

export class FuseDevice implements FuseTransport {
  readonly fd: number;
  private closed = false;

  constructor(fd: number) {
    this.fd = fd;
  }

  /** Open a new, not yet mounted FUSE connection. */
  static open(path = '/dev/fuse'): FuseDevice {
    return new FuseDevice(fs.openSync(path, 'r+'));
  }

  read(buf: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      const attempt = (): void => {
        if (this.closed) {
          resolve(0);
          return;
        }
        fs.read(this.fd, buf, 0, buf.length, null, (err, bytes) => {
          if (!err) resolve(bytes);
          else if (isRetryable(err)) attempt();
          else if (err.code === 'ENODEV' || err.code === 'EBADF') resolve(0);
          else reject(err);
        });
      };
      attempt();
    });
  }

  write(chunks: readonly Buffer[]): void {
    if (this.closed) return;
    try {
      if (chunks.length === 1) fs.writeSync(this.fd, chunks[0]);
      else fs.writevSync(this.fd, chunks);
    } catch (err) {
      // ENOENT: the kernel no longer waits for this request (interrupted, or an interrupt reply
      // for a request already answered). ENODEV: the connection is gone; reads will notice.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENODEV') throw err;
    }
  }

  /**
   * Close our descriptor. Closing does not end the connection while other copies of the fd exist
   * (e.g. handed to another process), and reads blocked in the threadpool keep the file open until
   * they return — so unmount first, then close.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

function isRetryable(err: NodeJS.ErrnoException): boolean {
  return err.code === 'EINTR' || err.code === 'EAGAIN' || err.code === 'ENOENT';
}
