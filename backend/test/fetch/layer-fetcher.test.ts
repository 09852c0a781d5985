import { ChunkCache } from '../../src/cache/chunk-cache.ts';
import { BackgroundFetcher } from '../../src/fetch/background.ts';
import { gzipChunkDecoder } from '../../src/fetch/decode.ts';
import { HttpRangeSource } from '../../src/fetch/http-range-source.ts';
import { LayerFetcher } from '../../src/fetch/layer-fetcher.ts';
import { FetchScheduler } from '../../src/fetch/scheduler.ts';
import {
  ChunkFetchError,
  ChunkVerificationError,
  Priority,
  type FetchObserver,
} from '../../src/fetch/types.ts';
import { makeTempDir, removeDir, waitFor } from '../support/tmp.ts';
import {
  makeChunkedBlob,
  startBlobServer,
  type BlobServer,
  type ChunkedBlob,
} from './blob-server.ts';

/** Caches here keep no share of the disk free: a test must not depend on how full it is. */
const NOT_THE_DISK = 0;

const layer = `sha256:${'1'.repeat(64)}`;

describe('LayerFetcher against a real HTTP server', () => {
  let dir: string;
  let server: BlobServer;
  let blob: ChunkedBlob;
  let scheduler: FetchScheduler;
  const caches: ChunkCache[] = [];
  const failures: { digest: string; final: boolean }[] = [];
  const fetched: { priority: string; bytes: number }[] = [];
  const observer: FetchObserver = {
    verificationFailed: (e) => failures.push(e),
    fetched: (e) => fetched.push(e),
  };

  async function fetcherWith(options: { capBytes?: number; quietPeriodMs?: number } = {}) {
    scheduler = new FetchScheduler({ quietPeriodMs: options.quietPeriodMs ?? 0 });
    const cache = await ChunkCache.open({
      dir,
      minFreePercent: NOT_THE_DISK,
      capBytes: options.capBytes ?? 1e9,
    });
    caches.push(cache);
    const fetcher = new LayerFetcher({
      layer,
      source: new HttpRangeSource(server.url),
      cache,
      scheduler,
      observer,
    });
    return { cache, fetcher };
  }

  /** A background fetcher of `concurrency` requests in batches of `batchBytes`; `done` lists finished layers. */
  function backgroundWith(batchBytes: number, concurrency: number) {
    const done: string[] = [];
    const background = new BackgroundFetcher(scheduler, {
      batchBytes,
      concurrency,
      onLayerDone: (l) => done.push(l),
    });
    return { background, done };
  }

  /** A fetcher whose decodes wait until `releaseDecode()`: a slow CPU, which the link must not wait for. */
  async function fetcherWithSlowDecode(options: { backgroundConcurrency?: number } = {}) {
    scheduler = new FetchScheduler({ quietPeriodMs: 0, ...options });
    const cache = await ChunkCache.open({ dir, minFreePercent: NOT_THE_DISK, capBytes: 1e9 });
    caches.push(cache);
    let releaseDecode!: () => void;
    const decodeGate = new Promise<void>((resolve) => (releaseDecode = resolve));
    const counts = { decoded: 0 };
    const fetcher = new LayerFetcher({
      layer,
      source: new HttpRangeSource(server.url),
      cache,
      scheduler,
      decode: async (compressed, chunk) => {
        await decodeGate;
        counts.decoded++;
        return gzipChunkDecoder(compressed, chunk);
      },
    });
    return { fetcher, releaseDecode, counts };
  }

  /**
   * A background batch of every chunk, its request held by the server until `release()`; later
   * requests are answered at once.
   */
  async function runningBackgroundBatch() {
    const { fetcher, cache } = await fetcherWith({ quietPeriodMs: 0 });
    let release!: () => void;
    server.gate = new Promise<void>((resolve) => (release = resolve));
    const { background, done } = backgroundWith(64 * 1024 * 16, 1);
    background.add(fetcher, blob.chunks);
    await waitFor('background request', () => Promise.resolve(server.ranges.length === 1));
    server.gate = undefined;
    return { fetcher, cache, release, background, done };
  }

  beforeEach(async () => {
    dir = await makeTempDir('fetch');
    blob = makeChunkedBlob(16, 64 * 1024);
    server = await startBlobServer(blob.blob);
    failures.length = 0;
    fetched.length = 0;
  });
  afterEach(async () => {
    scheduler.stop();
    // Cache writes run behind the readers: let them land before the directory goes.
    await Promise.all(caches.splice(0).map((c) => c.flush()));
    await server.close();
    await removeDir(dir);
  });

  it('coalesces neighbouring chunks into one range request and returns verified content', async () => {
    const { fetcher } = await fetcherWith();
    const data = await fetcher.read(blob.chunks.slice(2, 7), Priority.onDemand);
    expect(data.map((d) => d.equals(blob.contents[data.indexOf(d) + 2]))).toEqual(
      Array(5).fill(true),
    );
    expect(server.ranges).toHaveLength(1);
    const first = blob.chunks[2];
    const last = blob.chunks[6];
    expect(server.ranges[0]).toBe(`bytes=${first.offset}-${last.offset + last.compressedSize - 1}`);
  });

  it('splits a big warm into requests of at most 16 MiB, so memory stays bounded', async () => {
    // 80 chunks of 1 MiB, half random: about 40 MiB compressed.
    await server.close();
    blob = makeChunkedBlob(80, 2 ** 20);
    server = await startBlobServer(blob.blob);
    scheduler = new FetchScheduler({ quietPeriodMs: 0 });
    const cache = await ChunkCache.open({ dir, minFreePercent: NOT_THE_DISK, capBytes: 1e9 });
    caches.push(cache);
    const http = new HttpRangeSource(server.url);
    const readSizes: number[] = [];
    const fetcher = new LayerFetcher({
      layer,
      source: {
        read: (ranges, signal) => {
          readSizes.push(ranges.reduce((n, r) => n + r.length, 0));
          return http.read(ranges, signal);
        },
      },
      cache,
      scheduler,
    });
    await fetcher.warm(blob.chunks, Priority.prefetch);
    expect(readSizes.length).toBeGreaterThanOrEqual(3);
    for (const bytes of readSizes) expect(bytes).toBeLessThanOrEqual(16 * 2 ** 20);
    const data = await fetcher.read(blob.chunks.slice(30, 32), Priority.onDemand);
    expect(data[0].equals(blob.contents[30])).toBe(true);
    expect(readSizes.length).toBeGreaterThanOrEqual(3); // served from the cache: no new read
  });

  it('prefetch and background wait for the disk (flow control); readers do not', async () => {
    const { fetcher, cache } = await fetcherWith();
    const put = cache.put.bind(cache);
    let writesDone = 0;
    cache.put = async (...args: Parameters<typeof cache.put>) => {
      await new Promise((resolve) => setTimeout(resolve, 100)); // a slow disk
      await put(...args);
      writesDone++;
    };
    await fetcher.warm(blob.chunks.slice(0, 4), Priority.background);
    expect(writesDone).toBe(4);
    await fetcher.read(blob.chunks.slice(4, 6), Priority.onDemand);
    expect(writesDone).toBe(4); // the reader got its data before the slow writes finished
    await waitFor('reader writes', () => Promise.resolve(writesDone === 6), 5_000, 10);
  });

  it('keeps prefetched chunks a reader will want soon in memory; other prefetched ones go to disk only', async () => {
    const { fetcher, cache } = await fetcherWith();
    const [soon, later] = blob.chunks;
    fetcher.keepInMemory([soon]);
    await fetcher.warm([soon, later], Priority.prefetch);
    await cache.flush();
    await fetcher.read([soon], Priority.onDemand);
    expect(cache.stats()).toMatchObject({ memoryHits: 1, diskHits: 0 });
    await fetcher.read([later], Priority.onDemand);
    expect(cache.stats()).toMatchObject({ memoryHits: 1, diskHits: 1 });
  });

  it('fetches a chunk wanted by concurrent readers once, then serves it from cache, also after a restart', async () => {
    const { fetcher, cache } = await fetcherWith();
    const chunk = blob.chunks[3];
    const [a, b] = await Promise.all([
      fetcher.read([chunk], Priority.onDemand),
      fetcher.read([chunk], Priority.onDemand),
    ]);
    expect(a[0].equals(blob.contents[3])).toBe(true);
    expect(b[0].equals(blob.contents[3])).toBe(true);
    expect(server.ranges).toHaveLength(1);
    await fetcher.read([chunk], Priority.onDemand);
    expect(server.ranges).toHaveLength(1);

    scheduler.stop();
    await cache.flush(); // cache writes are not on the reader's path
    const restarted = await fetcherWith(); // same cache directory, new process state
    const [again] = await restarted.fetcher.read([chunk], Priority.onDemand);
    expect(again.equals(blob.contents[3])).toBe(true);
    expect(server.ranges).toHaveLength(1);
  });

  it('refetches a chunk that fails verification once, then fails with EIO-class error and never caches it', async () => {
    const { fetcher, cache } = await fetcherWith();
    const chunk = blob.chunks[5];
    const corrupted = Buffer.from(blob.blob);
    corrupted[chunk.offset + Math.floor(chunk.compressedSize / 2)] ^= 0x01;
    server.blob = corrupted;
    await expect(fetcher.read([chunk], Priority.onDemand)).rejects.toThrow(ChunkVerificationError);
    expect(server.ranges).toHaveLength(2);
    expect(failures).toEqual([
      { layer, digest: chunk.digest, final: false },
      { layer, digest: chunk.digest, final: true },
    ]);
    expect(cache.has(layer, chunk.digest)).toBe(false);
    // Other chunks of the same layer are unaffected.
    const [ok] = await fetcher.read([blob.chunks[6]], Priority.onDemand);
    expect(ok.equals(blob.contents[6])).toBe(true);
  });

  it('serves a chunk whose first fetch was corrupted in transit but whose refetch is good', async () => {
    const { fetcher } = await fetcherWith();
    const chunk = blob.chunks[1];
    server.corruptOffset = chunk.offset + 20;
    server.corruptResponses = 1;
    const reading = fetcher.read([chunk], Priority.onDemand);
    const [data] = await reading;
    expect(data.equals(blob.contents[1])).toBe(true);
    expect(failures).toEqual([{ layer, digest: chunk.digest, final: false }]);
  });

  it('fetches missing neighbours along with a read, in a request of their own, best effort', async () => {
    const { fetcher } = await fetcherWith();
    const [c2, c3, c4] = [blob.chunks[2], blob.chunks[3], blob.chunks[4]];
    // c4 is corrupted in the registry: as a neighbour it must not fail the read of c2.
    server.corruptOffset = c4.offset + 20; // past the gzip header: in the deflated data
    server.corruptResponses = 1;
    const [data] = await fetcher.read([c2], Priority.onDemand, () => [c3, c4]);
    expect(data.equals(blob.contents[2])).toBe(true);
    // The read's own request carries only what it needs (its last byte is what it waits for);
    // the neighbours travel beside it.
    expect(server.ranges).toContain(`bytes=${c2.offset}-${c2.offset + c2.compressedSize - 1}`);
    expect(server.ranges).toContain(`bytes=${c3.offset}-${c4.offset + c4.compressedSize - 1}`);
    await waitFor('neighbours settled', () =>
      Promise.resolve(fetcher.isCached(c3) && failures.length === 1),
    );
    // No reader waited for c4: dropped, not refetched, not cached.
    expect(failures).toEqual([{ layer, digest: c4.digest, final: true }]);
    expect(fetcher.isCached(c4)).toBe(false);
    const requests = server.ranges.length;
    expect(requests).toBe(2);
    const [again] = await fetcher.read([c3], Priority.onDemand);
    expect(again.equals(blob.contents[3])).toBe(true);
    expect(server.ranges).toHaveLength(requests);
    // A reader of c4 fetches it; the registry sends the right bytes now.
    const [fourth] = await fetcher.read([c4], Priority.onDemand);
    expect(fourth.equals(blob.contents[4])).toBe(true);
    expect(server.ranges).toHaveLength(requests + 1);
    // Neighbours are only worth it along with a request: a cached read fetches nothing, and
    // does not even list them (a small file's window holds thousands of them).
    let listed = 0;
    const neighbours = () => {
      listed++;
      return [blob.chunks[9]];
    };
    await fetcher.read([c2], Priority.onDemand, neighbours);
    expect(server.ranges).toHaveLength(requests + 1);
    expect(listed).toBe(0);
  });

  it('a read served from the cache restarts the quiet period but aborts no background request', async () => {
    const { fetcher } = await fetcherWith({ quietPeriodMs: 400 });
    await fetcher.read([blob.chunks[0]], Priority.onDemand); // fetched: now cached
    const requests = server.ranges.length;
    // A container reading cached files is still starting: background work waits.
    let started = false;
    const queued = scheduler.run(Priority.background, () => {
      started = true;
      return Promise.resolve();
    });
    for (let i = 0; i < 6; i++) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      await fetcher.read([blob.chunks[0]], Priority.onDemand);
    }
    expect(server.ranges).toHaveLength(requests);
    expect(started).toBe(false);
    await queued; // once the reads stop
    expect(started).toBe(true);
    // One already running is not aborted by a cached read (it needs no network).
    const running = scheduler.run(Priority.background, async (signal) => {
      await fetcher.read([blob.chunks[0]], Priority.onDemand);
      return signal.aborted;
    });
    expect(await running).toBe(false);
  });

  it('reports HTTP errors as ChunkFetchError', async () => {
    const { fetcher } = await fetcherWith();
    const beyond = {
      ...blob.chunks[0],
      offset: blob.blob.length + 10,
      digest: `sha256:${'9'.repeat(64)}`,
    };
    await expect(fetcher.read([beyond], Priority.onDemand)).rejects.toThrow(ChunkFetchError);
  });

  it('background fetch makes the whole layer local, waiting for on-demand work first', async () => {
    const { fetcher, cache } = await fetcherWith({ quietPeriodMs: 0 });
    let release!: () => void;
    server.gate = new Promise<void>((resolve) => (release = resolve));
    const onDemand = fetcher.read([blob.chunks[15]], Priority.onDemand);
    await waitFor('on-demand request', () => Promise.resolve(server.ranges.length === 1));
    const { background, done } = backgroundWith(256 * 1024, 2);
    background.add(fetcher, blob.chunks);
    // While the on-demand request is in flight, background work must not start.
    await new Promise((resolve) => setImmediate(resolve));
    expect(server.ranges).toHaveLength(1);
    server.gate = undefined;
    release();
    await onDemand;
    await waitFor('background done', () => Promise.resolve(done.length === 1));
    expect(blob.chunks.every((c) => cache.has(layer, c.digest))).toBe(true);
    // Coalesced into batches and never more bytes than the blob.
    expect(server.ranges.length).toBeLessThan(blob.chunks.length);
    expect(server.bytesServed).toBeLessThanOrEqual(blob.blob.length);
    expect(fetched.filter((f) => f.priority === 'background').length).toBeGreaterThan(0);
    background.stop();
  });

  it('an on-demand read never waits for a background batch queued behind the quiet period', async () => {
    // A long quiet period: background work planned now cannot start before the test ends.
    const { fetcher } = await fetcherWith({ quietPeriodMs: 3_600_000 });
    await fetcher.read([blob.chunks[0]], Priority.onDemand);
    const background = new BackgroundFetcher(scheduler, { batchBytes: 1 << 30, concurrency: 1 });
    background.add(fetcher, blob.chunks); // plans chunks 1..15 as one batch, queued for quiet
    await new Promise((resolve) => setImmediate(resolve));
    const [data] = await fetcher.read([blob.chunks[8]], Priority.onDemand);
    expect(data.equals(blob.contents[8])).toBe(true);
    // Chunk 0, then chunk 8 on its own: the queued background batch never reached the server.
    expect(server.ranges).toHaveLength(2);
    const c8 = blob.chunks[8];
    expect(server.ranges[1]).toBe(`bytes=${c8.offset}-${c8.offset + c8.compressedSize - 1}`);
    background.stop();
  });

  it('background fetch walks a chunk list as it goes, not all of it when the layer is added', async () => {
    const { fetcher, cache } = await fetcherWith({ quietPeriodMs: 0 });
    let release!: () => void;
    server.gate = new Promise<void>((resolve) => (release = resolve));
    const seen = new Set<number>();
    const list = {
      length: blob.chunks.length,
      at: (i: number) => {
        seen.add(i);
        return blob.chunks[i];
      },
    };
    // One chunk per batch, two batches in progress, their responses held back.
    const { background, done } = backgroundWith(1, 1);
    background.add(fetcher, list);
    await waitFor('both requests', () => Promise.resolve(server.ranges.length === 2));
    expect([...seen]).toEqual([0, 1]);
    server.gate = undefined;
    release();
    await waitFor('background done', () => Promise.resolve(done.length === 1));
    expect(seen.size).toBe(blob.chunks.length);
    expect(blob.chunks.every((c) => cache.has(layer, c.digest))).toBe(true);
    background.stop();
  });

  it('background fetch waits while the cache has no room beside the layers in use, and goes on when it has', async () => {
    // 16 chunks of 64 KiB; the cache takes 400 KiB: 5 chunks fit below its eviction mark.
    const { fetcher, cache } = await fetcherWith({ capBytes: 400 * 1024, quietPeriodMs: 0 });
    cache.retain(layer);
    const room: boolean[] = [];
    const done: string[] = [];
    const background = new BackgroundFetcher(scheduler, {
      batchBytes: 64 * 1024,
      concurrency: 1,
      hasRoom: (bytes) => cache.roomFor(bytes),
      roomRetryMs: 50,
      onRoom: (waiting) => room.push(waiting),
      onLayerDone: (l) => done.push(l),
    });
    background.add(fetcher, blob.chunks);
    await waitFor('waiting for room', () => Promise.resolve(room.length === 1));
    expect(room).toEqual([true]);
    // Nothing the layer holds was evicted for it, and it stopped fetching.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const cached = blob.chunks.filter((c) => cache.has(layer, c.digest)).length;
    expect(cached).toBe(5);
    expect(cache.stats().evictedChunks).toBe(0);
    expect(server.ranges).toHaveLength(5);
    expect(done).toEqual([]);

    await cache.setCap(2 ** 20 * 1.5);
    await waitFor('background done', () => Promise.resolve(done.length === 1));
    expect(room).toEqual([true, false]);
    expect(blob.chunks.every((c) => cache.has(layer, c.digest))).toBe(true);
    expect(server.ranges).toHaveLength(16);
    background.stop();
  });

  it('background fetch has its next request in flight while the previous batch decodes', async () => {
    const { fetcher, releaseDecode } = await fetcherWithSlowDecode({ backgroundConcurrency: 1 });
    // One request at a time, 4 chunks per batch: 4 batches.
    const { background, done } = backgroundWith(4 * 64 * 1024, 1);
    background.add(fetcher, blob.chunks);
    await waitFor('second request while the first batch decodes', () =>
      Promise.resolve(server.ranges.length === 2),
    );
    releaseDecode();
    await waitFor('background done', () => Promise.resolve(done.length === 1));
    const data = await fetcher.read(blob.chunks, Priority.onDemand);
    expect(data.every((d, i) => d.equals(blob.contents[i]))).toBe(true);
    expect(server.ranges).toHaveLength(4); // every batch fetched once
    background.stop();
  });

  it('read-ahead is done once its response is in, while its chunks still decode; readers get them verified', async () => {
    const { fetcher, releaseDecode, counts } = await fetcherWithSlowDecode();
    const first = blob.chunks.slice(0, 4);
    await fetcher.fetchAhead(first); // resolves with every decode still held at the gate
    expect(counts.decoded).toBe(0);
    expect(server.ranges).toHaveLength(1);
    // Asked again while on their way: no second request, and done once they are decoded.
    const again = fetcher.fetchAhead(first);
    const reading = fetcher.read(first, Priority.onDemand);
    releaseDecode();
    await again;
    const data = await reading;
    expect(data.every((d, i) => d.equals(blob.contents[i]))).toBe(true);
    expect(server.ranges).toHaveLength(1);
    // Cached chunks are not fetched again.
    await fetcher.fetchAhead(first);
    expect(server.ranges).toHaveLength(1);
  });

  it('read-ahead does not wait behind a running background batch: it aborts it and fetches', async () => {
    const { fetcher, cache, release, background, done } = await runningBackgroundBatch();
    // The gated background batch holds every chunk; read-ahead of two of them goes on its own.
    await fetcher.fetchAhead(blob.chunks.slice(8, 10));
    const data = await fetcher.read(blob.chunks.slice(8, 10), Priority.onDemand);
    expect(data.every((d, i) => d.equals(blob.contents[8 + i]))).toBe(true);
    release();
    await waitFor('background done', () => Promise.resolve(done.length === 1));
    expect(blob.chunks.every((c) => cache.has(layer, c.digest))).toBe(true);
    background.stop();
  });

  it('on-demand reads abort running background batches, which are retried', async () => {
    const { fetcher, cache, release, background, done } = await runningBackgroundBatch();
    // Pre-empts the gated background batch; the on-demand request itself is not gated.
    const [data] = await fetcher.read([blob.chunks[8]], Priority.onDemand);
    expect(data.equals(blob.contents[8])).toBe(true);
    release();
    await waitFor('background done', () => Promise.resolve(done.length === 1));
    expect(blob.chunks.every((c) => cache.has(layer, c.digest))).toBe(true);
    expect(server.ranges.length).toBeGreaterThanOrEqual(3);
    background.stop();
  });
});
