// TOC JSON → LayerIndex. Validates every entry against hostile input (paths, duplicates, chunk
// layout, sizes, limits) and translates whiteouts to the overlay form the kernel expects.
import { createHash } from 'node:crypto';

import { EstargzError, EstargzErrorCode as E, fail } from './errors.ts';
import type { FooterFormat } from './footer.ts';
import {
  ChunkVerification,
  LayerIndex,
  ROOT_INO,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
} from './layer-index.ts';
import { DEFAULT_LIMITS, type TocLimits } from './limits.ts';

export const TOC_NAME = 'stargz.index.json';
export const PREFETCH_LANDMARK = '.prefetch.landmark';
export const NO_PREFETCH_LANDMARK = '.no.prefetch.landmark';
const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];

export interface ParseTocOptions {
  /** Compressed offset of the TOC (from the footer): the end of the last data chunk. */
  tocOffset: number;
  /** `sha256:<hex>` from the layer annotation; the parse fails if the JSON does not match. */
  expectedTocDigest?: string;
  format?: FooterFormat | 'unknown';
  limits?: Partial<TocLimits>;
}

const TYPE_BITS: Record<string, number> = {
  dir: S_IFDIR,
  reg: S_IFREG,
  symlink: S_IFLNK,
  char: S_IFCHR,
  block: S_IFBLK,
  fifo: S_IFIFO,
};

/** `sha256:<hex>` of the given bytes. */
export function sha256Digest(data: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

/**
 * Normalises a TOC/tar path to 'a/b/c' ('' = root). Rejects absolute paths, NUL, empty names and
 * `.`/`..`/empty components anywhere but a single leading `./`.
 */
export function normalizeEntryPath(name: string): string {
  if (name.includes('\0')) fail(E.badPath, `path contains NUL: ${JSON.stringify(name)}`);
  if (name === '') fail(E.badPath, 'empty path');
  let n = name === '.' ? '' : name.startsWith('./') ? name.slice(2) : name;
  if (n.startsWith('/')) fail(E.badPath, `absolute path: ${JSON.stringify(name)}`);
  while (n.endsWith('/')) n = n.slice(0, -1);
  if (n === '') return '';
  for (const part of n.split('/')) {
    if (part === '' || part === '.' || part === '..') {
      fail(E.badPath, `path is not clean or escapes the layer: ${JSON.stringify(name)}`);
    }
  }
  return n;
}

function parseDigest(value: unknown, what: string): Buffer | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(value)) {
    fail(E.badEntry, `${what} is not a sha256 digest: ${JSON.stringify(value)}`);
  }
  return Buffer.from(value.slice(7), 'hex');
}

function uint(value: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    fail(E.badEntry, `${what} must be an integer in [0, ${max}], got ${JSON.stringify(value)}`);
  }
  return value;
}

function str(value: unknown, what: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') fail(E.badEntry, `${what} must be a string`);
  return value;
}

interface ChunkRow {
  ino: number;
  offset: number;
  inner: number;
  fileOffset: number;
  declaredSize: number;
  digest: Buffer | undefined;
  fileDigest: Buffer | undefined;
}

/** Growable columns while the tree is built; frozen into typed arrays at the end. */
class TreeBuilder {
  mode: number[] = [0, S_IFDIR | 0o755];
  uid: number[] = [0, 0];
  gid: number[] = [0, 0];
  size: number[] = [0, 0];
  mtime: number[] = [0, 0];
  devMajor: number[] = [0, 0];
  devMinor: number[] = [0, 0];
  nlink: number[] = [0, 2];
  parent: number[] = [0, ROOT_INO];
  name: string[] = ['', ''];
  explicit: boolean[] = [false, false];
  children: Array<Array<[string, number]> | undefined> = [undefined, []];
  byPath = new Map<string, number>([['', ROOT_INO]]);
  symlinks = new Map<number, string>();
  xattrs = new Map<number, Map<string, Buffer>>();
  interned = new Map<string, string>();

  intern(s: string): string {
    const found = this.interned.get(s);
    if (found !== undefined) return found;
    this.interned.set(s, s);
    return s;
  }

  newInode(parent: number, base: string, mode: number): number {
    const ino = this.mode.length;
    this.mode.push(mode);
    this.uid.push(0);
    this.gid.push(0);
    this.size.push(0);
    this.mtime.push(0);
    this.devMajor.push(0);
    this.devMinor.push(0);
    this.nlink.push((mode & S_IFMT) === S_IFDIR ? 2 : 1);
    this.parent.push(parent);
    this.name.push(this.intern(base));
    this.explicit.push(false);
    this.children.push((mode & S_IFMT) === S_IFDIR ? [] : undefined);
    return ino;
  }

