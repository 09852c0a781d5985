// The Linux FUSE kernel ABI (include/uapi/linux/fuse.h): opcodes, flags and struct sizes.
// Only what this server speaks is listed. All integers on the wire are little-endian (x86_64/arm64).

export const FUSE_KERNEL_VERSION = 7;
/** Highest minor we implement. 7.40 brings FUSE_HAS_RESEND / passthrough fields; newer minors add nothing we use. */
export const FUSE_OUR_MINOR = 40;
/** Oldest kernel minor we accept: 7.31 (Linux 5.4) has max_pages, cache_symlinks and no_opendir. */
export const FUSE_MIN_MINOR = 31;

export const FUSE_ROOT_ID = 1;

export const Opcode = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  BMAP: 37,
  DESTROY: 38,
  IOCTL: 39,
  POLL: 40,
  NOTIFY_REPLY: 41,
  BATCH_FORGET: 42,
  FALLOCATE: 43,
  READDIRPLUS: 44,
  RENAME2: 45,
  LSEEK: 46,
  COPY_FILE_RANGE: 47,
  SETUPMAPPING: 48,
  REMOVEMAPPING: 49,
  SYNCFS: 50,
  TMPFILE: 51,
  STATX: 52,
} as const;

/** Opcodes that modify the filesystem: answered EROFS (the store is immutable). */
export const WRITE_OPCODES: ReadonlySet<number> = new Set([
  Opcode.SETATTR,
  Opcode.SYMLINK,
  Opcode.MKNOD,
  Opcode.MKDIR,
  Opcode.UNLINK,
  Opcode.RENAME,
  Opcode.LINK,
  Opcode.WRITE,
  Opcode.SETXATTR,
  Opcode.REMOVEXATTR,
  Opcode.FALLOCATE,
  Opcode.RENAME2,
  Opcode.COPY_FILE_RANGE,
  Opcode.TMPFILE,
]);

/** FUSE_INIT flags (flags | flags2 << 32), as bigint bit positions. */
export const InitFlag = {
  ASYNC_READ: 1n << 0n,
  ATOMIC_O_TRUNC: 1n << 3n,
  BIG_WRITES: 1n << 5n,
  DO_READDIRPLUS: 1n << 13n,
  READDIRPLUS_AUTO: 1n << 14n,
  ASYNC_DIO: 1n << 15n,
  WRITEBACK_CACHE: 1n << 16n,
  NO_OPEN_SUPPORT: 1n << 17n,
  PARALLEL_DIROPS: 1n << 18n,
  MAX_PAGES: 1n << 22n,
  CACHE_SYMLINKS: 1n << 23n,
  NO_OPENDIR_SUPPORT: 1n << 24n,
  EXPLICIT_INVAL_DATA: 1n << 25n,
  INIT_EXT: 1n << 30n,
  DIRECT_IO_ALLOW_MMAP: 1n << 36n,
  HAS_RESEND: 1n << 39n,
} as const;

/** fuse_open_out.open_flags */
export const OpenFlag = {
  DIRECT_IO: 1 << 0,
  KEEP_CACHE: 1 << 1,
  CACHE_DIR: 1 << 3,
} as const;

export const FUSE_GETATTR_FH = 1;
/** Set in the unique of an INTERRUPT request (and its reply). */
export const FUSE_INT_REQ_BIT = 1n;

/** Struct sizes in bytes. */
export const Size = {
  IN_HEADER: 40,
  OUT_HEADER: 16,
  ATTR: 88,
  ENTRY_OUT: 128,
  ATTR_OUT: 104,
  OPEN_OUT: 16,
  INIT_IN_MIN: 16, // major, minor, max_readahead, flags (pre-7.36 kernels stop here)
  INIT_IN_EXT: 20, // + flags2
  INIT_OUT: 64,
  STATFS_OUT: 80,
  GETXATTR_OUT: 8,
  DIRENT_HEADER: 24,
  READ_IN: 40,
  RELEASE_IN: 24,
  FLUSH_IN: 24,
  OPEN_IN: 8,
  GETATTR_IN: 16,
  FORGET_IN: 8,
  BATCH_FORGET_IN: 8,
  FORGET_ONE: 16,
  GETXATTR_IN: 8,
  ACCESS_IN: 8,
  CREATE_IN: 16,
  INTERRUPT_IN: 8,
} as const;

/** The kernel refuses reads from /dev/fuse into buffers smaller than this. */
export const FUSE_MIN_READ_BUFFER = 8192;
