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
import { DEFAULT_LIMITS, type EntryBudget, type TocLimits } from './limits.ts';
import { TocEntrySplitter } from './toc-splitter.ts';

export const TOC_NAME = 'stargz.index.json';
export const PREFETCH_LANDMARK = '.prefetch.landmark';
export const NO_PREFETCH_LANDMARK = '.no.prefetch.landmark';
const LANDMARKS = new Set([PREFETCH_LANDMARK, NO_PREFETCH_LANDMARK]);
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
  /** Shared entry budget the parse takes from (see EntryBudget). */
  entryBudget?: EntryBudget;
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

// A component that is empty, `.` or `..`, or a NUL anywhere.
const UNCLEAN = /(?:^|\/)\.{0,2}(?:\/|$)|\0/;

/**
 * Normalises a TOC/tar path to 'a/b/c' ('' = root). Rejects absolute paths, NUL, empty names and
 * `.`/`..`/empty components anywhere but a single leading `./`.
 */
export function normalizeEntryPath(name: string): string {
  if (name === '') fail(E.badPath, 'empty path');
  let n = name === '.' ? '' : name.startsWith('./') ? name.slice(2) : name;
  if (n.startsWith('/')) fail(E.badPath, `absolute path: ${JSON.stringify(name)}`);
  while (n.endsWith('/')) n = n.slice(0, -1);
  if (n === '') {
    if (name.includes('\0')) fail(E.badPath, 'path contains NUL');
    return '';
  }
  if (n.length > PATH_MAX / 3 && Buffer.byteLength(n) > PATH_MAX) {
    // Checked before anything else looks at the components: a hostile TOC's one entry of
    // millions of them would otherwise become millions of directories.
    fail(E.badPath, `path of ${Buffer.byteLength(n)} bytes is longer than ${PATH_MAX}`);
  }
  if (UNCLEAN.test(n)) {
    fail(E.badPath, `path is not clean, escapes the layer or has NUL: ${JSON.stringify(name)}`);
  }
  if (n.length > NAME_MAX / 3 && hasLongName(n)) {
    fail(E.badPath, `a name in ${JSON.stringify(name)} is longer than ${NAME_MAX} bytes`);
  }
  return n;
}

/**
 * Linux's limits on a name, a symlink target and an xattr's name and value. A layer beyond them
 * cannot be unpacked by a normal pull (ENAMETOOLONG, ERANGE, E2BIG), and served lazily the kernel
 * would get names it cannot handle in READDIR replies, and never ask for more than XATTR_SIZE_MAX
 * bytes of a value. Such a layer is refused, so the runtime's normal pull reports the error.
 */
const NAME_MAX = 255;
/**
 * Linux's limit on a path. A layer's paths become longer ones under the runtime's storage
 * directory, so no real layer comes near it; it also bounds the depth of a path to 2048
 * components (`a/` takes two bytes), each one a directory the index builds.
 */
const PATH_MAX = 4096;
const SYMLINK_MAX = 4095;
const XATTR_NAME_MAX = 255;
const XATTR_SIZE_MAX = 65536;

/** Whether a component of 'a/b/c' is longer than NAME_MAX bytes (a UTF-16 unit is ≤ 3 bytes). */
function hasLongName(path: string): boolean {
  for (let start = 0; start < path.length;) {
    const slash = path.indexOf('/', start);
    const end = slash === -1 ? path.length : slash;
    if (end - start > NAME_MAX / 3 && Buffer.byteLength(path.slice(start, end)) > NAME_MAX) {
      return true;
    }
    start = end + 1;
  }
  return false;
}

function uint(value: unknown, what: string, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    fail(E.badEntry, `${what} must be an integer in [0, ${max}], got ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * U+FFFD is what a TOC writer puts for bytes of a tar name that are not UTF-8 (JSON is text: Go's
 * encoder does so, and ctr-remote converts such layers without a word). The TOC then names other
 * files than the layer holds, and a lazily pulled container would see names that a normal pull
 * does not give, so such a layer is refused (the runtime pulls it normally, with its real names).
 * The converter refuses these names in the first place (tar/header.ts decodePath).
 */
function refuseReplaced(text: string, what: string): void {
  if (text.includes('\uFFFD')) {
    fail(
      E.badPath,
      `${what} ${JSON.stringify(text.slice(0, 300))} has U+FFFD, the replacement of bytes that are not UTF-8: the TOC does not name the layer's files faithfully`,
    );
  }
}

function str(value: unknown, what: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') fail(E.badEntry, `${what} must be a string`);
  return value;
}

