// Serves a Filesystem over a FuseTransport: decodes each request as it arrives, runs the filesystem call without waiting for earlier ones (replies go out in any
// order, so a GETATTR never waits behind a READ stuck on the network) and honours INTERRUPT.

import { constants as fsConstants } from 'node:fs';
import { constants } from 'node:os';

import { FUSE_INT_REQ_BIT } from './abi.ts';
import { isThenable, RequestCtx, stderrLogger, type FuseLogger } from './context.ts';
import { DecodeError, decodeRequest, type FuseRequest, type RequestBody } from './decode.ts';
import {
  DirentWriter,
  direntSize,
  encodeAttr,
  encodeCreate,
  encodeDataHeader,
  encodeEmpty,
  encodeEntry,
  encodeError,
  encodeInit,
  encodeNegativeEntry,
  encodeOpen,
  encodeStatfs,
  encodeXattrSize,
  type Timeouts,
} from './encode.ts';
import {
  FuseError,
  type DirEntry,
  type Entry,
  type Filesystem,
  type MaybePromise,
  type RequestContext,
} from './filesystem.ts';
import { negotiateInit, type NegotiatedProtocol } from './init.ts';
import type { FuseTransport } from './transport.ts';

export type { FuseLogger } from './context.ts';
export type { NegotiatedProtocol } from './init.ts';

const E = constants.errno;
const { O_RDONLY, O_TRUNC } = fsConstants;

export interface SessionOptions {
  /** Seconds the kernel caches names when a reply gives none. Default 1. */
  entryTimeout?: number;
  /** Seconds the kernel caches attributes when a reply gives none. Default 1. */
  attrTimeout?: number;
  /** Pages per READ (max 256 = 1 MiB). Default 256. */
  maxPages?: number;
  /** Cap on the readahead the kernel proposes, in bytes. Default: whatever the kernel proposes. */
  maxReadahead?: number;
  /** Background (async readahead) requests the kernel may have in flight. Default 32. */
  maxBackground?: number;
  log?: FuseLogger;
  /**
   * Serve a connection that another process already initialised (fd hand-over): no FUSE_INIT
   * will come, so take the protocol it negotiated. Call notifyResend() once serving, so that the
   * kernel re-sends the requests the previous process read but never answered.
   */
  resume?: NegotiatedProtocol;
  /** Hears how long each answered request took, by kind (`lookup`, `read`, …): for metrics. */
  onOperation?: (kind: string, seconds: number) => void;
}

const NOTIFY_RESEND = 7;

const DEFAULT_STATFS = {
  blocks: 0,
  bfree: 0,
  bavail: 0,
  files: 0,
  ffree: 0,
  bsize: 4096,
  namelen: 255,
  frsize: 4096,
};

export class FuseSession {
  /** Resolves once FUSE_INIT has been answered. */
  readonly ready: Promise<NegotiatedProtocol>;
  /** Resolves when the connection has ended (unmounted/aborted) and every read has returned. */
  readonly closed: Promise<void>;
  /** Requests served, by kind; cheap counters for metrics and tests. */
  readonly counts = new Map<string, number>();

  private readonly transport: FuseTransport;
  private readonly fs: Filesystem;
  private readonly timeouts: Timeouts;
  private readonly options: SessionOptions;
  private readonly log: FuseLogger;
  private readonly inflight = new Map<bigint, RequestCtx>();
  private protocol: NegotiatedProtocol | undefined;
  private resolveReady!: (p: NegotiatedProtocol) => void;
  private rejectReady!: (err: Error) => void;
  private resolveClosed!: () => void;
  private started = false;
  private destroyed = false;

