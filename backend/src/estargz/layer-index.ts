// The compact, read-only file tree of one layer, built from its TOC by toc.ts.
// Everything per inode or per chunk lives in typed arrays; strings are interned basenames. The raw
// TOC JSON and the parsed entry objects are not referenced after the build, so a 100k-entry layer
// costs a few MiB rather than the tens of MiB its JSON objects would.
import type { FooterFormat } from './footer.ts';

export const S_IFMT = 0o170000;
export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

export const ROOT_INO = 1;

/**
 * What a directory's st_size says: a TOC has none, and a directory of a normally extracted layer
 * on ext4 says 4096. containers/storage's diff (`podman diff`, commit) takes a directory copied up
 * into a container's layer as unchanged only when its size matches the lower one's: 0 would list
 * every parent of a changed file as changed.
 */
export const DIRECTORY_SIZE = 4096;

/** How a chunk's bytes can be checked before they are served. */
export const ChunkVerification = {
  /** No digest covers this chunk: the layer must not be served lazily. */
  none: 0,
  /** `chunkDigest` of the chunk. */
  chunkDigest: 1,
  /** The whole-file `digest` (legacy TOCs; the file is a single chunk). */
  fileDigest: 2,
} as const;
export type ChunkVerification = (typeof ChunkVerification)[keyof typeof ChunkVerification];

export interface InodeAttr {
  ino: number;
  /** File type bits (S_IF*) | permission bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  /** Linux dev_t (new encoding) for char/block devices, else 0. */
  rdev: number;
  devMajor: number;
  devMinor: number;
  nlink: number;
}

export interface DirEntry {
  name: string;
  ino: number;
}

export interface ChunkRef {
  /** Dense chunk id (0..chunkCount-1), in blob order. */
  id: number;
  ino: number;
  /** Compressed offset of the gzip member this chunk's data starts in. */
  compressedOffset: number;
  /** Start of the next gzip member after it (or the TOC offset): fetch [offset, end). */
  compressedEnd: number;
  /** Uncompressed bytes to skip from compressedOffset before the chunk starts. */
  innerOffset: number;
  /** Offset of the chunk within the file. */
  fileOffset: number;
  size: number;
  verification: ChunkVerification;
  /** The sha256 (32 bytes) that verification compares with; undefined when `none`. */
  digest: Buffer | undefined;
}

/** The columns the builder hands over (see toc.ts); all arrays are indexed by ino or chunk id. */
export interface LayerIndexColumns {
  format: FooterFormat | 'unknown';
  tocDigest: string;
  tocVerified: boolean;
  tocOffset: number;
  entryCount: number;
  inodeCount: number;
  mode: Uint32Array;
  uid: Uint32Array;
  gid: Uint32Array;
  size: Float64Array;
  mtimeMs: Float64Array;
  devMajor: Uint32Array;
  devMinor: Uint32Array;
  nlink: Uint32Array;
  parent: Uint32Array;
  name: string[];
  childStart: Uint32Array;
  childIno: Uint32Array;
  childName: string[];
  symlinks: Map<number, string>;
  xattrs: Map<number, Map<string, Buffer>>;
  chunkStart: Uint32Array;
  chunkOffset: Float64Array;
  chunkEnd: Float64Array;
  chunkInner: Uint32Array;
  chunkFileOffset: Float64Array;
  chunkSize: Uint32Array;
  chunkIno: Uint32Array;
  chunkVerification: Uint8Array;
  chunkDigests: Uint8Array;
  prefetchBoundary: number | undefined;
  hasNoPrefetchLandmark: boolean;
}

const EMPTY_XATTRS: ReadonlyMap<string, Buffer> = new Map();

function makedev(major: number, minor: number): number {
  // glibc gnu_dev_makedev, restricted to what fits a JS safe integer.
  return (
    (minor & 0xff) +
    (major & 0xfff) * 0x100 +
    (minor >>> 8) * 0x100000 +
    Math.floor(major / 0x1000) * 0x100000000
  );
}

export class LayerIndex {
  /** Footer format the TOC was found with ('unknown' if parsed without a footer). */
  readonly format: FooterFormat | 'unknown';
  /** `sha256:<hex>` of the uncompressed TOC JSON. */
  readonly tocDigest: string;
  /** True when the TOC digest was checked against an expected value (the manifest annotation). */
  readonly tocVerified: boolean;
  readonly tocOffset: number;
  /** Number of TOC entries (including chunk entries). */
  readonly entryCount: number;
  /** Largest inode number; inodes are 1..inodeCount, 1 is the root directory. */
  readonly inodeCount: number;
  readonly chunkCount: number;
  /** Compressed offset of `.prefetch.landmark`: prefetch [0, boundary). */
  readonly prefetchBoundary: number | undefined;
  readonly hasNoPrefetchLandmark: boolean;
  /** True when every chunk can be verified (chunkDigest, or file digest for one-chunk files). */
  readonly verifiable: boolean;
  private readonly c: LayerIndexColumns;

  constructor(columns: LayerIndexColumns) {
    this.c = columns;
    this.format = columns.format;
    this.tocDigest = columns.tocDigest;
    this.tocVerified = columns.tocVerified;
    this.tocOffset = columns.tocOffset;
    this.entryCount = columns.entryCount;
    this.inodeCount = columns.inodeCount;
    this.chunkCount = columns.chunkOffset.length;
    this.prefetchBoundary = columns.prefetchBoundary;
    this.hasNoPrefetchLandmark = columns.hasNoPrefetchLandmark;
    this.verifiable = !columns.chunkVerification.includes(ChunkVerification.none);
  }

  has(ino: number): boolean {
    return Number.isInteger(ino) && ino >= ROOT_INO && ino <= this.inodeCount;
  }