function parseXattrs(value: unknown, limits: TocLimits): Map<string, Buffer> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value))
    fail(E.badEntry, 'xattrs must be an object');
  const out = new Map<string, Buffer>();
  let total = 0;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (key === '' || key.includes('\0')) fail(E.badEntry, 'invalid xattr name');
    refuseReplaced(key, 'xattr name');
    if (typeof v !== 'string') fail(E.badEntry, `xattr ${key} must be a base64 string`);
    const bytes = Buffer.from(v, 'base64');
    total += key.length + bytes.length;
    if (total > limits.maxXattrBytes) fail(E.limitExceeded, 'xattrs of one entry exceed the limit');
    if (Buffer.byteLength(key) > XATTR_NAME_MAX || bytes.length > XATTR_SIZE_MAX) {
      fail(E.badEntry, `xattr ${JSON.stringify(key)} is beyond Linux's xattr limits`);
    }
    // An empty value is left out, as containers/storage's normal pull does (Go's archive/tar
    // drops a PAX record with an empty value): the two pulls must give the same files.
    if (bytes.length > 0) out.set(key, bytes);
  }
  return out.size > 0 ? out : undefined;
}

// Most entries of a layer share a few dozen modtimes, interleaved (node's 20k-entry layer: 31
// of them, changing 9205 times from one entry to the next): the ones parsed are remembered,
// across TOCs too, up to a bound (a hostile TOC of distinct modtimes only refills it).
const modtimes = new Map<string, number>();
const MAX_MODTIMES = 4096;

function parseMtime(value: unknown): number {
  if (value === undefined || value === '' || value === null) return 0;
  if (typeof value !== 'string') fail(E.badEntry, 'modtime must be a string');
  const known = modtimes.get(value);
  if (known !== undefined) return known;
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) fail(E.badEntry, `invalid modtime ${JSON.stringify(value)}`);
  if (modtimes.size >= MAX_MODTIMES) modtimes.clear();
  modtimes.set(value, ms);
  return ms;
}