  link(parent: number, base: string, ino: number): void {
    this.children[parent]!.push([this.intern(base), ino]);
  }

  /** The directory inode at `path`, creating missing directories (mode 0755) on the way. */
  ensureDir(path: string): number {
    const found = this.byPath.get(path);
    if (found !== undefined) {
      if ((this.mode[found] & S_IFMT) !== S_IFDIR) {
        fail(E.duplicateEntry, `${JSON.stringify(path)} is used as a directory but is not one`);
      }
      return found;
    }
    const slash = path.lastIndexOf('/');
    const parent = this.ensureDir(slash === -1 ? '' : path.slice(0, slash));
    const ino = this.newInode(parent, path.slice(slash + 1), S_IFDIR | 0o755);
    this.link(parent, path.slice(slash + 1), ino);
    this.nlink[parent]++;
    this.byPath.set(path, ino);
    return ino;
  }
}

function splitPath(path: string): [string, string] {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? ['', path] : [path.slice(0, slash), path.slice(slash + 1)];
}

function parseXattrs(value: unknown, limits: TocLimits): Map<string, Buffer> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value))
    fail(E.badEntry, 'xattrs must be an object');
  const out = new Map<string, Buffer>();
  let total = 0;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (key === '' || key.includes('\0')) fail(E.badEntry, 'invalid xattr name');
    if (typeof v !== 'string') fail(E.badEntry, `xattr ${key} must be a base64 string`);
    const bytes = Buffer.from(v, 'base64');
    total += key.length + bytes.length;
    if (total > limits.maxXattrBytes) fail(E.limitExceeded, 'xattrs of one entry exceed the limit');
    out.set(key, bytes);
  }
  return out.size > 0 ? out : undefined;
}

function parseMtime(value: unknown): number {
  if (value === undefined || value === '' || value === null) return 0;
  if (typeof value !== 'string') fail(E.badEntry, 'modtime must be a string');
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) fail(E.badEntry, `invalid modtime ${JSON.stringify(value)}`);
  return ms;
}

function parseJson(json: Buffer | string, limits: TocLimits): unknown[] {
  if (json.length > limits.maxTocBytes) {
    fail(E.limitExceeded, `TOC of ${json.length} bytes exceeds the limit of ${limits.maxTocBytes}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(typeof json === 'string' ? json : json.toString('utf8'));
  } catch (err) {
    throw new EstargzError(E.badToc, `TOC is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null) fail(E.badToc, 'TOC is not a JSON object');
  const { version, entries } = doc as { version?: unknown; entries?: unknown };
  if (version !== 1) fail(E.badToc, `unsupported TOC version ${JSON.stringify(version)}`);
  if (!Array.isArray(entries)) fail(E.badToc, 'TOC has no entries array');
  if (entries.length > limits.maxEntries) {
    fail(E.limitExceeded, `TOC has ${entries.length} entries, limit is ${limits.maxEntries}`);
  }
  return entries as unknown[];
}

/** Parses and verifies a TOC, returning the layer's file tree. Throws EstargzError. */
export function parseToc(json: Buffer | string, options: ParseTocOptions): LayerIndex {
  const limits: TocLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const tocDigest = sha256Digest(typeof json === 'string' ? Buffer.from(json) : json);
  if (options.expectedTocDigest !== undefined && options.expectedTocDigest !== tocDigest) {
    fail(
      E.tocDigestMismatch,
      `TOC digest ${tocDigest} does not match the expected ${options.expectedTocDigest}`,
    );
  }
  if (!Number.isSafeInteger(options.tocOffset) || options.tocOffset < 0) {
    fail(E.badFooter, 'invalid TOC offset');
  }
  const entries = parseJson(json, limits);
  const t = new TreeBuilder();
  const chunks: ChunkRow[] = [];
  const state = { lastFile: undefined as { ino: number; path: string } | undefined };
  let prefetchBoundary: number | undefined;
  let hasNoPrefetchLandmark = false;

  for (let i = 0; i < entries.length; i++) {
    const raw = entries[i];
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      fail(E.badEntry, `TOC entry ${i} is not an object`);
    }
    try {
      const landmark = addEntry(t, raw as Record<string, unknown>, chunks, state, limits);
      if (landmark) {
        if (landmark.name === PREFETCH_LANDMARK) prefetchBoundary = landmark.offset;
        else hasNoPrefetchLandmark = true;
      }
    } catch (err) {
      if (err instanceof EstargzError) {
        const entryName = (raw as { name?: unknown }).name;
        err.message = `TOC entry ${i} (${JSON.stringify(entryName)}): ${err.message}`;
      }
      throw err;
    }
  }
  return freeze(t, chunks, {
    format: options.format ?? 'unknown',
    tocDigest,
    tocVerified: options.expectedTocDigest !== undefined,
    tocOffset: options.tocOffset,
    entryCount: entries.length,
    prefetchBoundary,
    hasNoPrefetchLandmark,
  });
}

