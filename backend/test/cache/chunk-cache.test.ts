import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lstat, readdir, readFile, writeFile, mkdir, rm, statfs, symlink } from 'node:fs/promises';
import { join } from 'node:path';

import { CacheKeyError, ChunkCache } from '../../src/cache/chunk-cache.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';
import { mountTmpfs, type Tmpfs } from '../support/tmpfs.ts';

/** Caches here keep no share of the disk free: a test must not depend on how full it is. */
const NOT_THE_DISK = 0;
/** For the tests of chunk files: every chunk in its own file, however small. */
const NO_PACKS = 0;

const digestOf = (data: Buffer): string =>
  `sha256:${createHash('sha256').update(data).digest('hex')}`;
const layerA = `sha256:${'a'.repeat(64)}`;
const layerB = `sha256:${'b'.repeat(64)}`;

function chunk(size = 1000): { data: Buffer; digest: string } {
  const data = randomBytes(size);
  return { data, digest: digestOf(data) };
}

const fileName = (digest: string): string => digest.replace(':', '-');

/** Opens a cache and waits until it has indexed what is on disk. */
async function openIndexed(options: Parameters<typeof ChunkCache.open>[0]): Promise<ChunkCache> {
  const cache = await ChunkCache.open(options);
  await cache.indexed();
  return cache;
}