/** The entries of a whole TOC document (its size was checked by parseToc). */
function parseJson(json: Buffer | string, limits: TocLimits): unknown[] {
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

/** Growable buffer of 32-byte digests, indexed by chunk row. */
class DigestColumn {
  bytes = Buffer.alloc(32 * 1024);

  /** Stores `sha256:<64 hex>` at `row`; returns false if the value is not such a digest. */
  set(row: number, value: string): boolean {
    if (value.length !== 71 || !value.startsWith('sha256:')) return false;
    while ((row + 1) * 32 > this.bytes.length) {
      const bigger = Buffer.alloc(this.bytes.length * 2);
      this.bytes.copy(bigger);
      this.bytes = bigger;
    }
    return this.bytes.write(value.slice(7), row * 32, 32, 'hex') === 32;
  }
}

/** Shape check only; the hex is decoded (and checked) if the digest is ever used. */
function checkDigest(value: unknown, what: string): string | undefined {
  if (value === undefined || value === '' || value === null) return undefined;
  if (typeof value !== 'string' || value.length !== 71 || !value.startsWith('sha256:')) {
    fail(E.badEntry, `${what} is not a sha256 digest: ${JSON.stringify(value)}`);
  }
  return value;
}

/**
 * Columns while the tree is built; frozen into typed arrays at the end. Per-directory child lists
 * are plain arrays (no per-entry objects); duplicates are found when they are sorted.
 */
class TreeBuilder {
  /**
   * The root as containers/storage makes a layer's root: 0555, root-owned, whatever the layer's
   * `./` entry says (its extraction skips that entry; podman copies the root's mode and owner to
   * the container's layer, so a tar's 0700 `./` would lock every non-root user out).
   */
  mode: number[] = [0, S_IFDIR | 0o555];
  uid: number[] = [0, 0];
  gid: number[] = [0, 0];
  size: number[] = [0, 0];
  mtime: number[] = [0, 0];
  nlink: number[] = [0, 2];
  parent: number[] = [0, ROOT_INO];
  name: string[] = ['', ''];
  explicit: number[] = [0, 0];
  childNames: (string[] | undefined)[] = [undefined, []];
  childInos: (number[] | undefined)[] = [undefined, []];
  /** Per directory: its subdirectories by name (memory stays linear in the TOC size). */
  subdirs = new Map<number, Map<string, number>>([[ROOT_INO, new Map()]]);
  /** Per-directory name → inode, built lazily for hardlink target lookups. */
  dirIndex = new Map<number, Map<string, number>>();
  devices = new Map<number, [number, number]>();
  symlinks = new Map<number, string>();
  xattrs = new Map<number, Map<string, Buffer>>();
  lastDirPath = '';
  lastDirIno = ROOT_INO;
  /**
   * This layer's whiteouts by `<parent ino>/<name>`. A layer may hold both `.wh.x` and `x`: the
   * entry wins and the whiteout leaves the tree, as containers/storage extracts such a layer (and
   * as stargz-snapshotter serves it): a directory `x` then merges with the lower layers' `x`, it
   * is not made opaque. Rare, so the usual entry pays one size check.
   */
  whiteouts = new Map<string, number>();
  /** Whiteouts that made way, still in their directory's child lists until packChildren. */
  dropped = new Set<number>();
  /** Directories created as parents, before (or without) their own entry. */
  implicitDirs = 0;
  readonly maxImplicitDirs: number;

  constructor(maxImplicitDirs: number) {
    this.maxImplicitDirs = maxImplicitDirs;
  }

  newInode(parent: number, base: string, mode: number, linked = true): number {
    const ino = this.mode.length;
    const isDir = (mode & S_IFMT) === S_IFDIR;
    this.mode.push(mode);
    this.uid.push(0);
    this.gid.push(0);
    this.size.push(0);
    this.mtime.push(0);
    this.nlink.push(isDir ? 2 : 1);
    this.parent.push(parent);
    this.name.push(ownCopy(base));
    this.explicit.push(0);
    this.childNames.push(isDir ? [] : undefined);
    this.childInos.push(isDir ? [] : undefined);
    if (isDir) {
      this.nlink[parent]++;
      this.subdirs.set(ino, new Map());
    }
    if (linked) this.link(parent, this.name[ino], ino);
    return ino;
  }

  link(parent: number, base: string, ino: number): void {
    if (this.whiteouts.size > 0) this.dropWhiteout(parent, base);
    this.childNames[parent]!.push(base);
    this.childInos[parent]!.push(ino);
    this.dirIndex.get(parent)?.set(base, ino);
  }

  /** A whiteout of this layer for `base` in `parent` makes way for the layer's own entry. */
  dropWhiteout(parent: number, base: string): void {
    const key = `${parent}/${base}`;
    const whiteout = this.whiteouts.get(key);
    if (whiteout === undefined) return;
    this.whiteouts.delete(key);
    this.dirIndex.get(parent)?.delete(base);
    // Not spliced out here: a hostile TOC of many such pairs in one directory would be quadratic.
    this.dropped.add(whiteout);
  }

  /** Takes the dropped whiteouts out of their directories' child lists, once per directory. */
  removeDropped(): void {
    const dirs = new Set([...this.dropped].map((ino) => this.parent[ino]));
    for (const dir of dirs) {
      const names = this.childNames[dir]!;
      const inos = this.childInos[dir]!;
      let kept = 0;
      for (let k = 0; k < inos.length; k++) {
        if (this.dropped.has(inos[k])) continue;
        names[kept] = names[k];
        inos[kept++] = inos[k];
      }
      names.length = kept;
      inos.length = kept;
    }
    this.dropped.clear();
  }

  /** Marks a directory opaque: the lower layers' entries in it are hidden. */
  makeOpaque(ino: number): void {
    const xattrs = this.xattrs.get(ino) ?? new Map<string, Buffer>();
    for (const key of OPAQUE_XATTRS) xattrs.set(key, Buffer.from('y'));
    this.xattrs.set(ino, xattrs);
  }

  /** The directory inode at `path`, creating missing directories (mode 0755) on the way. */
  dir(path: string): number {
    if (path === this.lastDirPath) return this.lastDirIno;
    let ino = ROOT_INO;
    if (path !== '') {
      for (const part of path.split('/')) {
        const subdirs = this.subdirs.get(ino)!;
        let next = subdirs.get(part);
        if (next === undefined) {
          // Each entry's path is bounded (PATH_MAX), but a TOC of many deep paths is not:
          // directories no entry describes count like entries.
          if (++this.implicitDirs > this.maxImplicitDirs) {
            fail(E.limitExceeded, `TOC implies more than ${this.maxImplicitDirs} directories`);
          }
          next = this.newInode(ino, part, S_IFDIR | 0o755);
          subdirs.set(part, next);
        }
        ino = next;
      }
    }
    this.lastDirPath = path;
    this.lastDirIno = ino;
    return ino;
  }

  /** An existing directory at `path`, or undefined (creates nothing). */
  existingDir(path: string): number | undefined {
    let ino: number | undefined = ROOT_INO;
    if (path === '') return ino;
    for (const part of path.split('/')) {
      ino = this.subdirs.get(ino)!.get(part);
      if (ino === undefined) return undefined;
    }
    return ino;
  }

  /** Looks a non-directory or directory up by path (for hardlink targets). */
  find(path: string): number | undefined {
    const [dirPath, base] = splitPath(path);
    if (path === '') return ROOT_INO;
    const dir = this.existingDir(dirPath);
    if (dir === undefined) return undefined;
    let index = this.dirIndex.get(dir);
    if (!index) {
      index = new Map();
      const names = this.childNames[dir]!;
      const inos = this.childInos[dir]!;
      for (let i = 0; i < names.length; i++) index.set(names[i], inos[i]);
      this.dirIndex.set(dir, index);
    }
    return index.get(base);
  }
}

/**
 * A basename sliced from a long path would keep the whole path string alive (V8 sliced
 * strings); copying it keeps only the name.
 */
function ownCopy(s: string): string {
  return s.length < 13 ? s : (s + ' ').slice(0, -1);
}

function splitPath(path: string): [string, string] {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? ['', path] : [path.slice(0, slash), path.slice(slash + 1)];
}

/** Chunk rows in TOC (= blob) order, as parallel columns. */
class ChunkRows {
  ino: number[] = [];
  offset: number[] = [];
  inner: number[] = [];
  fileOffset: number[] = [];
  declaredSize: number[] = [];
  hasDigest: number[] = [];
  digests = new DigestColumn();
  /** Whole-file digests of files whose chunks lack chunkDigest (legacy stargz). */
  fileDigests = new Map<number, string>();

  get length(): number {
    return this.ino.length;
  }
}

interface BuildState {
  t: TreeBuilder;
  rows: ChunkRows;
  limits: TocLimits;
  /** The regular file that `chunk` entries may continue. */
  lastFile: { ino: number; path: string; digest: string | undefined } | undefined;
  prefetchBoundary: number | undefined;
  hasNoPrefetchLandmark: boolean;
}

/** JSON bytes per run when a whole TOC is parsed in runs of entries. */
const RUN_BYTES = 256 * 1024;
/**
 * Largest TOC parsed with one JSON.parse, when it is not in the shape the run splitter follows:
 * a parse in one piece holds every entry as a JavaScript object at once (~8× the JSON), before
 * any limit can be checked.
 */
const WHOLE_PARSE_MAX_BYTES = 16 * 2 ** 20;

/**
 * Builds the index from runs of entries (toc-splitter.ts), so that only one run's objects exist at
 * a time and the entry limits stop a hostile TOC early. Undefined when the document is not in
 * the splitter's shape or a run is not valid JSON (the whole parse then decides).
 */
function buildFromRuns(
  json: Buffer | string,
  limits: TocLimits,
  budget: EntryBudget | undefined,
): TocIndexBuilder | undefined {
  const bytes = typeof json === 'string' ? Buffer.from(json) : json;
  const splitter = new TocEntrySplitter();
  const builder = new TocIndexBuilder(limits, budget);
  const add = (run: string | undefined) => {
    if (run !== undefined) for (const entry of JSON.parse(run) as unknown[]) builder.add(entry);
  };
  try {
    for (let at = 0; at < bytes.length && splitter.failure === undefined; at += RUN_BYTES) {
      add(splitter.push(bytes.subarray(at, at + RUN_BYTES)));
    }
    add(splitter.end());
  } catch (err) {
    if (err instanceof EstargzError) throw err;
    budget?.giveBack();
    return undefined; // a run that is not JSON: a cut inside a string, or a broken document
  }
  if (splitter.complete) return builder;
  budget?.giveBack();
  return undefined;
}

/** The whole document in one JSON.parse (small, or in a shape the splitter does not follow). */
function wholeDocument(
  json: Buffer | string,
  limits: TocLimits,
  budget: EntryBudget | undefined,
): TocIndexBuilder {
  if (json.length > WHOLE_PARSE_MAX_BYTES) {
    fail(
      E.limitExceeded,
      `TOC of ${json.length} bytes is not in the document shape eStargz writers produce ({"version":1,"entries":[…]}), and such a TOC is parsed in one piece only up to ${WHOLE_PARSE_MAX_BYTES} bytes`,
    );
  }
  const entries = parseJson(json, limits);
  const builder = new TocIndexBuilder(limits, budget);
  for (let i = 0; i < entries.length; i++) builder.add(entries[i]);
  return builder;
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
  if (json.length > limits.maxTocBytes) {
    fail(E.limitExceeded, `TOC of ${json.length} bytes exceeds the limit of ${limits.maxTocBytes}`);
  }
  const builder =
    buildFromRuns(json, limits, options.entryBudget) ??
    wholeDocument(json, limits, options.entryBudget);
  return builder.finish({
    tocOffset: options.tocOffset,
    format: options.format ?? 'unknown',
    tocDigest,
    tocVerified: options.expectedTocDigest !== undefined,
  });
}

/**
 * The file tree of a TOC, built one parsed entry at a time in TOC order: `parseToc` feeds it a
 * whole document, `TocStreamParser` (toc-stream.ts) the entries of a TOC still arriving.
 */
export class TocIndexBuilder {
  readonly #state: BuildState;
  readonly #budget: EntryBudget | undefined;
  #count = 0;

  constructor(limits: TocLimits, budget?: EntryBudget) {
    this.#budget = budget;
    this.#state = {
      t: new TreeBuilder(limits.maxEntries),
      rows: new ChunkRows(),
      limits,
      lastFile: undefined,
      prefetchBoundary: undefined,
      hasNoPrefetchLandmark: false,
    };
  }

  get entryCount(): number {
    return this.#count;
  }

  /** Adds the next entry (a value of the TOC's `entries` array). Throws EstargzError. */
  add(raw: unknown): void {
    const i = this.#count++;
    if (i >= this.#state.limits.maxEntries) {
      fail(E.limitExceeded, `TOC has more than ${this.#state.limits.maxEntries} entries`);
    }
    this.#budget?.take(1);
    try {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        fail(E.badEntry, 'not an object');
      }
      addEntry(this.#state, raw as Record<string, unknown>);
    } catch (err) {
      if (err instanceof EstargzError) {
        const entryName = JSON.stringify((raw as { name?: unknown } | null)?.name) ?? 'no name';
        // A hostile name can be megabytes long: the start says which entry it is.
        const shown = entryName.length > 200 ? `${entryName.slice(0, 200)}…` : entryName;
        err.message = `TOC entry ${i} (${shown}): ${err.message}`;
      }
      throw err;
    }
  }

  /** Checks the chunk layout against the TOC's offset and packs the index. */
  finish(meta: {
    tocOffset: number;
    format: FooterFormat | 'unknown';
    tocDigest: string;
    tocVerified: boolean;
  }): LayerIndex {
    if (!Number.isSafeInteger(meta.tocOffset) || meta.tocOffset < 0) {
      fail(E.badFooter, 'invalid TOC offset');
    }
    const s = this.#state;
    return freeze(s, {
      ...meta,
      entryCount: this.#count,
      prefetchBoundary: s.prefetchBoundary,
      hasNoPrefetchLandmark: s.hasNoPrefetchLandmark,
    });
  }
}