type Landmark = { name: string; offset: number } | undefined;

function addEntry(
  t: TreeBuilder,
  e: Record<string, unknown>,
  chunks: ChunkRow[],
  state: { lastFile: { ino: number; path: string } | undefined },
  limits: TocLimits,
): Landmark {
  const type = str(e.type, 'type');
  if (type === 'chunk') {
    addChunk(t, e, chunks, state.lastFile, limits);
    return undefined;
  }
  state.lastFile = undefined;
  const path = normalizeEntryPath(str(e.name, 'name'));
  const [dirPath, base] = splitPath(path);

  if (base.startsWith(WHITEOUT_PREFIX)) {
    addWhiteout(t, e, dirPath, base);
    return undefined;
  }
  if (path.split('/').some((p) => p.startsWith('.wh..wh.'))) return undefined; // aufs metadata

  if (type === 'hardlink') {
    addHardlink(t, e, path);
    return undefined;
  }
  const typeBits = TYPE_BITS[type];
  if (typeBits === undefined) fail(E.badEntry, `unknown entry type ${JSON.stringify(type)}`);
  const ino = placeInode(t, path, typeBits);
  setAttrs(t, ino, e, typeBits);
  const xattrs = parseXattrs(e.xattrs, limits);
  if (xattrs) t.xattrs.set(ino, new Map([...(t.xattrs.get(ino) ?? []), ...xattrs]));

  if (typeBits === S_IFLNK) {
    const target = str(e.linkName, 'linkName');
    if (target === '' || target.includes('\0')) fail(E.badEntry, 'symlink without a valid target');
    t.symlinks.set(ino, target);
  } else if (typeBits === S_IFREG) {
    const size = uint(e.size, 'size', limits.maxFileSize);
    t.size[ino] = size;
    const fileDigest = parseDigest(e.digest, 'digest');
    if (size > 0) {
      chunks.push(chunkRow(ino, e, 0, fileDigest, limits));
      state.lastFile = { ino, path };
    } else if (uint(e.chunkOffset, 'chunkOffset') !== 0) {
      fail(E.badChunk, 'empty file with a chunk offset');
    }
    if (dirPath === '' && (base === PREFETCH_LANDMARK || base === NO_PREFETCH_LANDMARK)) {
      return { name: base, offset: uint(e.offset, 'offset') };
    }
  }
  return undefined;
}

function placeInode(t: TreeBuilder, path: string, typeBits: number): number {
  const existing = t.byPath.get(path);
  if (existing !== undefined) {
    // A directory created implicitly (as a parent) may be described later by its own entry.
    const isDir = (t.mode[existing] & S_IFMT) === S_IFDIR;
    if (typeBits !== S_IFDIR || !isDir || t.explicit[existing]) {
      fail(E.duplicateEntry, `duplicate entry for ${JSON.stringify(path)}`);
    }
    t.explicit[existing] = true;
    return existing;
  }
  const [dirPath, base] = splitPath(path);
  const parent = t.ensureDir(dirPath);
  const ino = t.newInode(parent, base, typeBits);
  t.link(parent, base, ino);
  if (typeBits === S_IFDIR) t.nlink[parent]++;
  t.byPath.set(path, ino);
  t.explicit[ino] = true;
  return ino;
}

function setAttrs(t: TreeBuilder, ino: number, e: Record<string, unknown>, typeBits: number) {
  t.mode[ino] = typeBits | (uint(e.mode, 'mode', 0o7777777) & 0o7777);
  t.uid[ino] = uint(e.uid, 'uid', 0xffffffff);
  t.gid[ino] = uint(e.gid, 'gid', 0xffffffff);
  t.mtime[ino] = parseMtime(e.modtime);
  if (typeBits === S_IFCHR || typeBits === S_IFBLK) {
    t.devMajor[ino] = uint(e.devMajor, 'devMajor', 0xffffffff);
    t.devMinor[ino] = uint(e.devMinor, 'devMinor', 0xffffffff);
  }
}