describe('ChunkCache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('cache');
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  it('stores chunks and a reopened cache serves them from disk without the memory cache', async () => {
    const c = chunk();
    const cache = await ChunkCache.open({ dir, minFreePercent: NOT_THE_DISK, capBytes: 1e6 });
    expect(await cache.get(layerA, c.digest)).toBeUndefined();
    await cache.put(layerA, c.digest, c.data);
    expect((await cache.get(layerA, c.digest))?.equals(c.data)).toBe(true);
    expect(cache.stats()).toMatchObject({ usedBytes: 1000, chunks: 1, memoryHits: 1, misses: 1 });

    const reopened = await openIndexed({
      dir,
      minFreePercent: NOT_THE_DISK,
      capBytes: 1e6,
      memoryBytes: 0,
    });
    expect(reopened.has(layerA, c.digest)).toBe(true);
    expect((await reopened.get(layerA, c.digest))?.equals(c.data)).toBe(true);
    expect(reopened.stats()).toMatchObject({ usedBytes: 1000, diskHits: 1 });
  });

  it('drops a chunk whose file was corrupted on disk instead of serving it', async () => {
    const c = chunk();
    const corrupt: string[] = [];
    const first = await ChunkCache.open({
      dir,
      minFreePercent: NOT_THE_DISK,
      capBytes: 1e6,
      packBelowBytes: NO_PACKS,
    });
    await first.put(layerA, c.digest, c.data);
    const file = join(dir, layerA.replace(':', '-'), c.digest.replace(':', '-'));
    const bytes = await readFile(file);
    bytes[10] ^= 0xff;
    await writeFile(file, bytes);

    const cache = await openIndexed({
      dir,
      minFreePercent: NOT_THE_DISK,
      capBytes: 1e6,
      memoryBytes: 0,
      onCorrupt: (_layer, digest) => corrupt.push(digest),
    });
    // Concurrent readers share one read and verification: the corruption counts once.
    const reads = await Promise.all([1, 2, 3, 4].map(() => cache.get(layerA, c.digest)));
    expect(reads).toEqual([undefined, undefined, undefined, undefined]);
    expect(corrupt).toEqual([c.digest]);
    expect(cache.has(layerA, c.digest)).toBe(false);
    expect(cache.stats().corruptChunks).toBe(1);
    expect(await readdir(join(dir, layerA.replace(':', '-')))).toEqual([]);
  });

  it('evicts chunks of released layers before those of layers in use, least recent first', async () => {
    const cache = await ChunkCache.open({
      dir,
      minFreePercent: NOT_THE_DISK,
      capBytes: 10_000,
      memoryBytes: 0,
    });
    cache.retain(layerA);
    const a = Array.from({ length: 4 }, () => chunk());
    const b = Array.from({ length: 4 }, () => chunk());
    for (const c of a) await cache.put(layerA, c.digest, c.data);
    for (const c of b) await cache.put(layerB, c.digest, c.data);
    // 8000 bytes used; touching b[0] makes it the most recent of the released layer.
    await cache.get(layerB, b[0].digest);
    const extra = chunk(3000);
    await cache.put(layerA, extra.digest, extra.data);
    // 11000 > cap → evict down to 9000: two of B's chunks, oldest first (b[1], b[2]).
    expect(cache.stats().usedBytes).toBeLessThanOrEqual(9000);
    expect(a.every((c) => cache.has(layerA, c.digest))).toBe(true);
    expect(cache.has(layerB, b[0].digest)).toBe(true);
    expect(cache.has(layerB, b[1].digest)).toBe(false);
    expect(cache.has(layerB, b[2].digest)).toBe(false);
    expect(cache.stats().evictedChunks).toBe(2);

    cache.release(layerA);
    await cache.setCap(2000);
    expect(cache.stats().usedBytes).toBeLessThanOrEqual(1800);
  });

  it('has room for what fits beside the layers in use; released layers can be evicted', async () => {
    const cache = await ChunkCache.open({
      dir,
      minFreePercent: NOT_THE_DISK,
      capBytes: 10_000,
      memoryBytes: 0,
    });
    cache.retain(layerA);
    for (let i = 0; i < 4; i++) {
      const c = chunk();
      await cache.put(layerA, c.digest, c.data);
    }
    for (let i = 0; i < 4; i++) {
      const c = chunk();
      await cache.put(layerB, c.digest, c.data); // released: not counted
    }
    // 4000 held; room up to 90 % of the cap.
    expect(cache.roomFor(5000)).toBe(true);
    expect(cache.roomFor(5001)).toBe(false);
    cache.release(layerA);
    expect(cache.roomFor(9000)).toBe(true);
  });

  it('keeps a chunk larger than its limit in memory only, without trying the disk', async () => {
    const cache = await openIndexed({ dir, minFreePercent: NOT_THE_DISK, capBytes: 1000 });
    const big = chunk(2000);
    await cache.put(layerA, big.digest, big.data);
    // has() answers for memory too: the fetcher asks it, and would fetch the chunk on every read.
    expect(cache.has(layerA, big.digest)).toBe(true);
    expect((await cache.get(layerA, big.digest))?.equals(big.data)).toBe(true);
    expect(await readdir(dir)).toEqual([]);
    expect(cache.stats()).toMatchObject({ usedBytes: 0, writeErrors: 0, evictedChunks: 0 });
  });

  it('forgets a memory-only chunk the memory cache dropped: has() then says so', async () => {
    const cache = await openIndexed({
      dir,
      minFreePercent: NOT_THE_DISK,
      capBytes: 1000,
      memoryBytes: 8000,
    });
    const first = chunk(2000);
    await cache.put(layerA, first.digest, first.data);
    expect(cache.has(layerA, first.digest)).toBe(true);
    for (let i = 0; i < 4; i++) {
      const other = chunk(2000); // pushes `first` out of the memory LRU
      await cache.put(layerA, other.digest, other.data);
    }
    // What a caller that saw has() true before the drop gets: a miss, and has() false after it,
    // so that fetching what get() missed ends the loop.
    expect(await cache.get(layerA, first.digest)).toBeUndefined();
    expect(cache.has(layerA, first.digest)).toBe(false);
    // Stored with hot: false and not writable: kept nowhere, and has() says so.
    const cold = chunk(2000);
    await cache.put(layerA, cold.digest, cold.data, { hot: false });
    expect(cache.has(layerA, cold.digest)).toBe(false);
  });

  it('writes a chunk to disk although it is already in memory', async () => {
    const cache = await openIndexed({ dir, minFreePercent: NOT_THE_DISK, capBytes: 1e6 });
    const c = chunk();
    await cache.put(layerA, c.digest, c.data);
    await cache.put(layerA, c.digest, c.data);
    expect(await readdir(join(dir, fileName(layerA)))).toEqual([
      expect.stringMatching(/^pack-[0-9a-f]{16}$/),
    ]);
    expect(cache.stats()).toMatchObject({ chunks: 1, usedBytes: 1000 });
  });

  describe('on a small file system', () => {
    let fs: Tmpfs;
    beforeEach(async () => {
      fs = await mountTmpfs(join(dir, 'fs'), 1 << 20);
    });
    afterEach(async () => {
      await fs.unmount();
    });

    /** Writes a file that takes all but `leave` bytes of the file system's free room. */
    async function fill(name: string, leave: number): Promise<void> {
      const st = await statfs(fs.path);
      await writeFile(join(fs.path, name), Buffer.alloc(Math.max(0, st.bavail * st.bsize - leave)));
    }

    it('a write that finds the disk full is counted, served from memory, and makes room', async () => {
      const errors: string[] = [];
      const cache = await ChunkCache.open({
        dir: join(fs.path, 'cache'),
        capBytes: 1e9,
        minFreePercent: 0,
        onWriteError: (_layer, _digest, e) => errors.push(e.code ?? ''),
      });
      expect(cache.stats().limitBytes).toBeLessThanOrEqual(1 << 20);
      const released = chunk(100_000);
      await cache.put(layerB, released.digest, released.data);
      cache.retain(layerA);
      await fill('someone-else', 8192); // another user of the disk takes the rest
      const c = chunk(50_000);
      await expect(cache.put(layerA, c.digest, c.data)).rejects.toMatchObject({ code: 'ENOSPC' });
      expect(errors).toEqual(['ENOSPC']);
      expect(cache.stats().writeErrors).toBe(1);
      expect(cache.has(layerA, c.digest)).toBe(true); // the fetcher must not fetch it again
      expect((await cache.get(layerA, c.digest))?.equals(c.data)).toBe(true); // memory
      // The limit came down to what was stored; eviction took the released layer's chunk.
      expect(cache.stats().limitBytes).toBeLessThanOrEqual(100_000);
      await cache.flush();
      expect(cache.has(layerB, released.digest)).toBe(false);
      await cache.put(layerA, c.digest, c.data); // the freed room takes it now
      expect(cache.has(layerA, c.digest)).toBe(true);
    });

    it('keeps minFreePercent of its file system free, and gives room back as the disk fills', async () => {
      const cache = await ChunkCache.open({
        dir: join(fs.path, 'cache'),
        capBytes: 1e9,
        minFreePercent: 50,
        memoryBytes: 0,
      });
      const limit = cache.stats().limitBytes;
      expect(limit).toBeGreaterThan(400_000);
      expect(limit).toBeLessThanOrEqual(512 * 1024);
      for (let i = 0; i < 8; i++) {
        const c = chunk(100_000);
        await cache.put(layerB, c.digest, c.data);
      }
      expect(cache.stats().usedBytes).toBeLessThanOrEqual(limit);
      expect(cache.stats().evictedChunks).toBeGreaterThan(0);
      expect(cache.stats().writeErrors).toBe(0);

      await writeFile(join(fs.path, 'someone-else'), Buffer.alloc(300_000));
      await cache.checkDisk();
      const { usedBytes, limitBytes } = cache.stats();
      expect(limitBytes).toBeLessThan(limit - 250_000);
      expect(usedBytes).toBeLessThanOrEqual(limitBytes);
      const st = await statfs(fs.path);
      expect(st.bavail * st.bsize).toBeGreaterThanOrEqual((st.blocks * st.bsize) / 2 - 8192);
    });
  });

  it('removes temporaries of an interrupted write at open and rejects malformed keys', async () => {
    const layerDir = join(dir, layerA.replace(':', '-'));
    await mkdir(layerDir, { recursive: true });
    await writeFile(join(layerDir, '.tmp-deadbeef'), 'partial');
    const cache = await openIndexed({ dir, minFreePercent: NOT_THE_DISK, capBytes: 1e6 });
    expect(await readdir(layerDir)).toEqual([]);
    expect(cache.stats().chunks).toBe(0);
    await expect(cache.put('../../etc', 'sha256:00', Buffer.from('x'))).rejects.toThrow(
      CacheKeyError,
    );
  });

  describe('with entries it did not write', () => {
    const layerDir = join('', fileName(layerA));
    const chunkName = fileName(`sha256:${'c'.repeat(64)}`);

    it('starts, removing what is named like a layer but is no directory', async () => {
      const c = chunk();
      await mkdir(join(dir, fileName(layerB)), { recursive: true });
      await writeFile(join(dir, fileName(layerB), fileName(c.digest)), c.data);
      await writeFile(join(dir, layerDir), 'a stray file');
      await symlink('nowhere', join(dir, fileName(`sha256:${'d'.repeat(64)}`)));
      const cache = await openIndexed({ dir, minFreePercent: NOT_THE_DISK, capBytes: 1e6 });
      expect(cache.has(layerB, c.digest)).toBe(true);
      expect((await readdir(dir)).sort()).toEqual([fileName(layerB)]);
      expect(cache.stats()).toMatchObject({ chunks: 1, usedBytes: 1000 });
    });

    it('starts, removing what is named like a chunk but is no regular file', async () => {
      const c = chunk();
      await mkdir(join(dir, layerDir, chunkName), { recursive: true }); // a directory
      await writeFile(join(dir, layerDir, fileName(c.digest)), c.data);
      const dangling = fileName(`sha256:${'e'.repeat(64)}`);
      const looping = fileName(`sha256:${'f'.repeat(64)}`);
      await symlink('nowhere', join(dir, layerDir, dangling));
      await symlink(looping, join(dir, layerDir, looping)); // ELOOP when followed
      const warnings: object[] = [];
      const log = { warn: (obj: object) => warnings.push(obj), info: () => undefined };
      const cache = await openIndexed({ dir, minFreePercent: NOT_THE_DISK, capBytes: 1e6, log });
      expect(cache.stats()).toMatchObject({ chunks: 1, usedBytes: 1000 });
      expect((await cache.get(layerA, c.digest))?.equals(c.data)).toBe(true);
      expect(await readdir(join(dir, layerDir))).toEqual([fileName(c.digest)]);
      expect(warnings).toHaveLength(3);
    });

    it('starts when its directory is a regular file, moving the file aside', async () => {
      const cacheDir = join(dir, 'cache');
      await writeFile(cacheDir, 'not a directory');
      const cache = await openIndexed({
        dir: cacheDir,
        minFreePercent: NOT_THE_DISK,
        capBytes: 1e6,
      });
      expect((await lstat(cacheDir)).isDirectory()).toBe(true);
      const c = chunk();
      await cache.put(layerA, c.digest, c.data);
      expect(cache.stats().chunks).toBe(1);
      const aside = (await readdir(dir)).filter((n) => n.startsWith('cache.not-a-directory-'));
      expect(aside).toHaveLength(1);
    });
  });

  it('serves while it indexes, and counts what happened meanwhile once the index is done', async () => {
    const old = Array.from({ length: 3 }, () => chunk());
    const gone = chunk();
    const first = await openIndexed({ dir, minFreePercent: NOT_THE_DISK, capBytes: 1e6 });
    for (const c of old) await first.put(layerA, c.digest, c.data);
    await first.put(layerB, gone.digest, gone.data);

    const cache = await ChunkCache.open({
      dir,
      minFreePercent: NOT_THE_DISK,
      capBytes: 1e6,
      memoryBytes: 0,
      serveWhileIndexing: true,
    });
    // Likely before the scan is through: a new chunk is stored, a layer purged, an old chunk
    // stored again. Whatever the order, each chunk counts once and the purged one not at all.
    const fresh = chunk();
    await cache.put(layerA, fresh.digest, fresh.data);
    await cache.purgeLayer(layerB);
    await cache.put(layerA, old[2].digest, old[2].data);
    await cache.indexed();
    expect(cache.stats()).toMatchObject({ chunks: 4, layers: 1, usedBytes: 4000 });
    expect(cache.has(layerB, gone.digest)).toBe(false);
    // The previous run's chunks count as older than anything used since open().
    await cache.setCap(3500);
    expect(cache.stats()).toMatchObject({ chunks: 3, usedBytes: 3000 });
    expect(cache.has(layerA, fresh.digest)).toBe(true);
    expect(cache.has(layerA, old[2].digest)).toBe(true);
  });

  it('serves the chunks on disk as soon as open() returns, and counts them once sized', async () => {
    const old = Array.from({ length: 50 }, () => chunk());
    const first = await openIndexed({
      dir,
      minFreePercent: NOT_THE_DISK,
      capBytes: 1e6,
      packBelowBytes: NO_PACKS,
    });
    for (const c of old) await first.put(layerA, c.digest, c.data);
    await first.flush();
    // One of them damaged on disk meanwhile.
    const damaged = old[1];
    await writeFile(join(dir, fileName(layerA), fileName(damaged.digest)), randomBytes(1000));

    const cache = await ChunkCache.open({
      dir,
      minFreePercent: NOT_THE_DISK,
      capBytes: 1e6,
      memoryBytes: 0,
      serveWhileIndexing: true,
    });
    // Right after open(): no size has been taken (lstat answers come later), every chunk is
    // known by name, and a read is served from disk, not counted as a miss (nothing refetched).
    expect(cache.stats().chunks).toBe(0);
    expect(old.every((c) => cache.has(layerA, c.digest))).toBe(true);
    expect(await cache.get(layerA, old[0].digest)).toEqual(old[0].data);
    expect(await cache.get(layerA, damaged.digest)).toBeUndefined(); // verified like any disk hit
    expect(cache.has(layerA, damaged.digest)).toBe(false);
    await cache.indexed();
    expect(cache.stats()).toMatchObject({
      chunks: 49,
      usedBytes: 49_000,
      diskHits: 1,
      misses: 1,
      corruptChunks: 1,
    });
  });

  it('purges a layer from memory and disk', async () => {
    const c = chunk();
    const cache = await ChunkCache.open({ dir, minFreePercent: NOT_THE_DISK, capBytes: 1e6 });
    await cache.put(layerA, c.digest, c.data);
    await cache.purgeLayer(layerA);
    expect(await cache.get(layerA, c.digest)).toBeUndefined();
    expect(cache.stats().usedBytes).toBe(0);
  });

  describe('packs of small chunks', () => {
    const packsIn = async (layer: string) =>
      (await readdir(join(dir, fileName(layer)))).filter((n) => n.startsWith('pack-'));
    const open = (more: Partial<Parameters<typeof ChunkCache.open>[0]> = {}) =>
      openIndexed({ dir, minFreePercent: NOT_THE_DISK, capBytes: 1e7, ...more });

    it('writes chunks stored together as a few files, served from disk after a restart', async () => {
      const small = Array.from({ length: 300 }, (_, i) => chunk(100 + i));
      const big = chunk(100_000); // above the pack size: a file of its own
      const cache = await open();
      await Promise.all([
        ...small.map((c) => cache.put(layerA, c.digest, c.data)),
        cache.put(layerA, big.digest, big.data),
      ]);
      const files = await readdir(join(dir, fileName(layerA)));
      expect(files).toContain(fileName(big.digest));
      // The first chunk may go alone (a lone chunk does not wait); the rest gather.
      expect((await packsIn(layerA)).length).toBeLessThanOrEqual(3);
      const bytes = small.reduce((n, c) => n + c.data.length, 0) + big.data.length;
      expect(cache.stats()).toMatchObject({ chunks: 301, usedBytes: bytes });

      const reopened = await open({ memoryBytes: 0 });
      expect(reopened.stats()).toMatchObject({ chunks: 301, usedBytes: bytes });
      for (const c of [...small, big]) {
        expect((await reopened.get(layerA, c.digest))?.equals(c.data)).toBe(true);
      }
      expect(reopened.stats()).toMatchObject({ diskHits: 301, misses: 0, corruptChunks: 0 });
    });

    it('drops a whole pack when one of its chunks reads back wrong', async () => {
      const chunks = Array.from({ length: 20 }, () => chunk(500));
      const first = await open();
      // Stored in one turn of the event loop: one pack.
      await Promise.all(chunks.map((c) => first.put(layerA, c.digest, c.data)));
      await first.flush();
      const packs = await packsIn(layerA);
      expect(packs).toHaveLength(1);
      // Flip a byte of the last chunk.
      const path = join(dir, fileName(layerA), packs[0]);
      const bytes = await readFile(path);
      bytes[bytes.length - 1] ^= 0xff;
      await writeFile(path, bytes);

      const corrupt: string[] = [];
      const cache = await open({ memoryBytes: 0, onCorrupt: (_l, d) => corrupt.push(d) });
      const bad = chunks[19];
      expect(await cache.get(layerA, bad.digest)).toBeUndefined();
      expect(corrupt).toEqual([bad.digest]);
      // Its neighbours go with it: the disk that damaged one may have damaged them.
      expect(chunks.some((c) => cache.has(layerA, c.digest))).toBe(false);
      expect(await cache.get(layerA, chunks[0].digest)).toBeUndefined();
      expect(await packsIn(layerA)).toEqual([]);
      expect(cache.stats()).toMatchObject({ chunks: 0, usedBytes: 0, corruptChunks: 1 });
    });

    it('evicts a pack as a whole, least recently used first, released layers first', async () => {
      const cache = await open({ capBytes: 10_000, memoryBytes: 0 });
      cache.retain(layerA);
      const a = Array.from({ length: 4 }, () => chunk(1000));
      const oldB = Array.from({ length: 2 }, () => chunk(1000));
      const newB = Array.from({ length: 2 }, () => chunk(1000));
      await Promise.all(a.map((c) => cache.put(layerA, c.digest, c.data)));
      await Promise.all(oldB.map((c) => cache.put(layerB, c.digest, c.data)));
      await Promise.all(newB.map((c) => cache.put(layerB, c.digest, c.data)));
      expect(cache.stats().usedBytes).toBe(8000);
      // 11000 > cap → down to 9000: B's oldest chunks, with whatever shares their pack.
      const extra = chunk(3000);
      await cache.put(layerA, extra.digest, extra.data);
      expect(cache.stats().usedBytes).toBeLessThanOrEqual(9000);
      expect([...a, extra].every((c) => cache.has(layerA, c.digest))).toBe(true);
      expect(oldB.some((c) => cache.has(layerB, c.digest))).toBe(false);
      expect(newB.every((c) => cache.has(layerB, c.digest))).toBe(true);
      expect(cache.stats().evictedChunks).toBe(2);
      // What is left is exactly what the index says: nothing evicted stays on disk.
      const reopened = await open({ capBytes: 10_000, memoryBytes: 0 });
      expect(reopened.stats()).toMatchObject({ chunks: 7, usedBytes: 9000 });
    });

    it('starts with damaged, hostile or duplicate packs, removing them and losing nothing else', async () => {
      const good = Array.from({ length: 10 }, () => chunk(300));
      const first = await open();
      await Promise.all(good.map((c) => first.put(layerA, c.digest, c.data)));
      await first.flush();
      const layerDir = join(dir, fileName(layerA));
      const [goodPack] = await packsIn(layerA);
      const whole = await readFile(join(layerDir, goodPack));
      const hostile = {
        // Cut short: the header says more bytes than the file has.
        'pack-0000000000000001': whole.subarray(0, whole.length - 1),
        // A header that claims 2^32-1 chunks.
        'pack-0000000000000002': Buffer.concat([Buffer.from('SLPACK01'), Buffer.alloc(4, 0xff)]),
        // Not a pack at all.
        'pack-0000000000000003': Buffer.from('hello, world'),
        // Empty.
        'pack-0000000000000004': Buffer.alloc(0),
        // The same chunks again: a duplicate serves nothing new.
        'pack-0000000000000005': whole,
      };
      for (const [name, data] of Object.entries(hostile))
        await writeFile(join(layerDir, name), data);
      await symlink(join(layerDir, goodPack), join(layerDir, 'pack-0000000000000006'));
      await mkdir(join(layerDir, 'pack-0000000000000007'));
      execFileSync('mkfifo', [join(layerDir, 'pack-0000000000000008')]);

      const cache = await open({ memoryBytes: 0 });
      // One of the two copies stays; the rest was removed.
      const left = await readdir(layerDir);
      expect(left).toHaveLength(1);
      expect([goodPack, 'pack-0000000000000005']).toContain(left[0]);
      expect(cache.stats()).toMatchObject({ chunks: 10, usedBytes: 3000 });
      for (const c of good) expect((await cache.get(layerA, c.digest))?.equals(c.data)).toBe(true);
    });

    it('reads a pack once for its neighbours, still verifying each chunk it serves', async () => {
      const chunks = Array.from({ length: 50 }, () => chunk(400));
      const first = await open();
      await Promise.all(chunks.map((c) => first.put(layerA, c.digest, c.data)));
      await first.flush();
      const [pack] = await packsIn(layerA);
      const path = join(dir, fileName(layerA), pack);

      const cache = await open({ memoryBytes: 0 });
      expect((await cache.get(layerA, chunks[0].digest))?.equals(chunks[0].data)).toBe(true);
      // The file is gone now: the neighbours come from the one read of the pack.
      await rm(path);
      for (const c of chunks)
        expect((await cache.get(layerA, c.digest))?.equals(c.data)).toBe(true);
      expect(cache.stats()).toMatchObject({ diskHits: 51, misses: 0 });
    });

    it('purges packs with their layer', async () => {
      const chunks = Array.from({ length: 5 }, () => chunk(200));
      const cache = await open();
      await Promise.all(chunks.map((c) => cache.put(layerA, c.digest, c.data)));
      await cache.purgeLayer(layerA);
      expect(cache.stats()).toMatchObject({ chunks: 0, usedBytes: 0 });
      const reopened = await open();
      expect(reopened.stats()).toMatchObject({ chunks: 0, usedBytes: 0 });
    });
  });
});