function addEntry(s: BuildState, e: Record<string, unknown>): void {
  const type = str(e.type, 'type');
  if (type === 'chunk') {
    addChunk(s, e);
    return;
  }
  s.lastFile = undefined;
  const name = str(e.name, 'name');
  refuseReplaced(name, 'name');
  const path = normalizeEntryPath(name);
  const [dirPath, base] = splitPath(path);
  if (base.startsWith(WHITEOUT_PREFIX)) {
    addWhiteout(s.t, e, dirPath, base);
    return;
  }
  if (path.includes('/.wh..wh.')) return; // inside aufs metadata dirs
  if (type === 'hardlink') {
    addHardlink(s.t, e, dirPath, base);
    return;
  }
  const typeBits = TYPE_BITS[type];
  if (typeBits === undefined) fail(E.badEntry, `unknown entry type ${JSON.stringify(type)}`);
  const t = s.t;
  const ino = placeInode(t, path, dirPath, base, typeBits);
  if (ino === ROOT_INO) {
    // See TreeBuilder.mode: the `./` entry's mode, owner and xattrs are not applied; its mtime
    // is kept (the extracted root's would be the extraction's time, which nothing can match).
    t.mtime[ino] = parseMtime(e.modtime);
    return;
  }
  setAttrs(t, ino, e, typeBits);
  const xattrs = parseXattrs(e.xattrs, s.limits);
  if (xattrs) t.xattrs.set(ino, new Map([...(t.xattrs.get(ino) ?? []), ...xattrs]));
  if (typeBits === S_IFLNK) {
    const target = str(e.linkName, 'linkName');
    if (target === '' || target.includes('\0')) fail(E.badEntry, 'symlink without a valid target');
    refuseReplaced(target, 'symlink target');
    if (target.length > SYMLINK_MAX / 3 && Buffer.byteLength(target) > SYMLINK_MAX) {
      fail(E.badEntry, `symlink target longer than ${SYMLINK_MAX} bytes`);
    }
    t.symlinks.set(ino, target);
  } else if (typeBits === S_IFREG) {
    addRegular(s, e, ino, path, dirPath === '' ? base : undefined);
  }
}

