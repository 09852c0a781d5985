// Decodes one request read from /dev/fuse into plain JS values. Pure and synchronous: the read
// buffer is reused for the next request as soon as this returns, so nothing may keep a view of it.

import { constants } from 'node:os';

import { FUSE_GETATTR_FH, Opcode, Size, WRITE_OPCODES } from './abi.ts';

const { EINVAL, EIO } = constants.errno;

export interface RequestHeader {
  /** Total length claimed by the kernel (checked against the bytes read). */
  len: number;
  opcode: number;
  unique: bigint;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
}

export type RequestBody =
  | { kind: 'init'; major: number; minor: number; maxReadahead: number; flags: bigint }
  | { kind: 'lookup'; name: string }
  | { kind: 'forget'; nlookup: number }
  | { kind: 'batchForget'; items: { ino: number; nlookup: number }[] }
  | { kind: 'getattr'; fh: number | undefined }
  | { kind: 'readlink' }
  | { kind: 'open'; flags: number }
  | { kind: 'read'; fh: number; offset: number; size: number }
  | { kind: 'release'; fh: number }
  | { kind: 'opendir'; flags: number }
  | { kind: 'readdir'; plus: boolean; fh: number; offset: number; size: number }
  | { kind: 'releasedir'; fh: number }
  | { kind: 'statfs' }
  | { kind: 'getxattr'; size: number; name: string }
  | { kind: 'listxattr'; size: number }
  | { kind: 'access'; mask: number }
  | { kind: 'flush'; fh: number }
  | { kind: 'interrupt'; target: bigint }
  | { kind: 'destroy' }
  | { kind: 'create'; flags: number; mode: number; name: string }
  | { kind: 'rmdir'; name: string }
  /** FUSE_NOTIFY_REPLY: answers to retrieve notifications we never send; no reply. */
  | { kind: 'notifyReply' }
  /** A modifying opcode: answered EROFS. */
  | { kind: 'readOnly' }
  /** Anything else, including opcodes we have never heard of: answered ENOSYS. */
  | { kind: 'unsupported' }
  /** fsync/fsyncdir/syncfs: nothing to sync on an immutable filesystem, answered 0. */
  | { kind: 'noop' };

export interface FuseRequest {
  header: RequestHeader;
  body: RequestBody;
}

/** A request that cannot be decoded. When `unique` is known, the session answers `-errno`. */
export class DecodeError extends Error {
  readonly unique: bigint | undefined;
  readonly errno: number;
  constructor(message: string, errno: number, unique?: bigint) {
    super(message);
    this.name = 'DecodeError';
    this.errno = errno;
    this.unique = unique;
  }
}

/** Decode the `length` bytes at the start of `buf`. Throws DecodeError for malformed input. */
export function decodeRequest(buf: Buffer, length: number): FuseRequest {
  if (length < Size.IN_HEADER || length > buf.length) {
    throw new DecodeError(`request of ${length} bytes is shorter than the header`, EIO);
  }
  const header: RequestHeader = {
    len: buf.readUInt32LE(0),
    opcode: buf.readUInt32LE(4),
    unique: buf.readBigUInt64LE(8),
    nodeid: readU64(buf, 16),
    uid: buf.readUInt32LE(24),
    gid: buf.readUInt32LE(28),
    pid: buf.readUInt32LE(32),
  };
  if (header.len !== length) {
    throw new DecodeError(
      `header says ${header.len} bytes, read ${length} (opcode ${header.opcode})`,
      EIO,
      header.unique,
    );
  }
  // total_extlen (u16 at 36) counts 8-byte extension units appended after the arguments; they only
  // appear when we negotiate security contexts or supplementary groups, which we never do.
  const extBytes = buf.readUInt16LE(36) * 8;
  const payload = new Payload(buf, Size.IN_HEADER, length - extBytes, header);
  return { header, body: decodeBody(header.opcode, payload) };
}