  constructor(transport: FuseTransport, fs: Filesystem, options: SessionOptions = {}) {
    this.transport = transport;
    this.fs = fs;
    this.options = options;
    this.timeouts = {
      entryTimeout: options.entryTimeout ?? 1,
      attrTimeout: options.attrTimeout ?? 1,
    };
    this.log = options.log ?? stderrLogger;
    transport.onWriteError = (err) => this.log.error({ err }, 'fuse: writing a reply failed');
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // Nobody may be awaiting `ready` when the connection fails; that must not crash the process.
    this.ready.catch(() => undefined);
    if (options.resume) {
      this.protocol = options.resume;
      this.resolveReady(options.resume);
    }
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  /** Start serving. Call right after mounting (the kernel's first request is FUSE_INIT). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.transport.listen(
      (buf, length) => this.dispatch(buf, length),
      (err) => {
        if (err) this.log.error({ err }, 'fuse: reading /dev/fuse failed; session ends');
        this.end();
        this.resolveClosed();
      },
    );
  }

  /**
   * FUSE_NOTIFY_RESEND (kernel 6.9+, protocol 7.40): the kernel puts every request it has sent
   * but not seen answered back in the queue, so this session gets them again. Used after taking
   * over a connection from a process that stopped mid-request.
   */
  notifyResend(): void {
    const buf = Buffer.alloc(16);
    buf.writeUInt32LE(16, 0);
    buf.writeInt32LE(NOTIFY_RESEND, 4); // notifications carry their code in the error field
    buf.writeBigUInt64LE(0n, 8); // unique 0 marks a notification
    this.transport.write([buf]);
  }

  /** The negotiated protocol, once ready. */
  get negotiated(): NegotiatedProtocol | undefined {
    return this.protocol;
  }

  private end(): void {
    if (!this.protocol) this.rejectReady(new Error('FUSE connection ended before FUSE_INIT'));
    this.callDestroy();
  }

  private callDestroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      this.fs.destroy?.();
    } catch (err) {
      this.log.error({ err }, 'fuse: filesystem destroy() threw');
    }
  }

  /** Decode one request and start serving it; never throws. */
  private dispatch(buf: Buffer, length: number): void {
    let req: FuseRequest;
    try {
      req = decodeRequest(buf, length);
    } catch (err) {
      this.rejectMalformed(err);
      return;
    }
    const kind = req.body.kind;
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    try {
      this.serve(req);
    } catch (err) {
      this.log.error({ err, kind }, 'fuse: internal error serving request');
      this.send(encodeError(req.header.unique, E.EIO));
    }
  }

  private rejectMalformed(err: unknown): void {
    const unique = err instanceof DecodeError ? err.unique : undefined;
    this.log.warn({ err }, 'fuse: malformed request');
    if (unique !== undefined) {
      this.send(encodeError(unique, err instanceof DecodeError ? err.errno : E.EIO));
    }
  }

  private serve(req: FuseRequest): void {
    const { header, body } = req;
    const ino = header.nodeid;
    switch (body.kind) {
      case 'init':
        return this.init(header.unique, body);
      case 'lookup':
        return this.call(
          req,
          (ctx) => this.fs.lookup(ino, body.name, ctx),
          (entry) => encodeEntry(header.unique, entry, this.timeouts),
        );
      case 'forget':
        return this.forget(ino, body.nlookup);
      case 'batchForget':
        for (const item of body.items) this.forget(item.ino, item.nlookup);
        return;
      case 'getattr':
        return this.call(
          req,
          (ctx) => this.fs.getattr(ino, ctx),
          (r) => encodeAttr(header.unique, r.attr, r.timeout ?? this.timeouts.attrTimeout),
        );
      case 'readlink':
        return this.call(
          req,
          (ctx) => this.readlink(ino, ctx),
          (target) =>
            this.data(header.unique, typeof target === 'string' ? Buffer.from(target) : target),
        );
      case 'open':
        return this.open(req, body.flags);
      case 'read':
        return this.call(
          req,
          (ctx) => this.fs.read(ino, body.fh, body.offset, body.size, ctx),
          (data) =>
            this.data(header.unique, data.length > body.size ? data.subarray(0, body.size) : data),
        );
      case 'release':
        return this.call(
          req,
          () => this.fs.release?.(ino, body.fh),
          () => encodeEmpty(header.unique),
        );
      case 'opendir': {
        const opendir = this.fs.opendir?.bind(this.fs);
        if (!opendir) return this.send(encodeError(header.unique, E.ENOSYS));
        return this.call(
          req,
          (ctx) => opendir(ino, body.flags, ctx),
          (r) => encodeOpen(header.unique, r),
        );
      }
      case 'readdir':
        return this.call(
          req,
          (ctx) => this.readdir(req, body, ctx),
          (reply) => reply,
        );
      case 'releasedir':
        return this.call(
          req,
          () => this.fs.releasedir?.(ino, body.fh),
          () => encodeEmpty(header.unique),
        );
      case 'statfs':
        return this.call(
          req,
          (ctx) => this.fs.statfs?.(ino, ctx) ?? DEFAULT_STATFS,
          (st) => encodeStatfs(header.unique, st),
        );
      case 'getxattr':
        return this.call(
          req,
          (ctx) => this.getxattr(ino, body.name, ctx),
          (value) => this.xattrReply(header.unique, value, body.size),
        );
      case 'listxattr':
        return this.call(
          req,
          (ctx) => this.fs.listxattr?.(ino, ctx) ?? [],
          (names) =>
            this.xattrReply(
              header.unique,
              Buffer.from(names.map((n) => `${n}\0`).join('')),
              body.size,
            ),
        );
      case 'access':
        return this.call(
          req,
          (ctx) => this.fs.access?.(ino, body.mask, ctx),
          () => encodeEmpty(header.unique),
        );
      case 'create':
        return this.create(req, body);
      case 'rmdir': {
        const rmdir = this.fs.rmdir?.bind(this.fs);
        if (!rmdir) return this.send(encodeError(header.unique, E.EROFS));
        return this.call(
          req,
          (ctx) => rmdir(ino, body.name, ctx),
          () => encodeEmpty(header.unique),
        );
      }
      case 'flush':
        // Nothing is ever buffered for writing; ENOSYS makes the kernel skip FLUSH on every close.
        return this.send(encodeError(header.unique, E.ENOSYS));
      case 'interrupt':
        return this.interrupt(header.unique, body.target);
      case 'destroy':
        this.callDestroy();
        return this.send(encodeEmpty(header.unique));
      case 'notifyReply':
        return;
      case 'noop':
        return this.send(encodeEmpty(header.unique));
      case 'readOnly':
        return this.send(encodeError(header.unique, E.EROFS));
      case 'unsupported':
        return this.send(encodeError(header.unique, E.ENOSYS));
    }
  }

  /**
   * Run one filesystem call and reply with its encoded result, or with -errno. Synchronous results
   * are answered at once; pending ones are tracked so INTERRUPT can reach them.
   */
  private call<T>(
    req: FuseRequest,
    run: (ctx: RequestCtx) => MaybePromise<T>,
    encode: (value: T) => Buffer | Buffer[],
  ): void {
    const { unique } = req.header;
    const ctx = new RequestCtx(req);
    const started = this.options.onOperation ? performance.now() : -1;
    let result: MaybePromise<T>;
    try {
      result = run(ctx);
    } catch (err) {
      this.fail(req, ctx, err);
      this.observed(req, started);
      return;
    }
    if (!isThenable(result)) {
      this.succeed(req, ctx, result, encode);
      this.observed(req, started);
      return;
    }
    this.inflight.set(unique, ctx);
    result.then(
      (value) => {
        this.inflight.delete(unique);
        this.succeed(req, ctx, value, encode);
        this.observed(req, started);
      },
      (err: unknown) => {
        this.inflight.delete(unique);
        this.fail(req, ctx, err);
        this.observed(req, started);
      },
    );
  }

  /** Reports a request's duration when someone listens (`started` is -1 otherwise). */
  private observed(req: FuseRequest, started: number): void {
    if (started >= 0)
      this.options.onOperation?.(req.body.kind, (performance.now() - started) / 1000);
  }

  private succeed<T>(
    req: FuseRequest,
    ctx: RequestCtx,
    value: T,
    encode: (v: T) => Buffer | Buffer[],
  ): void {
    let reply: Buffer | Buffer[];
    try {
      reply = encode(value);
    } catch (err) {
      this.fail(req, ctx, err);
      return;
    }
    this.send(reply);
  }

  private fail(req: FuseRequest, ctx: RequestCtx, err: unknown): void {
    const { unique } = req.header;
    if (err instanceof FuseError) {
      if (req.body.kind === 'lookup' && err.errno === E.ENOENT && err.negativeTimeout) {
        this.send(encodeNegativeEntry(unique, err.negativeTimeout));
      } else {
        this.send(encodeError(unique, err.errno));
      }
      return;
    }
    if (ctx.interrupted) {
      this.send(encodeError(unique, E.EINTR));
      return;
    }
    this.log.error(
      { err, op: req.body.kind, ino: req.header.nodeid },
      'fuse: filesystem threw a non-FuseError; answering EIO',
    );
    this.send(encodeError(unique, E.EIO));
  }

  private send(reply: Buffer | Buffer[]): void {
    try {
      this.transport.write(Array.isArray(reply) ? reply : [reply]);
    } catch (err) {
      this.log.error({ err }, 'fuse: writing a reply failed');
    }
  }

  private data(unique: bigint, data: Buffer): Buffer[] {
    return [encodeDataHeader(unique, data.length), data];
  }

  private init(unique: bigint, body: Extract<RequestBody, { kind: 'init' }>): void {
    const outcome = negotiateInit(body, this.options);
    if (outcome.kind === 'refuse') {
      this.log.error({ major: body.major, minor: body.minor }, 'fuse: kernel protocol too old');
      this.send(encodeError(unique, outcome.errno));
      return;
    }
    this.send(encodeInit(unique, outcome.reply));
    if (outcome.kind === 'retry') return;
    this.protocol = outcome.protocol;
    this.resolveReady(outcome.protocol);
  }

  private forget(ino: number, nlookup: number): void {
    try {
      this.fs.forget?.(ino, nlookup);
    } catch (err) {
      this.log.error({ err, ino }, 'fuse: filesystem forget() threw');
    }
  }

  private readlink(ino: number, ctx: RequestContext): MaybePromise<string | Buffer> {
    if (!this.fs.readlink) throw new FuseError(E.EINVAL);
    return this.fs.readlink(ino, ctx);
  }

  private open(req: FuseRequest, flags: number): void {
    const { unique, nodeid } = req.header;
    const wantsWrite = (flags & 3) !== O_RDONLY || (flags & O_TRUNC) !== 0;
    if (wantsWrite) return this.send(encodeError(unique, E.EROFS));
    const open = this.fs.open?.bind(this.fs);
    // ENOSYS switches the kernel to "no open" mode: no more OPEN/RELEASE, page cache kept.
    if (!open) return this.send(encodeError(unique, E.ENOSYS));
    this.call(
      req,
      (ctx) => open(nodeid, flags, ctx),
      (r) => encodeOpen(unique, r),
    );
  }

  private create(req: FuseRequest, body: Extract<RequestBody, { kind: 'create' }>): void {
    const { unique, nodeid } = req.header;
    const create = this.fs.create?.bind(this.fs);
    if (!create) return this.send(encodeError(unique, E.EROFS));
    this.call(
      req,
      (ctx) => create(nodeid, body.name, body.mode, body.flags, ctx),
      (r) => encodeCreate(unique, r, this.timeouts),
    );
  }

  private getxattr(ino: number, name: string, ctx: RequestContext): MaybePromise<Buffer> {
    if (!this.fs.getxattr) throw new FuseError(E.ENODATA);
    return this.fs.getxattr(ino, name, ctx);
  }

  /** GETXATTR/LISTXATTR: size 0 probes the length; a too-small buffer is ERANGE. */
  private xattrReply(unique: bigint, value: Buffer, size: number): Buffer | Buffer[] {
    if (size === 0) return encodeXattrSize(unique, value.length);
    if (value.length > size) throw new FuseError(E.ERANGE);
    return this.data(unique, value);
  }

  private async readdir(
    req: FuseRequest,
    body: Extract<RequestBody, { kind: 'readdir' }>,
    ctx: RequestContext,
  ): Promise<Buffer> {
    const parent = req.header.nodeid;
    const entries = await this.fs.readdir(parent, body.fh, body.offset, ctx);
    const picked: { dirent: DirEntry; nameBytes: number }[] = [];
    let room = body.size;
    for (const dirent of entries) {
      const nameBytes = Buffer.byteLength(dirent.name);
      const size = direntSize(nameBytes, body.plus);
      if (size > room) break;
      room -= size;
      picked.push({ dirent, nameBytes });
    }
    const lookups = body.plus
      ? await Promise.all(picked.map(({ dirent }) => this.plusLookup(parent, dirent.name, ctx)))
      : [];
    const writer = new DirentWriter(body.size - room);
    picked.forEach(({ dirent, nameBytes }, i) =>
      writer.add(dirent, nameBytes, body.plus, lookups[i], this.timeouts),
    );
    return writer.finish(req.header.unique);
  }

  /**
   * The attributes READDIRPLUS sends with an entry. The kernel counts a lookup for every entry
   * except "." and ".." (and entries without attributes), exactly as for LOOKUP.
   */
  private async plusLookup(
    parent: number,
    name: string,
    ctx: RequestContext,
  ): Promise<Entry | undefined> {
    if (name === '.' || name === '..') return undefined;
    try {
      return await this.fs.lookup(parent, name, ctx);
    } catch {
      return undefined; // the entry goes out without attributes; the kernel will LOOKUP it later
    }
  }

  private interrupt(interruptUnique: bigint, target: bigint): void {
    const ctx = this.inflight.get(target);
    if (ctx) {
      ctx.interrupt();
      return;
    }
    // Not seen yet (its read completed after ours) or already answered: EAGAIN makes the kernel
    // requeue the interrupt if the request is still pending, and drop it otherwise.
    this.send(encodeError(interruptUnique | FUSE_INT_REQ_BIT, E.EAGAIN));
  }
}