function addRegular(
  s: BuildState,
  e: Record<string, unknown>,
  ino: number,
  path: string,
  rootName: string | undefined,
): void {
  const size = uint(e.size, 'size', s.limits.maxFileSize);
  s.t.size[ino] = size;
  const digest = checkDigest(e.digest, 'digest');
  if (size > 0) {
    s.lastFile = { ino, path, digest };
    addChunkRow(s, e, ino, 0, digest);
  } else if (uint(e.chunkOffset, 'chunkOffset') !== 0) {
    fail(E.badChunk, 'empty file with a chunk offset');
  }
  if (rootName === PREFETCH_LANDMARK) s.prefetchBoundary = uint(e.offset, 'offset');
  if (rootName === NO_PREFETCH_LANDMARK) s.hasNoPrefetchLandmark = true;
}

function placeInode(
  t: TreeBuilder,
  path: string,
  dirPath: string,
  base: string,
  typeBits: number,
): number {
  if (typeBits === S_IFDIR) {
    // Get or create: a directory created implicitly (as a parent) may be described later by its
    // own entry, but only once.
    const ino = t.dir(path);
    if (t.explicit[ino]) fail(E.duplicateEntry, `duplicate entry for ${JSON.stringify(path)}`);
    t.explicit[ino] = 1;
    if (ino !== ROOT_INO) t.implicitDirs--; // described now
    return ino;
  }
  // The landmarks are eStargz's own bookkeeping, not the image's: kept out of the tree, as the
  // peers do (their chunks still count for the prefetch boundary).
  const landmark = dirPath === '' && typeBits === S_IFREG && LANDMARKS.has(base);
  const ino = t.newInode(t.dir(dirPath), base, typeBits, !landmark);
  t.explicit[ino] = 1;
  return ino;
}

