// Disk cache of verified, decompressed chunks, keyed by (layer digest, chunk digest).
//
// Layout: <dir>/<layer alg>-<hex>/<chunk alg>-<hex>, one file per chunk. Files are written to a
// temporary name and renamed, so a name only ever holds complete data; a crash can at worst leave
// stray temporaries (removed at open) or, without fsync, a torn file after power loss — which is
// why every disk hit is re-verified against its digest and dropped when it does not match.
// Content-addressed names make restart reuse trivial: whatever is on disk at open() is served.
// Small chunks are the exception: those stored together go into one pack file (chunk-pack.ts;
// <dir>/<layer alg>-<hex>/pack-<random>), found at open() by reading its header, evicted and
// dropped (when one of its chunks is corrupt) as a whole.
// The start-up scan has two steps: the names (one readdir per layer directory), then the sizes
// (one lstat per file, which for hundreds of thousands of files takes seconds). With
// serveWhileIndexing, open() returns after the names: a chunk found on disk is served from then
// on, and counted once its size is known (or it is read). Eviction waits for the complete index,
// since it would go by a partial count of what is stored and take this run's chunks before the
// old ones.
//
// Eviction keeps the total under a limit: least recently used chunks of layers nobody holds go
// first, then those of layers in use. The limit is the configured cap, or less when the disk fills
// up: the cache leaves a share of its file system free (kubelet evicts pods at 10 % free by
// default), so it gives room back to the node instead of failing writes. A small memory LRU sits
// in front for hot chunks.
import { createHash, randomBytes } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { constants } from 'node:fs';
import {
  lstat,
  open,
  readdir,
  readFile,
  rename,
  rm,
  statfs,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';

import {
  ensureDirectory,
  forEachLimited,
  makeDirectory,
  removeStray,
  SILENT,
  TMP_PREFIX,
  type CacheLog,
} from './cache-dir.ts';
import {
  decodePackHeader,
  encodePack,
  isPackName,
  packHeaderBytes,
  packHeaderLength,
  PackFormatError,
  type PackEntry,
} from './chunk-pack.ts';
import { MemoryLru } from './memory-lru.ts';

const DIGEST_RE = /^(sha256|sha512):([0-9a-f]{64}|[0-9a-f]{128})$/;
/**
 * Chunk files written at once. Each write is 4–5 jobs on libuv's thread pool (mkdir, open, write,
 * close, rename); a prefetch of a thousand small files queued thousands of them in one go, and a
 * container's reads (disk reads, inflates) waited behind the whole queue. Chunks waiting for a slot
 * are served from memory meanwhile.
 */
const MAX_CONCURRENT_WRITES = 4;
/** Eviction brings the cache down to this share of its limit, so that it runs in batches. */
const EVICT_TO = 0.9;
/**
 * lstat calls the start-up scan keeps in flight: one at a time took 10–18 s for 300k files, and
 * a few dozen keep the thread pool busy without queueing the mount's own reads behind thousands.
 */
const SCAN_CONCURRENCY = 32;
/**
 * Chunks below this size go into packs by default. The cost of a chunk file is mostly its inode
 * (creating, later unlinking); 64 KiB is where writing the bytes starts to dominate.
 */
const PACK_BELOW_BYTES = 64 * 1024;
/** A pack is closed at this size or count; the next chunks start another. */
const PACK_TARGET_BYTES = 2 ** 20;
const PACK_MAX_CHUNKS = 4096;
/**
 * Packs read whole and kept, for their neighbours' reads: a pack's chunks were fetched together
 * and are mostly read together, and one read of a pack costs what one chunk's open, read and close
 * cost. Each chunk is still verified when it is served.
 */
const PACK_READ_CACHE_BYTES = 8 * 2 ** 20;
/** lastUsed of packed chunks found at open() until the scan orders them with the chunk files. */
const NOT_YET_ORDERED = -Number.MAX_SAFE_INTEGER;

export class CacheKeyError extends Error {
  override readonly name = 'CacheKeyError';
}

export interface ChunkCacheOptions {
  /** Directory owned by the cache (created if missing). */
  dir: string;
  /** Disk cap in bytes. */
  capBytes: number;
  /** Memory LRU cap in bytes (default 64 MiB; 0 disables it). */
  memoryBytes?: number;
  /** Called when a stored chunk fails re-verification (disk corruption); it is then dropped. */
  onCorrupt?: (layer: string, digest: string) => void;
  /** Called when a chunk cannot be written (disk full, I/O error); it then stays uncached. */
  onWriteError?: (layer: string, digest: string, error: NodeJS.ErrnoException) => void;
  /** Share of the cache's file system to keep free, in percent (default 10; see checkDisk). */
  minFreePercent?: number;
  /** Where the start-up scan reports entries it skipped or removed, and how long it took. */
  log?: CacheLog;
  /**
   * open() returns once the chunks on disk are known by name, before their sizes are (indexed()
   * tells when): they are served meanwhile, but the cache's usage counts them, and eviction
   * starts, only once they are indexed. Off by default: open() then returns a complete index.
   */
  serveWhileIndexing?: boolean;
  /**
   * Chunks smaller than this (sha256 ones) are written in packs, many to a file; 0 writes every
   * chunk to its own file. Default 64 KiB.
   */
  packBelowBytes?: number;
}

export interface ChunkCacheStats {
  usedBytes: number;
  capBytes: number;
  chunks: number;
  layers: number;
  memoryHits: number;
  diskHits: number;
  misses: number;
  evictedChunks: number;
  corruptChunks: number;
  writeErrors: number;
  /** What the cache may hold now: capBytes, or less when the disk is short of room. */
  limitBytes: number;
}

interface ChunkMeta {
  size: number;
  lastUsed: number;
  /** The pack holding the chunk, and where in it; absent for a chunk file. */
  pack?: Pack;
  offset?: number;
}

/** A pack file, and the chunks it was written with (those still indexed to it are served). */
interface Pack {
  dir: string;
  name: string;
  digests: string[];
}

/** Small chunks of one layer stored together: written as one pack. */
interface PackBatch {
  chunks: { digest: string; data: Buffer }[];
  bytes: number;
  written: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** A layer's batches waiting to be written; the last one takes new chunks. */
interface PackQueue {
  batches: PackBatch[];
  draining: boolean;
}

interface ScannedPack {
  layer: string;
  dir: string;
  name: string;
  mtimeMs: number;
  entries: PackEntry[];
  /** Set when indexed: what the scan orders once the chunk files' times are known. */
  pack?: Pack;
}

interface LayerMeta {
  chunks: Map<string, ChunkMeta>;
  bytes: number;
}

interface NamedChunk {
  layer: string;
  digest: string;
  /** The file's directory and name (joined only when needed: 300k joins cost 0.2 s). */
  dir: string;
  name: string;
}

interface ScannedChunk extends NamedChunk {
  size: number;
  mtimeMs: number;
}

/** What changed while the start-up scan ran: the scan's findings must not bring it back. */
interface ScanState {
  removedChunks: Set<string>;
  purgedLayers: Set<string>;
}

/** Write errors that mean "no room": the disk limit comes down to what the cache holds. */
const NO_ROOM = new Set(['ENOSPC', 'EDQUOT']);

/** "sha256:ab…" → "sha256-ab…", rejecting anything that could escape the directory. */
function fileNameOf(digest: string): string {
  const m = DIGEST_RE.exec(digest);
  if (!m) throw new CacheKeyError(`not a digest: ${JSON.stringify(digest)}`);
  return `${m[1]}-${m[2]}`;
}

function digestOfFileName(name: string): string | undefined {
  const digest = name.replace('-', ':');
  return DIGEST_RE.test(digest) ? digest : undefined;
}

/** True when `data` hashes to `digest` ("sha256:<hex>" or "sha512:<hex>"). */
export function matchesDigest(data: Uint8Array, digest: string): boolean {
  const m = DIGEST_RE.exec(digest);
  if (!m) return false;
  return createHash(m[1]).update(data).digest('hex') === m[2];
}

export class ChunkCache {
  readonly #dir: string;
  #capBytes: number;
  readonly #memory: MemoryLru;
  readonly #onCorrupt: ChunkCacheOptions['onCorrupt'];
  readonly #onWriteError: ChunkCacheOptions['onWriteError'];
  readonly #log: CacheLog;
  #minFreePercent: number;
  /** Bytes the disk leaves the cache (see checkDisk); unbounded until known. */
  #diskLimit = Infinity;
  readonly #layers = new Map<string, LayerMeta>();
  readonly #holders = new Map<string, number>();
  /** Chunks being written: served from here until the file is in place. */
  readonly #pending = new Map<string, Buffer>();
  readonly #waitingWrites: (() => void)[] = [];
  #activeWrites = 0;
  /** Layer directories known to exist (one mkdir per layer, not per chunk). */
  readonly #madeDirs = new Set<string>();
  readonly #writes = new Set<Promise<void>>();
  readonly #packBelow: number;
  readonly #packQueues = new Map<string, PackQueue>();
  readonly #packFiles = new MemoryLru(PACK_READ_CACHE_BYTES);
  /** Packs being read: concurrent readers of its chunks share one read. */
  readonly #packReads = new Map<string, Promise<Buffer>>();
  #usedBytes = 0;
  /** Logical time of last use: a counter, so that order is exact within a millisecond. */
  #clock = 0;
  #evicting: Promise<void> | undefined;
  /** Disk reads in progress: concurrent readers of a chunk share one read and one verification. */
  readonly #reading = new Map<string, Promise<Buffer | undefined>>();
  /** Set while the start-up scan runs. */
  #scan: ScanState | undefined;
  /** Chunks the scan found by name and has not sized yet: layer → chunk digests. */
  readonly #unsized = new Map<string, Set<string>>();
  #indexed: Promise<void> = Promise.resolve();
  /** Temporaries of this process: the scan, running alongside writes, must leave them alone. */
  readonly #tmpPrefix = `${TMP_PREFIX}${randomBytes(4).toString('hex')}-`;
  readonly #stats = {
    memoryHits: 0,
    diskHits: 0,
    misses: 0,
    evictedChunks: 0,
    corruptChunks: 0,
    writeErrors: 0,
  };

  private constructor(options: ChunkCacheOptions) {
    this.#dir = options.dir;
    this.#capBytes = options.capBytes;
    this.#memory = new MemoryLru(options.memoryBytes ?? 64 * 2 ** 20);
    this.#onCorrupt = options.onCorrupt;
    this.#onWriteError = options.onWriteError;
    this.#log = options.log ?? SILENT;
    this.#minFreePercent = options.minFreePercent ?? 10;
    this.#packBelow = options.packBelowBytes ?? PACK_BELOW_BYTES;
  }

  /**
   * Opens (or creates) the cache directory and indexes the chunks a previous run left there —
   * or only starts to, with serveWhileIndexing (see the top).
   */
  static async open(options: ChunkCacheOptions): Promise<ChunkCache> {
    const cache = new ChunkCache(options);
    await ensureDirectory(options.dir, cache.#log);
    await cache.checkDisk();
    const sized = await cache.#indexDisk();
    cache.#indexed = sized.done;
    if (!options.serveWhileIndexing) await cache.#indexed;
    return cache;
  }

  /** Resolves once the chunks found on disk at open() are indexed and the disk is measured. */
  indexed(): Promise<void> {
    return this.#indexed;
  }

  /** What the cache may hold now: the cap, or less when the disk is short of room. */
  get limitBytes(): number {
    return Math.min(this.#capBytes, this.#diskLimit);
  }

  /**
   * Measures the cache's file system and evicts if the disk has become short of room: the cache
   * may hold what it holds plus what is free beyond minFreePercent of the file system. The agent
   * calls this every few seconds; the disk is shared with images, logs and volumes, so the room
   * comes and goes. A failed statfs leaves the limit as it was. Before the start-up scan is done
   * that counts only the chunks indexed so far: the limit is then the room writes may take
   * meanwhile, and the check at the scan's end sets the real one.
   */
  async checkDisk(): Promise<void> {
    try {
      const fs = await statfs(this.#dir);
      const reserve = (fs.blocks * fs.bsize * this.#minFreePercent) / 100;
      this.#diskLimit = Math.max(0, Math.floor(this.#usedBytes + fs.bavail * fs.bsize - reserve));
    } catch {
      return;
    }
    await this.#evictIfNeeded();
  }

  /**
   * Whether `bytes` more can be stored without evicting chunks of layers in use (what the
   * background fetch asks before each batch: on a cache smaller than the images in use it would
   * otherwise evict the containers' own working set to make room for the rest of their images).
   * The caller counts what it has on the way.
   */
  roomFor(bytes: number): boolean {
    let held = 0;
    for (const layer of this.#holders.keys()) held += this.#layers.get(layer)?.bytes ?? 0;
    return held + bytes <= this.limitBytes * EVICT_TO;
  }

  /**
   * Finds the chunks on disk by name (servable from then on: see #unsized), then, in `done`,
   * takes their sizes and indexes them.
   */
  async #indexDisk(): Promise<{ done: Promise<void> }> {
    const startedAt = performance.now();
    this.#scan = { removedChunks: new Set(), purgedLayers: new Set() };
    let named: NamedChunk[] = [];
    let packs: ScannedPack[] = [];
    try {
      ({ named, packs } = await this.#scanNames());
    } catch (e) {
      // Only the top directory's readdir gets here: the cache runs with what it writes from now.
      this.#log.warn({ dir: this.#dir, err: (e as Error).message }, 'cache: cannot scan');
    }
    for (const c of named) {
      let digests = this.#unsized.get(c.layer);
      if (!digests) this.#unsized.set(c.layer, (digests = new Set()));
      digests.add(c.digest);
    }
    // A pack's header gives its chunks' sizes: they are indexed at once.
    for (const p of packs) await this.#indexScannedPack(p);
    const namesMs = Math.round(performance.now() - startedAt);
    const done = (async () => {
      try {
        this.#indexScanned(await this.#sizes(named), packs);
      } finally {
        this.#scan = undefined;
        this.#unsized.clear();
      }
      const { chunks, usedBytes } = this.stats();
      const ms = Math.round(performance.now() - startedAt);
      this.#log.info({ chunks, usedBytes, namesMs, ms }, 'cache: indexed the chunks on disk');
      await this.checkDisk();
    })();
    return { done };
  }

  /**
   * The chunk files on disk, by name, and the packs with their headers read; what is not ours by
   * name, not a regular file or not a whole pack goes.
   */
  async #scanNames(): Promise<{ named: NamedChunk[]; packs: ScannedPack[] }> {
    const candidates: NamedChunk[] = [];
    const packs: ScannedPack[] = [];
    const layerDirs: { layer: string; path: string }[] = [];
    for (const entry of await readdir(this.#dir, { withFileTypes: true })) {
      const path = join(this.#dir, entry.name);
      const layer = digestOfFileName(entry.name);
      if (!layer) {
        await removeStray(path, 'not a layer directory', this.#log);
      } else if (!entry.isDirectory()) {
        await removeStray(path, 'not a directory', this.#log);
      } else layerDirs.push({ layer, path });
    }
    // A few directories at a time: the start of a big cache waits for this step.
    await forEachLimited(layerDirs, 8, async ({ layer, path }) => {
      const found = await this.#chunkFiles(path);
      for (const [digest, name] of found.files) {
        candidates.push({ layer, digest, dir: path, name });
      }
      for (const name of found.packs) {
        const read = await readPackHeader(join(path, name)).catch((e: unknown) => e as Error);
        if (!(read instanceof Error)) packs.push({ layer, dir: path, name, ...read });
        else if (isNotAPack(read)) await removeStray(join(path, name), read.message, this.#log);
        // Anything else (EACCES, EMFILE, EIO) may pass: the pack stays, unserved this run.
        else this.#log.warn({ path: join(path, name), err: read.message }, 'cache: cannot read');
      }
    });
    return { named: candidates, packs };
  }

  /** Indexes the chunks of a pack found at open(), unless stored elsewhere too. */
  async #indexScannedPack(scanned: ScannedPack): Promise<void> {
    const pack: Pack = { dir: scanned.dir, name: scanned.name, digests: [] };
    for (const e of scanned.entries) {
      if (this.#isStored(scanned.layer, e.digest)) continue;
      this.#index(scanned.layer, e.digest, e.length, NOT_YET_ORDERED, { pack, offset: e.offset });
    }
    if (pack.digests.length > 0) scanned.pack = pack;
    else await unlink(join(pack.dir, pack.name)).catch(() => undefined); // nothing new in it
  }

  /**
   * Sizes come from one lstat per file, many at a time (see SCAN_CONCURRENCY). lstat, and the
   * type checked again: the entry may have changed since readdir.
   */
  async #sizes(candidates: readonly NamedChunk[]): Promise<ScannedChunk[]> {
    const found: ScannedChunk[] = [];
    await forEachLimited(candidates, SCAN_CONCURRENCY, async (c) => {
      const info = await lstat(join(c.dir, c.name)).catch(() => undefined);
      if (info?.isFile()) found.push({ ...c, size: info.size, mtimeMs: info.mtimeMs });
    });
    return found;
  }

  /**
   * Digest → name of the chunk files in a layer directory, and the names of its packs, removing
   * what is neither.
   */
  async #chunkFiles(layerDir: string): Promise<{ files: Map<string, string>; packs: string[] }> {
    const files = new Map<string, string>();
    const packs: string[] = [];
    let entries: Dirent[];
    try {
      entries = await readdir(layerDir, { withFileTypes: true });
    } catch (e) {
      this.#log.warn({ path: layerDir, err: (e as Error).message }, 'cache: cannot read');
      return { files, packs };
    }
    for (const entry of entries) {
      const digest = digestOfFileName(entry.name);
      if (digest && entry.isFile()) {
        files.set(digest, entry.name);
        continue;
      }
      if (isPackName(entry.name) && entry.isFile()) {
        packs.push(entry.name);
        continue;
      }
      const path = join(layerDir, entry.name);
      if (entry.name.startsWith(this.#tmpPrefix)) {
        continue; // a write of this process, in progress
      } else if (entry.name.startsWith(TMP_PREFIX)) {
        await rm(path, { force: true, recursive: true }).catch(() => undefined); // a crashed write
      } else if (!digest && !isPackName(entry.name)) {
        await removeStray(path, 'not a chunk', this.#log);
      } else {
        await removeStray(path, 'not a regular file', this.#log);
      }
    }
    return { files, packs };
  }

  /**
   * Indexes what the scan found, older than anything used since open() (mtime is the last write:
   * good enough to order the chunks a previous run left). Chunks stored, removed or purged while
   * the scan ran are as this run left them.
   */
  #indexScanned(found: ScannedChunk[], packs: ScannedPack[]): void {
    const scan = this.#scan!;
    const items = [
      ...found.map((file) => ({ mtimeMs: file.mtimeMs, file })),
      ...packs.map((pack) => ({ mtimeMs: pack.mtimeMs, pack })),
    ].sort((a, b) => a.mtimeMs - b.mtimeMs);
    items.forEach((item, i) => {
      const lastUsed = i - items.length;
      if ('pack' in item) {
        this.#orderPack(item.pack, lastUsed);
        return;
      }
      const f = item.file;
      const stale =
        scan.purgedLayers.has(f.layer) || scan.removedChunks.has(`${f.layer}/${f.digest}`);
      if (stale || this.#isIndexed(f.layer, f.digest)) return;
      this.#index(f.layer, f.digest, f.size, lastUsed);
    });
  }

  /** Gives a pack's chunks found at open(), and not used since, the pack's place in the order. */
  #orderPack(scanned: ScannedPack, lastUsed: number): void {
    const chunks = this.#layers.get(scanned.layer)?.chunks;
    for (const digest of scanned.pack?.digests ?? []) {
      const chunk = chunks?.get(digest);
      if (chunk && chunk.pack === scanned.pack && chunk.lastUsed === NOT_YET_ORDERED) {
        chunk.lastUsed = lastUsed;
      }
    }
  }

  #index(
    layer: string,
    digest: string,
    size: number,
    lastUsed: number,
    packed?: { pack: Pack; offset: number },
  ): void {
    let meta = this.#layers.get(layer);
    if (!meta) {
      meta = { chunks: new Map(), bytes: 0 };
      this.#layers.set(layer, meta);
    }
    const old = meta.chunks.get(digest);
    if (old) {
      this.#usedBytes -= old.size;
      meta.bytes -= old.size;
    }
    meta.chunks.set(digest, { size, lastUsed, ...packed });
    packed?.pack.digests.push(digest);
    this.#usedBytes += size;
    meta.bytes += size;
  }

  #unindex(layer: string, digest: string): void {
    const meta = this.#layers.get(layer);
    const chunk = meta?.chunks.get(digest);
    if (!meta || !chunk) return;
    meta.chunks.delete(digest);
    this.#usedBytes -= chunk.size;
    meta.bytes -= chunk.size;
    if (meta.chunks.size === 0) this.#layers.delete(layer);
  }

  #path(layer: string, digest: string): string {
    return join(this.#dir, fileNameOf(layer), fileNameOf(digest));
  }

  /**
   * Whether get() would find the chunk: on disk, being written, or in memory only (a chunk the
   * disk could not take). The fetcher asks this to decide what to fetch; answering only for the
   * disk made every read of a memory-only chunk go to the registry again. The memory LRU may drop
   * the chunk before the get() that follows: get() then returns undefined and has() turns false,
   * so a caller that fetches what get() missed makes progress.
   */
  has(layer: string, digest: string): boolean {
    return this.#isStored(layer, digest) || this.#memory.has(`${layer}/${digest}`);
  }

  /** On disk, or on its way there. */
  #isStored(layer: string, digest: string): boolean {
    return this.#isIndexed(layer, digest) || (this.#unsized.get(layer)?.has(digest) ?? false);
  }

  /** On disk and counted, or on its way there. */
  #isIndexed(layer: string, digest: string): boolean {
    return (
      (this.#layers.get(layer)?.chunks.has(digest) ?? false) ||
      this.#pending.has(`${layer}/${digest}`)
    );
  }

  /**
   * A chunk the scan found by name and has not sized, now read or stored again: indexed as
   * used now (the scan then leaves it alone).
   */
  #sized(layer: string, digest: string, size: number): void {
    if (this.#forgetUnsized(layer, digest)) this.#index(layer, digest, size, ++this.#clock);
  }

  /** Takes a chunk off the not-yet-sized list; whether it was on it. */
  #forgetUnsized(layer: string, digest: string): boolean {
    const digests = this.#unsized.get(layer);
    if (!digests?.delete(digest)) return false;
    if (digests.size === 0) this.#unsized.delete(layer);
    return true;
  }

  /** The chunk's verified bytes, or undefined when it is not cached (or was found corrupt). */
  async get(layer: string, digest: string): Promise<Buffer | undefined> {
    const key = `${layer}/${digest}`;
    const hot = this.#memory.get(key) ?? this.#pending.get(key);
    if (hot) {
      this.#stats.memoryHits++;
      this.#touch(layer, digest);
      return hot;
    }
    if (!this.#isStored(layer, digest)) {
      this.#stats.misses++;
      return undefined;
    }
    let reading = this.#reading.get(key);
    if (!reading) {
      reading = this.#readVerified(layer, digest).finally(() => this.#reading.delete(key));
      this.#reading.set(key, reading);
    }
    const data = await reading;
    if (data) {
      this.#stats.diskHits++;
      this.#touch(layer, digest);
    } else {
      this.#stats.misses++;
    }
    return data;
  }

  /** One disk read and verification, shared by concurrent get()s: a corrupt file counts once. */
  async #readVerified(layer: string, digest: string): Promise<Buffer | undefined> {
    const chunk = this.#layers.get(layer)?.chunks.get(digest);
    let data: Buffer;
    try {
      data = chunk?.pack
        ? await this.#fromPack(chunk.pack, chunk.offset!, chunk.size)
        : await readFile(this.#path(layer, digest));
    } catch {
      // Evicted or removed underneath us.
      if (chunk?.pack) this.#unindexPack(layer, chunk.pack);
      else this.#unindex(layer, digest);
      this.#forgetUnsized(layer, digest);
      return undefined;
    }
    if (!matchesDigest(data, digest)) {
      this.#stats.corruptChunks++;
      this.#onCorrupt?.(layer, digest);
      await this.#remove(layer, digest);
      return undefined;
    }
    this.#sized(layer, digest, data.length);
    this.#memory.set(`${layer}/${digest}`, data);
    return data;
  }

  #touch(layer: string, digest: string): void {
    const chunk = this.#layers.get(layer)?.chunks.get(digest);
    if (chunk) chunk.lastUsed = ++this.#clock;
  }

  /**
   * Stores a chunk. The caller must have verified `data` against `digest` (the fetch pipeline
   * does; hashing twice would cost throughput). Disk reads are re-verified in get() anyway. A
   * chunk larger than the limit, or whose write fails, is kept in memory only (when hot), for as
   * long as the memory LRU holds it.
   */
  async put(
    layer: string,
    digest: string,
    data: Buffer,
    options: { hot?: boolean } = {},
  ): Promise<void> {
    const path = this.#path(layer, digest);
    const key = `${layer}/${digest}`;
    if (options.hot !== false) this.#memory.set(key, data);
    if (this.#isStored(layer, digest)) {
      this.#sized(layer, digest, data.length);
      this.#touch(layer, digest);
      return;
    }
    // A full disk (limit 0) would fail the write anyway; a chunk above the limit would go at once.
    if (data.length > this.limitBytes) return;
    this.#pending.set(key, data);
    const packed = data.length < this.#packBelow && digest.startsWith('sha256:');
    const stored = packed
      ? this.#packed(layer, digest, data)
      : this.#throttled(() => this.#write(layer, digest, path, data));
    const write = stored.finally(() => {
      this.#pending.delete(key);
      this.#writes.delete(write);
    });
    this.#writes.add(write);
    await write;
    await this.#evictIfNeeded();
  }

  /** Waits for the writes and eviction in progress (before shutdown, or reopening the directory). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#writes]);
    await this.#evicting;
  }

  async #throttled<T>(work: () => Promise<T>): Promise<T> {
    if (this.#activeWrites < MAX_CONCURRENT_WRITES) this.#activeWrites++;
    else await new Promise<void>((resolve) => this.#waitingWrites.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.#waitingWrites.shift();
      if (next)
        next(); // the slot passes on
      else this.#activeWrites--;
    }
  }

  async #write(layer: string, digest: string, path: string, data: Buffer): Promise<void> {
    try {
      await this.#writeAtomically(join(this.#dir, fileNameOf(layer)), path, data);
    } catch (e) {
      this.#writeFailed(layer, digest, e as NodeJS.ErrnoException);
      throw e;
    }
    this.#index(layer, digest, data.length, ++this.#clock);
  }

  /** Writes `path` in the layer directory `dir` through a temporary and a rename. */
  async #writeAtomically(dir: string, path: string, data: Buffer): Promise<void> {
    if (!this.#madeDirs.has(dir)) {
      await makeDirectory(dir, 0o700);
      this.#madeDirs.add(dir);
    }
    const tmp = join(dir, `${this.#tmpPrefix}${randomBytes(8).toString('hex')}`);
    try {
      await writeFile(tmp, data, { mode: 0o600 }).catch(async (e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw e;
        await makeDirectory(dir, 0o700); // removed meanwhile (purgeLayer)
        await writeFile(tmp, data, { mode: 0o600 });
      });
      await rename(tmp, path);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
  }

  /**
   * Queues a small chunk for the layer's next pack; resolves once the pack holding it is written.
   * Group commit: while one pack of the layer is being written, the chunks that arrive meanwhile
   * gather into the next, so a burst of small chunks takes a few files, and a lone chunk does not
   * wait for company.
   */
  #packed(layer: string, digest: string, data: Buffer): Promise<void> {
    let queue = this.#packQueues.get(layer);
    if (!queue) this.#packQueues.set(layer, (queue = { batches: [], draining: false }));
    let batch = queue.batches.at(-1);
    const full =
      batch &&
      (batch.bytes + data.length > PACK_TARGET_BYTES || batch.chunks.length >= PACK_MAX_CHUNKS);
    if (!batch || full) queue.batches.push((batch = newBatch()));
    batch.chunks.push({ digest, data });
    batch.bytes += data.length;
    if (!queue.draining) {
      queue.draining = true;
      // After this turn of the event loop: the chunks of one response decoded together share it.
      setImmediate(() => void this.#drainPacks(layer, queue));
    }
    return batch.written;
  }

  async #drainPacks(layer: string, queue: PackQueue): Promise<void> {
    for (let batch = queue.batches.shift(); batch; batch = queue.batches.shift()) {
      const { chunks } = batch;
      await this.#throttled(() => this.#writePack(layer, chunks)).then(batch.resolve, batch.reject);
    }
    queue.draining = false;
    this.#packQueues.delete(layer);
  }

  async #writePack(layer: string, chunks: { digest: string; data: Buffer }[]): Promise<void> {
    const dir = join(this.#dir, fileNameOf(layer));
    const pack: Pack = { dir, name: `pack-${randomBytes(8).toString('hex')}`, digests: [] };
    try {
      await this.#writeAtomically(dir, join(dir, pack.name), encodePack(chunks));
    } catch (e) {
      for (const c of chunks) this.#writeFailed(layer, c.digest, e as NodeJS.ErrnoException);
      throw e;
    }
    let offset = packHeaderBytes(chunks.length);
    for (const { digest, data } of chunks) {
      this.#index(layer, digest, data.length, ++this.#clock, { pack, offset });
      offset += data.length;
    }
  }

  /** A full disk lowers the limit to what is stored now, and eviction makes room from there. */
  #writeFailed(layer: string, digest: string, error: NodeJS.ErrnoException): void {
    this.#stats.writeErrors++;
    this.#onWriteError?.(layer, digest, error);
    if (error.code !== undefined && NO_ROOM.has(error.code)) {
      this.#diskLimit = Math.min(this.#diskLimit, this.#usedBytes);
      void this.#evictIfNeeded(true);
    }
  }

  /** Marks a layer as in use: its chunks are evicted only after those of unused layers. */
  retain(layer: string): void {
    this.#holders.set(layer, (this.#holders.get(layer) ?? 0) + 1);
  }

  release(layer: string): void {
    const n = (this.#holders.get(layer) ?? 0) - 1;
    if (n > 0) this.#holders.set(layer, n);
    else this.#holders.delete(layer);
  }

  /** Bytes of `layer` that are cached (for "fully local" reporting). */
  layerBytes(layer: string): number {
    return this.#layers.get(layer)?.bytes ?? 0;
  }

  async setCap(capBytes: number, minFreePercent = this.#minFreePercent): Promise<void> {
    this.#capBytes = capBytes;
    this.#minFreePercent = minFreePercent;
    await this.checkDisk();
  }

  /** Removes every chunk of `layer` from disk and memory. */
  async purgeLayer(layer: string): Promise<void> {
    this.#scan?.purgedLayers.add(layer);
    this.#unsized.delete(layer);
    const meta = this.#layers.get(layer);
    if (meta) this.#usedBytes -= meta.bytes;
    this.#layers.delete(layer);
    this.#memory.deletePrefix(`${layer}/`);
    this.#madeDirs.delete(join(this.#dir, fileNameOf(layer)));
    await rm(join(this.#dir, fileNameOf(layer)), { recursive: true, force: true });
  }

  stats(): ChunkCacheStats {
    let chunks = 0;
    for (const meta of this.#layers.values()) chunks += meta.chunks.size;
    return {
      usedBytes: this.#usedBytes,
      capBytes: this.#capBytes,
      limitBytes: this.limitBytes,
      chunks,
      layers: this.#layers.size,
      ...this.#stats,
    };
  }

  /** Removes a chunk from disk and memory, with the rest of its pack; how many chunks went. */
  async #remove(layer: string, digest: string): Promise<number> {
    const pack = this.#layers.get(layer)?.chunks.get(digest)?.pack;
    if (pack) {
      const removed = this.#unindexPack(layer, pack);
      await unlink(join(pack.dir, pack.name)).catch(() => undefined);
      return removed;
    }
    this.#scan?.removedChunks.add(`${layer}/${digest}`);
    this.#unindex(layer, digest);
    this.#forgetUnsized(layer, digest);
    this.#memory.delete(`${layer}/${digest}`);
    await unlink(this.#path(layer, digest)).catch(() => undefined);
    return 1;
  }

  /**
   * A copy of `length` bytes of a pack from `offset` (fewer when the file is shorter, which
   * verification then refuses). A copy: a slice would keep the whole pack alive in the memory LRU.
   */
  async #fromPack(pack: Pack, offset: number, length: number): Promise<Buffer> {
    const path = join(pack.dir, pack.name);
    let whole = this.#packFiles.get(path);
    if (!whole) {
      let reading = this.#packReads.get(path);
      if (!reading) {
        reading = readFile(path).finally(() => this.#packReads.delete(path));
        this.#packReads.set(path, reading);
      }
      whole = await reading;
      this.#packFiles.set(path, whole);
    }
    return Buffer.from(whole.subarray(offset, offset + length));
  }

  /** Forgets the chunks served from `pack`; how many there were. */
  #unindexPack(layer: string, pack: Pack): number {
    this.#packFiles.delete(join(pack.dir, pack.name));
    let removed = 0;
    for (const digest of pack.digests) {
      if (this.#layers.get(layer)?.chunks.get(digest)?.pack !== pack) continue;
      this.#unindex(layer, digest);
      this.#memory.delete(`${layer}/${digest}`);
      removed++;
    }
    return removed;
  }

  /**
   * Evicts down to 90 % of the limit once the limit is exceeded (batches amortise the sort), or at
   * once when `now` (the disk is full: the limit is what is stored).
   */
  async #evictIfNeeded(now = false): Promise<void> {
    // Before the scan is done the oldest chunks are not indexed yet: evicting then would take
    // this run's chunks instead. The disk check after the scan evicts if needed.
    if (this.#scan) return;
    if (!now && this.#usedBytes <= this.limitBytes) return;
    if (this.#evicting) return this.#evicting;
    this.#evicting = this.#evict().finally(() => (this.#evicting = undefined));
    return this.#evicting;
  }

  async #evict(): Promise<void> {
    const target = Math.floor(this.limitBytes * EVICT_TO);
    const candidates: { layer: string; digest: string; held: boolean; lastUsed: number }[] = [];
    for (const [layer, meta] of this.#layers) {
      const held = this.#holders.has(layer);
      for (const [digest, c] of meta.chunks)
        candidates.push({ layer, digest, held, lastUsed: c.lastUsed });
    }
    candidates.sort((a, b) => Number(a.held) - Number(b.held) || a.lastUsed - b.lastUsed);
    for (const c of candidates) {
      if (this.#usedBytes <= target) break;
      if (!this.#layers.get(c.layer)?.chunks.has(c.digest)) continue; // gone with its pack
      this.#stats.evictedChunks += await this.#remove(c.layer, c.digest);
    }
    // Emptied layer directories stay: removing them would race with a concurrent put() into them.
  }
}

function newBatch(): PackBatch {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const written = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Every put() of the batch awaits it; none of them may leave its failure unhandled.
  written.catch(() => undefined);
  return { chunks: [], bytes: 0, written, resolve, reject };
}

/** The file is not a pack we wrote (a torn or foreign file, a symlink in its place). */
const isNotAPack = (e: Error): boolean =>
  e instanceof PackFormatError || (e as NodeJS.ErrnoException).code === 'ELOOP';

/**
 * A pack's chunks and time, from its header. Opened without following links and without
 * blocking, so that a FIFO or a link put in its place cannot hang or redirect the scan.
 */
async function readPackHeader(path: string): Promise<{ entries: PackEntry[]; mtimeMs: number }> {
  const file = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const info = await file.stat();
    if (!info.isFile()) throw new PackFormatError('not a pack (not a regular file)');
    const start = Buffer.alloc(12);
    await file.read(start, 0, start.length, 0);
    const length = packHeaderLength(start);
    if (length > info.size) throw new PackFormatError('pack header cut short');
    const header = Buffer.alloc(length);
    await file.read(header, 0, length, 0);
    return { entries: decodePackHeader(header, info.size), mtimeMs: info.mtimeMs };
  } finally {
    await file.close();
  }
}
