// /dev/fuse as a FuseTransport, with two ways of reading requests:
//  - 'epoll' (default): the fd is wrapped in a libuv stream handle, so the event loop's epoll wakes
//    the main thread when a request is ready — one wakeup per request, like a C daemon's loop,
//    and no threadpool use at all. Node exposes no public API to poll a character device, so this
//    uses the pipe_wrap binding (process.binding, still supported in Node 24); if that ever goes
//    away, open() falls back to 'threadpool'.
//  - 'threadpool': blocking reads in libuv's threadpool, several outstanding. Every idle read
//    holds a pool thread (UV_THREADPOOL_SIZE must leave room for the filesystem's own I/O), each
//    request costs an extra thread hop, and the process cannot exit while reads block (Node joins
//    its pool at exit) — abort or unmount first.
// Small replies are written synchronously: a write to /dev/fuse only copies the reply into the
// waiting request and wakes its caller, so it never blocks, and skipping the threadpool saves a
// hop per op. Large ones (READ data) go through the threadpool: copying a MiB into the reader's
// pages takes long enough that the main thread is better off reading the next request meanwhile
// (the two cores then copy and serve in parallel). Their buffers are never changed afterwards.

import fs from 'node:fs';
import net from 'node:net';

import type { FuseTransport } from './transport.ts';

export type DeviceReader = 'epoll' | 'threadpool';

export interface DeviceOptions {
  /** How requests are read; see the top of this file. Default 'epoll'. */
  reader?: DeviceReader;
  /** Outstanding reads in 'threadpool' mode. Default 4. */
  threadpoolReaders?: number;
}

/** Replies at least this big are written asynchronously (see the top of this file). */
export const ASYNC_REPLY_BYTES = 64 * 1024;

function totalLength(chunks: readonly Buffer[]): number {
  let n = 0;
  for (const c of chunks) n += c.length;
  return n;
}

/**
 * ENOENT: the kernel no longer waits for this request (interrupted, or an interrupt reply for a
 * request already answered). ENODEV: the connection is gone; reads will notice.
 */
function isGoneRequest(err: NodeJS.ErrnoException): boolean {
  return err.code === 'ENOENT' || err.code === 'ENODEV';
}

/** Read buffer for threadpool reads: the kernel refuses reads smaller than max_write + headers. */
export const REQUEST_BUFFER_SIZE = 64 * 1024 + 4096;

export class FuseDevice implements FuseTransport {
  readonly fd: number;
  readonly reader: DeviceReader;
  private readonly readers: number;
  private closed = false;
  private stream: net.Socket | undefined;
  private readonly asyncWrites: boolean;
  /** Errors of asynchronous reply writes (other than a request the kernel gave up on). */
  onWriteError?: (err: Error) => void;

  constructor(fd: number, options: DeviceOptions = {}) {
    this.fd = fd;
    this.reader = options.reader ?? (pipeWrap() ? 'epoll' : 'threadpool');
    this.readers = Math.max(1, options.threadpoolReaders ?? 4);
    // In threadpool mode the pool is busy with blocking reads: keep replies off it.
    this.asyncWrites = this.reader === 'epoll';
  }

  /** Open a new, not yet mounted FUSE connection. */
  static open(options: DeviceOptions = {}, path = '/dev/fuse'): FuseDevice {
    return new FuseDevice(fs.openSync(path, 'r+'), options);
  }

  /** Start reading; call only once the connection is mounted (reads fail with EPERM before). */
  listen(onRequest: (buf: Buffer, length: number) => void, onEnd: (err?: Error) => void): void {
    if (this.reader === 'epoll') this.listenEpoll(onRequest, onEnd);
    else this.listenThreadpool(onRequest, onEnd);
  }

  write(chunks: readonly Buffer[]): void {
    if (this.closed) return;
    if (this.asyncWrites && totalLength(chunks) >= ASYNC_REPLY_BYTES) {
      fs.writev(this.fd, chunks, (err) => {
        if (err && !this.closed && !isGoneRequest(err)) this.onWriteError?.(err);
      });
      return;
    }
    try {
      if (chunks.length === 1) fs.writeSync(this.fd, chunks[0]);
      else fs.writevSync(this.fd, chunks);
    } catch (err) {
      if (!isGoneRequest(err as NodeJS.ErrnoException)) throw err;
    }
  }