function setAttrs(t: TreeBuilder, ino: number, e: Record<string, unknown>, typeBits: number) {
  const mode = uint(e.mode, 'mode', 0o7777777) & 0o7777;
  // A symlink's permission bits mean nothing on Linux and are always 0777 once extracted
  // (writers such as Python's tarfile put 0644 in the header).
  t.mode[ino] = typeBits | (typeBits === S_IFLNK ? 0o777 : mode);
  t.uid[ino] = uint(e.uid, 'uid', 0xffffffff);
  t.gid[ino] = uint(e.gid, 'gid', 0xffffffff);
  t.mtime[ino] = parseMtime(e.modtime);
  if (typeBits === S_IFCHR || typeBits === S_IFBLK) {
    t.devices.set(ino, [
      uint(e.devMajor, 'devMajor', 0xffffffff),
      uint(e.devMinor, 'devMinor', 0xffffffff),
    ]);
  }
}

function addWhiteout(t: TreeBuilder, e: Record<string, unknown>, dirPath: string, base: string) {
  if (base === OPAQUE_MARKER) {
    t.makeOpaque(t.dir(dirPath));
    return;
  }
  if (base.startsWith('.wh..wh.')) return; // other aufs metadata (e.g. .wh..wh.plnk): ignored
  const hidden = base.slice(WHITEOUT_PREFIX.length);
  const hiddenPath = normalizeEntryPath(dirPath === '' ? hidden : `${dirPath}/${hidden}`);
  const parent = t.dir(dirPath);
  const key = `${parent}/${hidden}`;
  // The layer's own entry came first: it stays.
  if (!t.whiteouts.has(key) && t.find(hiddenPath) !== undefined) return;
  const ino = t.newInode(parent, hidden, S_IFCHR);
  t.whiteouts.set(key, ino);
  t.uid[ino] = uint(e.uid, 'uid', 0xffffffff);
  t.gid[ino] = uint(e.gid, 'gid', 0xffffffff);
  t.mtime[ino] = parseMtime(e.modtime);
}

function addHardlink(t: TreeBuilder, e: Record<string, unknown>, dirPath: string, base: string) {
  const targetPath = normalizeEntryPath(str(e.linkName, 'linkName') || '.');
  const target = t.find(targetPath);
  if (target === undefined) {
    fail(E.badHardlink, `hardlink target ${JSON.stringify(targetPath)} does not exist (yet)`);
  }
  if ((t.mode[target] & S_IFMT) === S_IFDIR) {
    fail(E.badHardlink, `hardlink to directory ${JSON.stringify(targetPath)}`);
  }
  t.link(t.dir(dirPath), ownCopy(base), target);
  t.nlink[target]++;
}

