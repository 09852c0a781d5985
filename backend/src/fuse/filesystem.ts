// The contract between the FUSE session and a filesystem implementation (the layer store).
// Inode based, like libfuse's low-level API: the kernel names files by inode numbers the filesystem
// hands out in lookup replies. Inode 1 (FUSE_ROOT_ID) is the root directory.
//
// Every method may return a value or a Promise. Returning synchronously saves a microtask hop on
// hot paths (getattr). To fail, throw (or reject with) a FuseError carrying a positive errno; any
// other exception is logged and answered EIO — a bug in the filesystem never crashes the server.

import { constants } from 'node:os';

export type MaybePromise<T> = T | Promise<T>;

/** Who asks, and a signal that fires when the kernel interrupts the request (FUSE_INTERRUPT). */
export interface RequestContext {
  readonly uid: number;
  readonly gid: number;
  readonly pid: number;
  /** Aborted when the kernel interrupts this request (e.g. the reader got a signal). */
  readonly signal: AbortSignal;
}

/** File attributes. Times are milliseconds since the epoch (fractions allowed). */
export interface Attr {
  ino: number;
  /** Full st_mode: file type bits (S_IFREG, S_IFDIR, S_IFLNK, S_IFCHR, …) | permission bits. */
  mode: number;
  size?: number;
  nlink?: number;
  uid?: number;
  gid?: number;
  /** Device number for S_IFCHR/S_IFBLK, in the kernel's new_encode_dev form ((major << 8) | minor for small values). */
  rdev?: number;
  /** In 512-byte units; defaults to ceil(size / 512). */
  blocks?: number;
  blksize?: number;
  atimeMs?: number;
  mtimeMs?: number;
  ctimeMs?: number;
}

/** A lookup result. Timeouts are seconds the kernel may cache the name (entry) and the attributes. */
export interface Entry {
  ino: number;
  generation?: number;
  attr: Attr;
  entryTimeout?: number;
  attrTimeout?: number;
}

export interface AttrReply {
  attr: Attr;
  /** Seconds the kernel may cache these attributes; defaults to the session's attrTimeout. */
  timeout?: number;
}

/** Result of open/opendir/create. */
export interface OpenReply {
  /** File handle passed back in read/readdir/release; defaults to 0. */
  fh?: number;
  /** FOPEN_KEEP_CACHE: keep the page cache across opens (right for immutable files). */
  keepCache?: boolean;
  /** FOPEN_DIRECT_IO: bypass the page cache (every read reaches the filesystem). */
  directIo?: boolean;
  /** FOPEN_CACHE_DIR (opendir only): let the kernel cache the directory listing. */
  cacheDir?: boolean;
}

/** One directory entry. */
export interface DirEntry {
  name: string;
  ino: number;
  /** st_mode (only the type bits matter): reported as d_type, which overlayfs needs to find whiteouts. */
  mode: number;
  /** Cookie that resumes the listing right after this entry (passed back as readdir's offset). Never 0. */
  nextOffset: number;
}

export interface StatFs {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
  namelen: number;
  frsize: number;
}

/**
 * A filesystem served by a FuseSession. Only lookup, getattr, read and readdir are required;
 * the session gives sensible defaults for the rest (documented per method).
 */
export interface Filesystem {
  /** Resolve `name` in directory `parent`. Each successful reply adds 1 to the inode's lookup count. */
  lookup(parent: number, name: string, ctx: RequestContext): MaybePromise<Entry>;
  /** The kernel dropped `nlookup` references to `ino` (FORGET/BATCH_FORGET). No reply. */
  forget?(ino: number, nlookup: number): void;
  getattr(ino: number, ctx: RequestContext): MaybePromise<AttrReply>;
  /** Symlink target. Default: EINVAL. */
  readlink?(ino: number, ctx: RequestContext): MaybePromise<string | Buffer>;
  /**
   * Open a file. When absent the session answers ENOSYS and the kernel stops sending OPEN/RELEASE
   * altogether ("no open" mode, page cache kept) — the cheapest choice for immutable files.
   */
  open?(ino: number, flags: number, ctx: RequestContext): MaybePromise<OpenReply>;
  /** Read up to `size` bytes at `offset`. A shorter buffer means end of file. */
  read(
    ino: number,
    fh: number,
    offset: number,
    size: number,
    ctx: RequestContext,
  ): MaybePromise<Buffer>;
  release?(ino: number, fh: number): MaybePromise<void>;
  /** Like open, for directories; when absent the kernel caches listings ("no opendir" mode). */
  opendir?(ino: number, flags: number, ctx: RequestContext): MaybePromise<OpenReply>;
  /**
   * Entries of directory `ino` that come after cookie `offset` (0 = from the start), in order. Return
   * a lazy iterable (a generator) for big directories: the session only consumes what fits in the
   * kernel's buffer. For READDIRPLUS the session calls lookup() for each entry it sends (except
   * "." and ".."), so attributes and lookup counts stay consistent with LOOKUP.
   */
  readdir(
    ino: number,
    fh: number,
    offset: number,
    ctx: RequestContext,
  ): MaybePromise<Iterable<DirEntry>>;
  releasedir?(ino: number, fh: number): MaybePromise<void>;
  /** Default: an empty filesystem with 4 KiB blocks and 255-byte names. */
  statfs?(ino: number, ctx: RequestContext): MaybePromise<StatFs>;
  /** Value of xattr `name`; throw FuseError(ENODATA) when absent. Default: ENODATA. */
  getxattr?(ino: number, name: string, ctx: RequestContext): MaybePromise<Buffer>;
  /** Names of the inode's xattrs. Default: none. */
  listxattr?(ino: number, ctx: RequestContext): MaybePromise<string[]>;
  /** Only called without default_permissions. Default: allowed. */
  access?(ino: number, mask: number, ctx: RequestContext): MaybePromise<void>;
  /**
   * Create-and-open. The layer store throws FuseError(ENOENT) here to count references
   * (containers/storage creates `<layer>/use`). Default: EROFS.
   */
  create?(
    parent: number,
    name: string,
    mode: number,
    flags: number,
    ctx: RequestContext,
  ): MaybePromise<Entry & OpenReply>;
  /** Remove a directory; the layer store throws ENOENT to count releases. Default: EROFS. */
  rmdir?(parent: number, name: string, ctx: RequestContext): MaybePromise<void>;
  /** The connection ends (unmount or DESTROY). */
  destroy?(): void;
}

/** A failure answered to the kernel as -errno. */
export class FuseError extends Error {
  readonly errno: number;
  /**
   * Lookup only: with ENOENT, let the kernel cache the negative entry this many seconds
   * (fewer round trips for names that will never exist in an immutable directory).
   */
  readonly negativeTimeout: number | undefined;

  constructor(errno: number, message?: string, options?: { negativeTimeout?: number }) {
    super(message ?? `FUSE error ${errnoName(errno)}`);
    this.name = 'FuseError';
    this.errno = errno;
    this.negativeTimeout = options?.negativeTimeout;
  }
}

const errnoNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, value]) => [value, name]),
);

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

/** Errno values by name, re-exported so filesystems need not import node:os. */
export const Errno = constants.errno;