  /**
   * Close our descriptor. This does not end the connection while other copies of the fd exist
   * (e.g. handed to another process), nor while threadpool reads block on it: unmount first.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.stream)
      this.stream.destroy(); // the stream handle owns the fd and closes it
    else fs.closeSync(this.fd);
  }

  private listenEpoll(
    onRequest: (buf: Buffer, length: number) => void,
    onEnd: (err?: Error) => void,
  ): void {
    const binding = pipeWrap();
    if (!binding) throw new Error('pipe_wrap binding unavailable; use reader: "threadpool"');
    const handle = new binding.Pipe(binding.constants.SOCKET);
    const status = handle.open(this.fd);
    if (status !== 0) throw new Error(`cannot watch /dev/fuse (uv error ${status})`);
    // Each read(2) on /dev/fuse returns exactly one request. `onread` hands every read straight
    // to us in one reused buffer, skipping the Readable stream machinery (a few µs per request).
    const buffer = Buffer.alloc(REQUEST_BUFFER_SIZE);
    const options = {
      handle,
      readable: true,
      writable: false,
      onread: {
        buffer,
        callback: (length: number): void => {
          onRequest(buffer, length);
        },
      },
    };
    // `handle` is the (undocumented) option net.Socket uses internally to adopt a libuv handle.
    const stream = new net.Socket(options as unknown as net.SocketConstructorOpts);
    this.stream = stream;
    let ended = false;
    const end = (err?: Error): void => {
      if (ended) return;
      ended = true;
      onEnd(err);
    };
    stream.on('error', (err: NodeJS.ErrnoException) => {
      stream.destroy();
      end(isEnd(err) || this.closed ? undefined : err);
    });
    stream.on('close', () => end());
  }

  private listenThreadpool(
    onRequest: (buf: Buffer, length: number) => void,
    onEnd: (err?: Error) => void,
  ): void {
    let running = this.readers;
    let failure: Error | undefined;
    const loop = async (buf: Buffer): Promise<void> => {
      for (;;) {
        const length = await this.readOnce(buf).catch((err: Error) => {
          failure ??= err;
          return 0;
        });
        if (length === 0) break;
        onRequest(buf, length);
      }
      if (--running === 0) onEnd(failure);
    };
    for (let i = 0; i < this.readers; i++) void loop(Buffer.alloc(REQUEST_BUFFER_SIZE));
  }

  /** One blocking read in the threadpool; 0 when the connection is gone. */
  private readOnce(buf: Buffer): Promise<number> {
    return new Promise((resolve, reject) => {
      const attempt = (): void => {
        if (this.closed) return resolve(0);
        fs.read(this.fd, buf, 0, buf.length, null, (err, bytes) => {
          if (!err) resolve(bytes);
          else if (isRetryable(err)) attempt();
          else if (isEnd(err)) resolve(0);
          else reject(err);
        });
      };
      attempt();
    });
  }
}

/** The connection is gone: unmounted (ENODEV), aborted through fusectl (ECONNABORTED), fd closed. */
function isEnd(err: NodeJS.ErrnoException): boolean {
  return err.code === 'ENODEV' || err.code === 'ECONNABORTED' || err.code === 'EBADF';
}

/** EINTR/EAGAIN, or ENOENT: the kernel interrupted the request while we were reading it. */
function isRetryable(err: NodeJS.ErrnoException): boolean {
  return err.code === 'EINTR' || err.code === 'EAGAIN' || err.code === 'ENOENT';
}

interface PipeHandle {
  open(fd: number): number;
}
interface PipeWrapBinding {
  Pipe: new (type: number) => PipeHandle;
  constants: { SOCKET: number };
}

let cachedPipeWrap: PipeWrapBinding | null | undefined;

function pipeWrap(): PipeWrapBinding | null {
  if (cachedPipeWrap === undefined) {
    try {
      const binding = (process as unknown as { binding(name: string): unknown }).binding(
        'pipe_wrap',
      );
      cachedPipeWrap = binding as PipeWrapBinding;
    } catch {
      cachedPipeWrap = null;
    }
  }
  return cachedPipeWrap;
}