function addChunkRow(
  s: BuildState,
  e: Record<string, unknown>,
  ino: number,
  expectedFileOffset: number,
  fileDigest: string | undefined,
): void {
  const rows = s.rows;
  const fileOffset = uint(e.chunkOffset, 'chunkOffset');
  if (fileOffset !== expectedFileOffset) {
    fail(E.badChunk, `chunk starts at ${fileOffset}, expected ${expectedFileOffset}`);
  }
  const row = rows.length;
  const chunkDigest = e.chunkDigest;
  let hasDigest = 0;
  if (chunkDigest !== undefined && chunkDigest !== '') {
    if (typeof chunkDigest !== 'string' || !rows.digests.set(row, chunkDigest)) {
      fail(E.badEntry, `chunkDigest is not a sha256 digest: ${JSON.stringify(chunkDigest)}`);
    }
    hasDigest = 1;
  } else if (fileDigest !== undefined) {
    rows.fileDigests.set(row, fileDigest);
  }
  rows.ino.push(ino);
  rows.offset.push(uint(e.offset, 'offset'));
  rows.inner.push(uint(e.innerOffset, 'innerOffset', 0xffffffff));
  rows.fileOffset.push(fileOffset);
  rows.declaredSize.push(uint(e.chunkSize, 'chunkSize', s.limits.maxChunkBytes));
  rows.hasDigest.push(hasDigest);
}

function addChunk(s: BuildState, e: Record<string, unknown>): void {
  const file = s.lastFile;
  if (!file) fail(E.badChunk, 'chunk entry does not follow a regular file');
  const name = str(e.name, 'name');
  if (name !== '' && normalizeEntryPath(name) !== file.path) {
    fail(E.badChunk, `chunk of ${JSON.stringify(name)} follows ${JSON.stringify(file.path)}`);
  }
  const rows = s.rows;
  const last = rows.length - 1;
  if (rows.declaredSize[last] === 0) {
    fail(E.badChunk, 'chunk follows a chunk that claims to run to EOF');
  }
  const expected = rows.fileOffset[last] + rows.declaredSize[last];
  if (expected >= s.t.size[file.ino]) fail(E.badChunk, 'chunk beyond the end of the file');
  addChunkRow(s, e, file.ino, expected, file.digest);
}

interface Meta {
  format: FooterFormat | 'unknown';
  tocDigest: string;
  tocVerified: boolean;
  tocOffset: number;
  entryCount: number;
  prefetchBoundary: number | undefined;
  hasNoPrefetchLandmark: boolean;
}

/**
 * The most compressed bytes a member can take for the first `inflated` bytes of its data: deflate
 * never expands data by more than its stored blocks' 5 bytes per 64 KiB (zstd: 3 per 128 KiB), so
 * 1/1024 more plus 64 KiB for the gzip header's optional fields is ample. A chunk's member often
 * ends later (the next entries' tar headers follow in it), but nothing past this bound is needed
 * to inflate the chunk — and a hostile layer that leaves a gigabyte of junk between a small file's
 * member and the next one would otherwise have the agent fetch and hold all of it for each read.
 */
export function maxCompressedSpan(inflated: number): number {
  return inflated + Math.ceil(inflated / 1024) + 64 * 1024;
}