function addWhiteout(t: TreeBuilder, e: Record<string, unknown>, dirPath: string, base: string) {
  if (base === OPAQUE_MARKER) {
    const dir = t.ensureDir(dirPath);
    const xattrs = t.xattrs.get(dir) ?? new Map<string, Buffer>();
    for (const key of OPAQUE_XATTRS) xattrs.set(key, Buffer.from('y'));
    t.xattrs.set(dir, xattrs);
    return;
  }
  if (base.startsWith('.wh..wh.')) return; // other aufs metadata (e.g. .wh..wh.plnk): ignored
  const hidden = base.slice(WHITEOUT_PREFIX.length);
  const target = dirPath === '' ? hidden : `${dirPath}/${hidden}`;
  normalizeEntryPath(target);
  const ino = placeInode(t, target, S_IFCHR);
  t.uid[ino] = uint(e.uid, 'uid', 0xffffffff);
  t.gid[ino] = uint(e.gid, 'gid', 0xffffffff);
  t.mtime[ino] = parseMtime(e.modtime);
}

function addHardlink(t: TreeBuilder, e: Record<string, unknown>, path: string) {
  const targetPath = normalizeEntryPath(str(e.linkName, 'linkName') || '.');
  const target = t.byPath.get(targetPath);
  if (target === undefined) {
    fail(E.badHardlink, `hardlink target ${JSON.stringify(targetPath)} does not exist (yet)`);
  }
  if ((t.mode[target] & S_IFMT) === S_IFDIR) {
    fail(E.badHardlink, `hardlink to directory ${JSON.stringify(targetPath)}`);
  }
  if (t.byPath.has(path)) fail(E.duplicateEntry, `duplicate entry for ${JSON.stringify(path)}`);
  const [dirPath, base] = splitPath(path);
  const parent = t.ensureDir(dirPath);
  t.link(parent, base, target);
  t.byPath.set(path, target);
  t.nlink[target]++;
}

function chunkRow(
  ino: number,
  e: Record<string, unknown>,
  expectedFileOffset: number,
  fileDigest: Buffer | undefined,
  limits: TocLimits,
): ChunkRow {
  const fileOffset = uint(e.chunkOffset, 'chunkOffset');
  if (fileOffset !== expectedFileOffset) {
    fail(E.badChunk, `chunk starts at ${fileOffset}, expected ${expectedFileOffset}`);
  }
  return {
    ino,
    offset: uint(e.offset, 'offset'),
    inner: uint(e.innerOffset, 'innerOffset'),
    fileOffset,
    declaredSize: uint(e.chunkSize, 'chunkSize', limits.maxChunkBytes),
    digest: parseDigest(e.chunkDigest, 'chunkDigest'),
    fileDigest,
  };
}

function addChunk(
  t: TreeBuilder,
  e: Record<string, unknown>,
  chunks: ChunkRow[],
  lastFile: { ino: number; path: string } | undefined,
  limits: TocLimits,
) {
  if (!lastFile) fail(E.badChunk, 'chunk entry does not follow a regular file');
  const name = str(e.name, 'name');
  if (name !== '' && normalizeEntryPath(name) !== lastFile.path) {
    fail(E.badChunk, `chunk of ${JSON.stringify(name)} follows ${JSON.stringify(lastFile.path)}`);
  }
  const prev = chunks[chunks.length - 1];
  if (prev.declaredSize === 0) fail(E.badChunk, 'chunk follows a chunk that claims to run to EOF');
  const expected = prev.fileOffset + prev.declaredSize;
  if (expected >= t.size[lastFile.ino]) fail(E.badChunk, 'chunk beyond the end of the file');
  chunks.push(chunkRow(lastFile.ino, e, expected, prev.fileDigest, limits));
}