  private check(ino: number): void {
    if (!this.has(ino)) throw new RangeError(`no inode ${ino} in this layer`);
  }

  stat(ino: number): InodeAttr {
    this.check(ino);
    const c = this.c;
    const devMajor = c.devMajor[ino];
    const devMinor = c.devMinor[ino];
    const type = c.mode[ino] & S_IFMT;
    return {
      ino,
      mode: c.mode[ino],
      uid: c.uid[ino],
      gid: c.gid[ino],
      size: type === S_IFDIR ? DIRECTORY_SIZE : c.size[ino],
      mtimeMs: c.mtimeMs[ino],
      rdev: type === S_IFCHR || type === S_IFBLK ? makedev(devMajor, devMinor) : 0,
      devMajor,
      devMinor,
      nlink: c.nlink[ino],
    };
  }

  isDir(ino: number): boolean {
    return this.has(ino) && (this.c.mode[ino] & S_IFMT) === S_IFDIR;
  }

  /** The inode's parent directory (the root is its own parent). */
  parentOf(ino: number): number {
    this.check(ino);
    return this.c.parent[ino];
  }

  /** Binary search of a directory's sorted children. */
  lookup(dirIno: number, name: string): number | undefined {
    if (!this.isDir(dirIno)) return undefined;
    const c = this.c;
    let lo = c.childStart[dirIno];
    let hi = c.childStart[dirIno + 1] - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const candidate = c.childName[mid];
      if (candidate === name) return c.childIno[mid];
      if (candidate < name) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** Children of a directory, sorted by name (without `.` and `..`). */
  readdir(dirIno: number): DirEntry[] {
    this.check(dirIno);
    const c = this.c;
    const out: DirEntry[] = [];
    for (let i = c.childStart[dirIno]; i < c.childStart[dirIno + 1]; i++) {
      out.push({ name: c.childName[i], ino: c.childIno[i] });
    }
    return out;
  }

  readlink(ino: number): string | undefined {
    this.check(ino);
    return this.c.symlinks.get(ino);
  }

  /** Extended attributes, including the overlay opaque markers of opaque directories. */
  xattrs(ino: number): ReadonlyMap<string, Buffer> {
    this.check(ino);
    return this.c.xattrs.get(ino) ?? EMPTY_XATTRS;
  }

  /** Path of an inode relative to the layer root ('' for the root; first link for hardlinks). */
  path(ino: number): string {
    this.check(ino);
    const parts: string[] = [];
    for (let cur = ino; cur !== ROOT_INO; cur = this.c.parent[cur]!) parts.push(this.c.name[cur]);
    return parts.reverse().join('/');
  }

  /** The inode at a relative path ('a/b/c'), or undefined. */
  resolve(path: string): number | undefined {
    let ino: number | undefined = ROOT_INO;
    for (const part of path.split('/')) {
      if (part === '' || part === '.') continue;
      ino = this.lookup(ino, part);
      if (ino === undefined) return undefined;
    }
    return ino;
  }

  chunk(id: number): ChunkRef {
    const c = this.c;
    if (!Number.isInteger(id) || id < 0 || id >= this.chunkCount) {
      throw new RangeError(`no chunk ${id} in this layer`);
    }
    const verification = c.chunkVerification[id] as ChunkVerification;
    return {
      id,
      ino: c.chunkIno[id],
      compressedOffset: c.chunkOffset[id],
      compressedEnd: c.chunkEnd[id],
      innerOffset: c.chunkInner[id],
      fileOffset: c.chunkFileOffset[id],
      size: c.chunkSize[id],
      verification,
      digest:
        verification === ChunkVerification.none
          ? undefined
          : Buffer.from(c.chunkDigests.subarray(id * 32, id * 32 + 32)),
    };
  }

  /** All chunks of a regular file, in file order. */
  chunksOf(ino: number): ChunkRef[] {
    this.check(ino);
    const out: ChunkRef[] = [];
    for (let id = this.c.chunkStart[ino]; id < this.c.chunkStart[ino + 1]; id++) {
      out.push(this.chunk(id));
    }
    return out;
  }

  /** The chunks covering bytes [offset, offset+length) of a regular file (clamped to its size). */
  chunksFor(ino: number, offset: number, length: number): ChunkRef[] {
    this.check(ino);
    const c = this.c;
    const end = Math.min(offset + length, c.size[ino]);
    const first = c.chunkStart[ino];
    const last = c.chunkStart[ino + 1] - 1;
    if (!(offset >= 0) || !(length > 0) || offset >= end || last < first) return [];
    let lo = first;
    let hi = last;
    while (lo < hi) {
      // the last chunk whose fileOffset <= offset
      const mid = (lo + hi + 1) >>> 1;
      if (c.chunkFileOffset[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    const out: ChunkRef[] = [];
    for (let id = lo; id <= last && c.chunkFileOffset[id] < end; id++) out.push(this.chunk(id));
    return out;
  }

  /** Chunks whose data lies before the prefetch landmark, in blob order. */
  prefetchChunks(): ChunkRef[] {
    const boundary = this.prefetchBoundary;
    const out: ChunkRef[] = [];
    if (boundary === undefined) return out;
    for (let id = 0; id < this.chunkCount && this.c.chunkOffset[id] < boundary; id++) {
      out.push(this.chunk(id));
    }
    return out;
  }

  /** Total logical bytes of regular files (each inode once). */
  totalFileBytes(): number {
    let sum = 0;
    for (let ino = ROOT_INO; ino <= this.inodeCount; ino++) {
      if ((this.c.mode[ino] & S_IFMT) === S_IFREG) sum += this.c.size[ino];
    }
    return sum;
  }
}