/** Computes chunk sizes and compressed ends, checks the layout, and packs everything. */
function freeze(s: BuildState, meta: Meta): LayerIndex {
  const { t, rows } = s;
  const n = t.mode.length; // inodes 1..n-1
  const count = rows.length;
  const chunkOffset = new Float64Array(count);
  const chunkEnd = new Float64Array(count);
  const chunkInner = new Uint32Array(count);
  const chunkFileOffset = new Float64Array(count);
  const chunkSize = new Uint32Array(count);
  const chunkIno = new Uint32Array(count);
  const chunkVerification = new Uint8Array(count);
  const chunkDigests = new Uint8Array(count * 32);
  const chunkStart = new Uint32Array(n + 1);
  const fileChunkCount = new Uint32Array(n);
  for (let i = 0; i < count; i++) fileChunkCount[rows.ino[i]]++;
  // Rows without a chunkDigest are zero here; one copy instead of a view per chunk (the copy
  // per chunk was a fifth of a cold 20k-entry parse).
  chunkDigests.set(rows.digests.bytes.subarray(0, count * 32));

  for (let i = 0; i < count; i++) {
    const ino = rows.ino[i];
    const sameFile = i + 1 < count && rows.ino[i + 1] === ino;
    const size = (sameFile ? rows.fileOffset[i + 1] : t.size[ino]) - rows.fileOffset[i];
    const declared = rows.declaredSize[i];
    if (size <= 0 || (declared !== 0 && declared !== size) || size > s.limits.maxChunkBytes) {
      fail(E.badChunk, `chunk ${i} of ${JSON.stringify(t.name[ino])} has an invalid size`);
    }
    const offset = rows.offset[i];
    if (offset >= meta.tocOffset) {
      fail(E.badChunk, `chunk ${i} offset ${offset} is not before the TOC (${meta.tocOffset})`);
    }
    if (i > 0 && offset < rows.offset[i - 1]) fail(E.badChunk, `chunk ${i} is out of blob order`);
    if (
      i > 0 &&
      offset === rows.offset[i - 1] &&
      rows.inner[i] < rows.inner[i - 1] + chunkSize[i - 1]
    ) {
      fail(E.badChunk, `chunk ${i} overlaps the previous chunk in the same gzip member`);
    }
    chunkOffset[i] = offset;
    chunkInner[i] = rows.inner[i];
    chunkFileOffset[i] = rows.fileOffset[i];
    chunkSize[i] = size;
    chunkIno[i] = ino;
    if (rows.hasDigest[i]) {
      chunkVerification[i] = ChunkVerification.chunkDigest;
    } else {
      const fileDigest = rows.fileDigests.get(i);
      if (fileDigest !== undefined && fileChunkCount[ino] === 1) {
        const bytes = Buffer.from(fileDigest.slice(7), 'hex');
        if (bytes.length !== 32) fail(E.badEntry, `digest of chunk ${i} is not valid hex`);
        chunkVerification[i] = ChunkVerification.fileDigest;
        chunkDigests.set(bytes, i * 32);
      }
    }
  }
  // Compressed end: the next larger member start (members may be shared via innerOffset), but
  // no further than the chunk's bytes can take compressed (see maxCompressedSpan).
  let end = meta.tocOffset;
  for (let i = count - 1; i >= 0; i--) {
    chunkEnd[i] = Math.min(end, chunkOffset[i] + maxCompressedSpan(chunkInner[i] + chunkSize[i]));
    if (i > 0 && chunkOffset[i - 1] < chunkOffset[i]) end = chunkOffset[i];
  }
  // Chunk ids follow TOC order and inodes are numbered in TOC order, so each file's chunks form
  // one contiguous id range: a prefix sum gives the ranges.
  for (let ino = 1; ino < n; ino++) chunkStart[ino + 1] = chunkStart[ino] + fileChunkCount[ino];
  const devMajor = new Uint32Array(n);
  const devMinor = new Uint32Array(n);
  for (const [ino, [major, minor]] of t.devices) {
    devMajor[ino] = major;
    devMinor[ino] = minor;
  }
  return new LayerIndex({
    ...meta,
    inodeCount: n - 1,
    mode: Uint32Array.from(t.mode),
    uid: Uint32Array.from(t.uid),
    gid: Uint32Array.from(t.gid),
    size: Float64Array.from(t.size),
    mtimeMs: Float64Array.from(t.mtime),
    devMajor,
    devMinor,
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

/** Sorts each directory's children by name into one CSR layout; equal neighbours are duplicates. */
function packChildren(t: TreeBuilder, n: number) {
  if (t.dropped.size > 0) t.removeDropped();
  const childStart = new Uint32Array(n + 1);
  let total = 0;
  for (let ino = 1; ino < n; ino++) {
    childStart[ino] = total;
    total += t.childNames[ino]?.length ?? 0;
  }
  childStart[n] = total;
  const childIno = new Uint32Array(total);
  const childName: string[] = new Array<string>(total);
  for (let ino = 1; ino < n; ino++) {
    const names = t.childNames[ino];
    if (!names || names.length === 0) continue;
    const inos = t.childInos[ino]!;
    let at = childStart[ino];
    if (strictlyAscending(names)) {
      // The usual case (tar writers walk directories in name order): nothing to sort, and
      // strictly ascending names hold no duplicates.
      for (let k = 0; k < names.length; k++) {
        childName[at] = names[k];
        childIno[at++] = inos[k];
      }
      continue;
    }
    const order = names.map((_, i) => i);
    order.sort((a, b) => (names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0));
    for (let k = 0; k < order.length; k++) {
      const name = names[order[k]];
      if (k > 0 && name === childName[at - 1]) {
        const path = (ino === ROOT_INO ? '' : `${pathOf(t, ino)}/`) + name;
        const types = [t.mode[childIno[at - 1]], t.mode[inos[order[k]]]].map((m) => m & S_IFMT);
        if (types.includes(S_IFLNK) && types.includes(S_IFDIR)) {
          fail(
            E.duplicateEntry,
            `${JSON.stringify(path)} is a symlink in this layer and also a directory or a path below one: a path through a symlink cannot be served from a TOC`,
          );
        }
        fail(E.duplicateEntry, `duplicate entry for ${JSON.stringify(path)}`);
      }
      childName[at] = name;
      childIno[at++] = inos[order[k]];
    }
  }
  return { childStart, childIno, childName };
}

function strictlyAscending(names: readonly string[]): boolean {
  for (let k = 1; k < names.length; k++) if (!(names[k - 1] < names[k])) return false;
  return true;
}

function pathOf(t: TreeBuilder, ino: number): string {
  const parts: string[] = [];
  for (let cur = ino; cur !== ROOT_INO; cur = t.parent[cur]) parts.push(t.name[cur]);
  return parts.reverse().join('/');
}