function decodeBody(opcode: number, p: Payload): RequestBody {
  switch (opcode) {
    case Opcode.INIT:
      return decodeInit(p);
    case Opcode.LOOKUP:
      return { kind: 'lookup', name: p.name(0) };
    case Opcode.FORGET:
      return { kind: 'forget', nlookup: p.u64(0) };
    case Opcode.BATCH_FORGET:
      return decodeBatchForget(p);
    case Opcode.GETATTR: {
      p.need(Size.GETATTR_IN);
      const hasFh = (p.u32(0) & FUSE_GETATTR_FH) !== 0;
      return { kind: 'getattr', fh: hasFh ? p.u64(8) : undefined };
    }
    case Opcode.READLINK:
      return { kind: 'readlink' };
    case Opcode.OPEN:
      p.need(Size.OPEN_IN);
      return { kind: 'open', flags: p.u32(0) };
    case Opcode.OPENDIR:
      p.need(Size.OPEN_IN);
      return { kind: 'opendir', flags: p.u32(0) };
    case Opcode.READ:
      p.need(Size.READ_IN);
      return { kind: 'read', fh: p.u64(0), offset: p.u64(8), size: p.u32(16) };
    case Opcode.READDIR:
    case Opcode.READDIRPLUS:
      p.need(Size.READ_IN);
      return {
        kind: 'readdir',
        plus: opcode === Opcode.READDIRPLUS,
        fh: p.u64(0),
        offset: p.u64(8),
        size: p.u32(16),
      };
    case Opcode.RELEASE:
      p.need(Size.RELEASE_IN);
      return { kind: 'release', fh: p.u64(0) };
    case Opcode.RELEASEDIR:
      p.need(Size.RELEASE_IN);
      return { kind: 'releasedir', fh: p.u64(0) };
    case Opcode.STATFS:
      return { kind: 'statfs' };
    case Opcode.GETXATTR:
      p.need(Size.GETXATTR_IN);
      return { kind: 'getxattr', size: p.u32(0), name: p.name(Size.GETXATTR_IN) };
    case Opcode.LISTXATTR:
      p.need(Size.GETXATTR_IN);
      return { kind: 'listxattr', size: p.u32(0) };
    case Opcode.ACCESS:
      p.need(Size.ACCESS_IN);
      return { kind: 'access', mask: p.u32(0) };
    case Opcode.FLUSH:
      p.need(Size.FLUSH_IN);
      return { kind: 'flush', fh: p.u64(0) };
    case Opcode.INTERRUPT:
      p.need(Size.INTERRUPT_IN);
      return { kind: 'interrupt', target: p.bigU64(0) };
    case Opcode.DESTROY:
      return { kind: 'destroy' };
    case Opcode.CREATE:
      p.need(Size.CREATE_IN);
      return { kind: 'create', flags: p.u32(0), mode: p.u32(4), name: p.name(Size.CREATE_IN) };
    case Opcode.RMDIR:
      return { kind: 'rmdir', name: p.name(0) };
    case Opcode.NOTIFY_REPLY:
      return { kind: 'notifyReply' };
    case Opcode.FSYNC:
    case Opcode.FSYNCDIR:
    case Opcode.SYNCFS:
      return { kind: 'noop' };
    default:
      return WRITE_OPCODES.has(opcode) ? { kind: 'readOnly' } : { kind: 'unsupported' };
  }
}

function decodeInit(p: Payload): RequestBody {
  p.need(Size.INIT_IN_MIN);
  const low = BigInt(p.u32(12));
  // flags2 exists from 7.36 on; older kernels send a shorter struct.
  const high = p.size >= Size.INIT_IN_EXT ? BigInt(p.u32(16)) : 0n;
  return {
    kind: 'init',
    major: p.u32(0),
    minor: p.u32(4),
    maxReadahead: p.u32(8),
    flags: low | (high << 32n),
  };
}

function decodeBatchForget(p: Payload): RequestBody {
  p.need(Size.BATCH_FORGET_IN);
  const count = p.u32(0);
  p.need(Size.BATCH_FORGET_IN + count * Size.FORGET_ONE);
  const items: { ino: number; nlookup: number }[] = [];
  for (let i = 0; i < count; i++) {
    const at = Size.BATCH_FORGET_IN + i * Size.FORGET_ONE;
    items.push({ ino: p.u64(at), nlookup: p.u64(at + 8) });
  }
  return { kind: 'batchForget', items };
}

/** Bounds-checked view of a request's argument bytes. */
class Payload {
  readonly size: number;
  private readonly buf: Buffer;
  private readonly start: number;
  private readonly header: RequestHeader;

  constructor(buf: Buffer, start: number, end: number, header: RequestHeader) {
    this.buf = buf;
    this.start = start;
    this.size = end - start;
    this.header = header;
    if (this.size < 0) this.fail('extension length exceeds the request');
  }

  need(bytes: number): void {
    if (this.size < bytes) this.fail(`needs ${bytes} argument bytes, got ${this.size}`);
  }

  u32(at: number): number {
    this.need(at + 4);
    return this.buf.readUInt32LE(this.start + at);
  }

  u64(at: number): number {
    this.need(at + 8);
    return readU64(this.buf, this.start + at);
  }

  bigU64(at: number): bigint {
    this.need(at + 8);
    return this.buf.readBigUInt64LE(this.start + at);
  }

  /** A NUL-terminated name starting at `at`. */
  name(at: number): string {
    const from = this.start + at;
    const end = this.start + this.size;
    if (from >= end) this.fail('missing name');
    const nul = this.buf.indexOf(0, from);
    if (nul < 0 || nul >= end) this.fail('name is not NUL-terminated');
    if (nul === from) this.fail('empty name');
    return this.buf.toString('utf8', from, nul);
  }

  private fail(why: string): never {
    throw new DecodeError(`opcode ${this.header.opcode}: ${why}`, EINVAL, this.header.unique);
  }
}

/** u64 as a JS number. Inode numbers and handles are ours (small); offsets stay below 2^53. */
function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at) + buf.readUInt32LE(at + 4) * 0x1_0000_0000;
}