/** Computes chunk sizes and compressed ends, checks the layout, and packs everything. */
function freeze(
  t: TreeBuilder,
  rows: ChunkRow[],
  meta: {
    format: FooterFormat | 'unknown';
    tocDigest: string;
    tocVerified: boolean;
    tocOffset: number;
    entryCount: number;
    prefetchBoundary: number | undefined;
    hasNoPrefetchLandmark: boolean;
  },
): LayerIndex {
  const n = t.mode.length; // inodes 1..n-1
  const count = rows.length;
  const chunkOffset = new Float64Array(count);
  const chunkEnd = new Float64Array(count);
  const chunkInner = new Float64Array(count);
  const chunkFileOffset = new Float64Array(count);
  const chunkSize = new Float64Array(count);
  const chunkIno = new Uint32Array(count);
  const chunkVerification = new Uint8Array(count);
  const chunkDigests = new Uint8Array(count * 32);
  const chunkStart = new Uint32Array(n + 1);
  const fileChunkCount = new Uint32Array(n);
  for (const row of rows) fileChunkCount[row.ino]++;

  for (let i = 0; i < count; i++) {
    const row = rows[i];
    const next = rows[i + 1];
    const fileSize = t.size[row.ino];
    const sameFile = next !== undefined && next.ino === row.ino;
    const size = (sameFile ? next.fileOffset : fileSize) - row.fileOffset;
    if (size <= 0 || (row.declaredSize !== 0 && row.declaredSize !== size)) {
      fail(E.badChunk, `chunk ${i} of ${JSON.stringify(t.name[row.ino])} has an inconsistent size`);
    }
    if (row.offset >= meta.tocOffset) {
      fail(E.badChunk, `chunk ${i} offset ${row.offset} is not before the TOC (${meta.tocOffset})`);
    }
    const prev = i > 0 ? rows[i - 1] : undefined;
    if (prev && row.offset < prev.offset) fail(E.badChunk, `chunk ${i} is out of blob order`);
    if (prev && row.offset === prev.offset && row.inner < prev.inner + chunkSize[i - 1]) {
      fail(E.badChunk, `chunk ${i} overlaps the previous chunk in the same gzip member`);
    }
    chunkOffset[i] = row.offset;
    chunkInner[i] = row.inner;
    chunkFileOffset[i] = row.fileOffset;
    chunkSize[i] = size;
    chunkIno[i] = row.ino;
    const useFileDigest = !row.digest && row.fileDigest && fileChunkCount[row.ino] === 1;
    const digest = row.digest ?? (useFileDigest ? row.fileDigest : undefined);
    chunkVerification[i] = row.digest
      ? ChunkVerification.chunkDigest
      : useFileDigest
        ? ChunkVerification.fileDigest
        : ChunkVerification.none;
    if (digest) chunkDigests.set(digest, i * 32);
  }
  // Compressed end: the next larger member start (members may be shared via innerOffset).
  let end = meta.tocOffset;
  for (let i = count - 1; i >= 0; i--) {
    chunkEnd[i] = end;
    if (i > 0 && chunkOffset[i - 1] < chunkOffset[i]) end = chunkOffset[i]!;
  }
  // Chunk ids follow TOC order and inodes are numbered in TOC order, so each file's chunks form
  // one contiguous id range: a prefix sum gives the ranges.
  for (let ino = 1; ino < n; ino++) chunkStart[ino + 1] = chunkStart[ino] + fileChunkCount[ino];
  return new LayerIndex({
    ...meta,
    inodeCount: n - 1,
    mode: Uint32Array.from(t.mode),
    uid: Uint32Array.from(t.uid),
    gid: Uint32Array.from(t.gid),
    size: Float64Array.from(t.size),
    mtimeMs: Float64Array.from(t.mtime),
    devMajor: Uint32Array.from(t.devMajor),
    devMinor: Uint32Array.from(t.devMinor),
    nlink: Uint32Array.from(t.nlink),
    parent: Uint32Array.from(t.parent),
    name: t.name,
    ...packChildren(t, n),
    symlinks: t.symlinks,
    xattrs: t.xattrs,
    chunkStart,
    chunkOffset,
    chunkEnd,
    chunkInner,
    chunkFileOffset,
    chunkSize,
    chunkIno,
    chunkVerification,
    chunkDigests,
  });
}

function packChildren(t: TreeBuilder, n: number) {
  const childStart = new Uint32Array(n + 1);
  let total = 0;
  for (let ino = 1; ino < n; ino++) {
    childStart[ino] = total;
    total += t.children[ino]?.length ?? 0;
  }
  childStart[n] = total;
  const childIno = new Uint32Array(total);
  const childName: string[] = new Array<string>(total);
  for (let ino = 1; ino < n; ino++) {
    const list = t.children[ino];
    if (!list) continue;
    list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    let at = childStart[ino];
    for (const [name, child] of list) {
      childName[at] = name;
      childIno[at++] = child;
    }
  }
  return { childStart, childIno, childName };
}
