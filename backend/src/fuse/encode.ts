// Encodes replies for /dev/fuse: a fuse_out_header followed by the opcode's reply struct.
// Every function returns the complete bytes of one reply (one write(2) each).

import { OpenFlag, Size } from './abi.ts';
import type { Attr, DirEntry, Entry, OpenReply, StatFs } from './filesystem.ts';

const U32 = 0x1_0000_0000;

/** Timeouts (seconds) used when a reply does not carry its own. */
export interface Timeouts {
  entryTimeout: number;
  attrTimeout: number;
}

export function encodeError(unique: bigint, errno: number): Buffer {
  const buf = Buffer.alloc(Size.OUT_HEADER);
  writeHeader(buf, unique, -errno);
  return buf;
}

/** A reply with no body (success of flush, release, access, …). */
export function encodeEmpty(unique: bigint): Buffer {
  return encodeError(unique, 0);
}

/** Header for a reply whose body follows in a separate buffer (data of read/readlink/xattrs). */
export function encodeDataHeader(unique: bigint, dataLength: number): Buffer {
  const buf = Buffer.allocUnsafe(Size.OUT_HEADER);
  buf.writeUInt32LE(Size.OUT_HEADER + dataLength, 0);
  buf.writeInt32LE(0, 4);
  buf.writeBigUInt64LE(unique, 8);
  return buf;
}

export function encodeEntry(unique: bigint, entry: Entry, defaults: Timeouts): Buffer {
  const buf = Buffer.alloc(Size.OUT_HEADER + Size.ENTRY_OUT);
  writeHeader(buf, unique, 0);
  writeEntryOut(buf, Size.OUT_HEADER, entry, defaults);
  return buf;
}

/** ENOENT that the kernel may cache for `timeout` seconds: an entry with node id 0. */
export function encodeNegativeEntry(unique: bigint, timeout: number): Buffer {
  const buf = Buffer.alloc(Size.OUT_HEADER + Size.ENTRY_OUT);
  writeHeader(buf, unique, 0);
  writeDuration(buf, Size.OUT_HEADER + 16, Size.OUT_HEADER + 32, timeout);
  return buf;
}

export function encodeAttr(unique: bigint, attr: Attr, timeout: number): Buffer {
  const buf = Buffer.alloc(Size.OUT_HEADER + Size.ATTR_OUT);
  writeHeader(buf, unique, 0);
  const at = Size.OUT_HEADER;
  writeDuration(buf, at, at + 8, timeout);
  writeAttr(buf, at + 16, attr);
  return buf;
}

export function encodeOpen(unique: bigint, reply: OpenReply): Buffer {
  const buf = Buffer.alloc(Size.OUT_HEADER + Size.OPEN_OUT);
  writeHeader(buf, unique, 0);
  writeOpenOut(buf, Size.OUT_HEADER, reply);
  return buf;
}

export function encodeCreate(unique: bigint, reply: Entry & OpenReply, defaults: Timeouts): Buffer {
  const buf = Buffer.alloc(Size.OUT_HEADER + Size.ENTRY_OUT + Size.OPEN_OUT);
  writeHeader(buf, unique, 0);
  writeEntryOut(buf, Size.OUT_HEADER, reply, defaults);
  writeOpenOut(buf, Size.OUT_HEADER + Size.ENTRY_OUT, reply);
  return buf;
}

export interface InitReply {
  minor: number;
  maxReadahead: number;
  flags: bigint;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  maxPages: number;
}

export function encodeInit(unique: bigint, init: InitReply): Buffer {
  const buf = Buffer.alloc(Size.OUT_HEADER + Size.INIT_OUT);
  writeHeader(buf, unique, 0);
  const at = Size.OUT_HEADER;
  buf.writeUInt32LE(7, at);
  buf.writeUInt32LE(init.minor, at + 4);
  buf.writeUInt32LE(init.maxReadahead, at + 8);
  buf.writeUInt32LE(Number(init.flags & 0xffff_ffffn), at + 12);
  buf.writeUInt16LE(init.maxBackground, at + 16);
  buf.writeUInt16LE(init.congestionThreshold, at + 18);
  buf.writeUInt32LE(init.maxWrite, at + 20);
  buf.writeUInt32LE(1, at + 24); // time_gran: nanosecond timestamps
  buf.writeUInt16LE(init.maxPages, at + 28);
  buf.writeUInt32LE(Number(init.flags >> 32n), at + 32);
  return buf;
}

export function encodeStatfs(unique: bigint, st: StatFs): Buffer {
  const buf = Buffer.alloc(Size.OUT_HEADER + Size.STATFS_OUT);
  writeHeader(buf, unique, 0);
  const at = Size.OUT_HEADER;
  writeU64(buf, at, st.blocks);
  writeU64(buf, at + 8, st.bfree);
  writeU64(buf, at + 16, st.bavail);
  writeU64(buf, at + 24, st.files);
  writeU64(buf, at + 32, st.ffree);
  buf.writeUInt32LE(st.bsize, at + 40);
  buf.writeUInt32LE(st.namelen, at + 44);
  buf.writeUInt32LE(st.frsize, at + 48);
  return buf;
}

/** Reply to a size probe (GETXATTR/LISTXATTR with size 0): how many bytes the value needs. */
export function encodeXattrSize(unique: bigint, size: number): Buffer {
  const buf = Buffer.alloc(Size.OUT_HEADER + Size.GETXATTR_OUT);
  writeHeader(buf, unique, 0);
  buf.writeUInt32LE(size, Size.OUT_HEADER);
  return buf;
}

/** Bytes a directory entry takes in a READDIR (plus = false) or READDIRPLUS reply. */
export function direntSize(nameBytes: number, plus: boolean): number {
  return (plus ? Size.ENTRY_OUT : 0) + align8(Size.DIRENT_HEADER + nameBytes);
}

/** Accumulates fuse_dirent / fuse_direntplus records into one reply of at most `maxBytes` of body. */
export class DirentWriter {
  private readonly buf: Buffer;
  private used: number = Size.OUT_HEADER;

  constructor(maxBytes: number) {
    this.buf = Buffer.alloc(Size.OUT_HEADER + maxBytes);
  }

  /** Bytes still free for entries. */
  get remaining(): number {
    return this.buf.length - this.used;
  }

  /** Append one entry; `entry` is the lookup result for READDIRPLUS (undefined: no attributes). */
  add(
    dirent: DirEntry,
    nameBytes: number,
    plus: boolean,
    entry: Entry | undefined,
    defaults: Timeouts,
  ): void {
    let at = this.used;
    if (plus) {
      if (entry) writeEntryOut(this.buf, at, entry, defaults);
      at += Size.ENTRY_OUT;
    }
    writeU64(this.buf, at, dirent.ino);
    writeU64(this.buf, at + 8, dirent.nextOffset);
    this.buf.writeUInt32LE(nameBytes, at + 16);
    this.buf.writeUInt32LE((dirent.mode & 0o170000) >>> 12, at + 20);
    this.buf.write(dirent.name, at + Size.DIRENT_HEADER, nameBytes, 'utf8');
    this.used = at + align8(Size.DIRENT_HEADER + nameBytes);
  }

  finish(unique: bigint): Buffer {
    const out = this.buf.subarray(0, this.used);
    writeHeader(out, unique, 0);
    return out;
  }
}

function writeHeader(buf: Buffer, unique: bigint, error: number): void {
  buf.writeUInt32LE(buf.length, 0);
  buf.writeInt32LE(error, 4);
  buf.writeBigUInt64LE(unique, 8);
}

function writeEntryOut(buf: Buffer, at: number, entry: Entry, defaults: Timeouts): void {
  writeU64(buf, at, entry.ino);
  writeU64(buf, at + 8, entry.generation ?? 0);
  writeDuration(buf, at + 16, at + 32, entry.entryTimeout ?? defaults.entryTimeout);
  writeDuration(buf, at + 24, at + 36, entry.attrTimeout ?? defaults.attrTimeout);
  writeAttr(buf, at + 40, entry.attr);
}

function writeOpenOut(buf: Buffer, at: number, reply: OpenReply): void {
  let flags = 0;
  if (reply.directIo) flags |= OpenFlag.DIRECT_IO;
  if (reply.keepCache) flags |= OpenFlag.KEEP_CACHE;
  if (reply.cacheDir) flags |= OpenFlag.CACHE_DIR;
  writeU64(buf, at, reply.fh ?? 0);
  buf.writeUInt32LE(flags, at + 8);
}

/** struct fuse_attr (88 bytes). */
function writeAttr(buf: Buffer, at: number, attr: Attr): void {
  const size = attr.size ?? 0;
  writeU64(buf, at, attr.ino);
  writeU64(buf, at + 8, size);
  writeU64(buf, at + 16, attr.blocks ?? Math.ceil(size / 512));
  writeTime(buf, at + 24, at + 48, attr.atimeMs ?? 0);
  writeTime(buf, at + 32, at + 52, attr.mtimeMs ?? 0);
  writeTime(buf, at + 40, at + 56, attr.ctimeMs ?? 0);
  buf.writeUInt32LE(attr.mode >>> 0, at + 60);
  buf.writeUInt32LE(attr.nlink ?? 1, at + 64);
  buf.writeUInt32LE(attr.uid ?? 0, at + 68);
  buf.writeUInt32LE(attr.gid ?? 0, at + 72);
  buf.writeUInt32LE(attr.rdev ?? 0, at + 76);
  buf.writeUInt32LE(attr.blksize ?? 4096, at + 80);
  buf.writeUInt32LE(0, at + 84);
}

function writeTime(buf: Buffer, secAt: number, nsecAt: number, ms: number): void {
  const clamped = Math.max(0, ms);
  const sec = Math.floor(clamped / 1000);
  writeU64(buf, secAt, sec);
  buf.writeUInt32LE(Math.min(999_999_999, Math.round((clamped - sec * 1000) * 1e6)), nsecAt);
}

/** A timeout in seconds as (u64 seconds, u32 nanoseconds). */
function writeDuration(buf: Buffer, secAt: number, nsecAt: number, seconds: number): void {
  const clamped = Math.max(0, seconds);
  const sec = Math.floor(clamped);
  writeU64(buf, secAt, sec);
  buf.writeUInt32LE(Math.min(999_999_999, Math.round((clamped - sec) * 1e9)), nsecAt);
}

function writeU64(buf: Buffer, at: number, value: number): void {
  const v = Math.max(0, Math.floor(value));
  buf.writeUInt32LE(v % U32, at);
  buf.writeUInt32LE(Math.floor(v / U32), at + 4);
}

function align8(n: number): number {
  return (n + 7) & ~7;
}
