// A registry that answers range requests with wrong bytes (ranges shifted by a byte, another
// blob's bytes): reads fail with EIO and are never served wrong bytes, and the registry is asked a
// small, bounded number of times — not once more per chunk, neighbour and retry of the kernel.
import { ChunkCache } from '../../src/cache/chunk-cache.ts';
import { HttpRangeSource } from '../../src/fetch/http-range-source.ts';
import { LayerFetcher } from '../../src/fetch/layer-fetcher.ts';
import { FetchScheduler } from '../../src/fetch/scheduler.ts';
import {
  ChunkFetchError,
  ChunkVerificationError,
  Priority,
  type ChunkSpec,
} from '../../src/fetch/types.ts';
import type { VerificationFailureOptions } from '../../src/fetch/verification-failures.ts';
import { makeTempDir, removeDir, waitFor } from '../support/tmp.ts';
import {
  makeChunkedBlob,
  startBlobServer,
  type BlobServer,
  type ChunkedBlob,
} from './blob-server.ts';

const layer = `sha256:${'2'.repeat(64)}`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The range one request for `chunks` (contiguous, in blob order) asks for. */
function rangeOf(...chunks: ChunkSpec[]): string {
  const last = chunks[chunks.length - 1];
  return `bytes=${chunks[0].offset}-${last.offset + last.compressedSize - 1}`;
}

describe('LayerFetcher against a registry sending wrong bytes', () => {
  let dir: string;
  let server: BlobServer;
  let blob: ChunkedBlob;
  let scheduler: FetchScheduler;
  let cache: ChunkCache;
  const failures: { digest: string; final: boolean }[] = [];

  async function fetcherWith(options: Partial<VerificationFailureOptions> = {}) {
    scheduler = new FetchScheduler({ quietPeriodMs: 0 });
    cache = await ChunkCache.open({ dir, minFreePercent: 0, capBytes: 1e9 });
    return new LayerFetcher({
      layer,
      source: new HttpRangeSource(server.url),
      cache,
      scheduler,
      observer: { verificationFailed: (e) => failures.push(e) },
      failures: options,
    });
  }

  /** Every range answered with the bytes one further on: valid-looking, never right. */
  function shiftRanges(): void {
    server.blob = Buffer.concat([blob.blob.subarray(1), Buffer.alloc(1)]);
  }

  function fixRegistry(): void {
    server.blob = blob.blob;
  }

  beforeEach(async () => {
    dir = await makeTempDir('wrong-bytes');
    blob = makeChunkedBlob(16, 16 * 1024);
    server = await startBlobServer(blob.blob);
    failures.length = 0;
  });
  afterEach(async () => {
    scheduler.stop();
    await cache.flush();
    await server.close();
    await removeDir(dir);
  });

  it('a read asks twice (one refetch for all its chunks); its neighbours once, never refetched', async () => {
    const fetcher = await fetcherWith();
    shiftRanges();
    const [c2, c3, c4, c5] = blob.chunks.slice(2, 6);
    const reading = fetcher.read([c2, c3], Priority.onDemand, () => [c4, c5]);
    await expect(reading).rejects.toThrow(ChunkVerificationError);
    await waitFor('neighbours given up', () =>
      Promise.resolve(failures.filter((f) => f.final).length === 4),
    );
    expect(server.ranges).toEqual([rangeOf(c2, c3), rangeOf(c4, c5), rangeOf(c2, c3)]);
    const given = (c: ChunkSpec) => failures.filter((f) => f.digest === c.digest);
    expect(given(c2)).toEqual([
      { layer, digest: c2.digest, final: false },
      { layer, digest: c2.digest, final: true },
    ]);
    expect(given(c4)).toEqual([{ layer, digest: c4.digest, final: true }]);
    for (const c of [c2, c3, c4, c5]) expect(fetcher.isCached(c)).toBe(false);
  });

  it('refuses a chunk that failed twice at once for a while, then asks the registry again', async () => {
    const fetcher = await fetcherWith({ rememberMs: 1000 });
    shiftRanges();
    const chunk = blob.chunks[7];
    await expect(fetcher.read([chunk], Priority.onDemand)).rejects.toThrow(ChunkVerificationError);
    expect(server.ranges).toHaveLength(2);
    // The kernel retries, readahead, another file sharing the chunk: no request, EIO at once.
    for (let i = 0; i < 5; i++) {
      await expect(fetcher.read([chunk], Priority.onDemand)).rejects.toMatchObject({
        name: 'ChunkVerificationError',
        remembered: true, // already logged: the filesystem need not log it again
      });
    }
    await expect(fetcher.warm([chunk], Priority.onDemand)).rejects.toThrow(ChunkFetchError);
    expect(server.ranges).toHaveLength(2);
    // Another chunk of the layer is still asked for.
    await expect(fetcher.read([blob.chunks[9]], Priority.onDemand)).rejects.toThrow(
      ChunkVerificationError,
    );
    expect(server.ranges).toHaveLength(4);

    await sleep(1050);
    fixRegistry(); // the registry may have been fixed meanwhile: it is asked again
    const [data] = await fetcher.read([chunk], Priority.onDemand);
    expect(data.equals(blob.contents[7])).toBe(true);
    expect(server.ranges).toHaveLength(5);
  });

  it('a read after the window still failing asks twice again, no more', async () => {
    const fetcher = await fetcherWith({ rememberMs: 500 });
    shiftRanges();
    const chunk = blob.chunks[3];
    await expect(fetcher.read([chunk], Priority.onDemand)).rejects.toThrow(ChunkVerificationError);
    await sleep(550);
    await expect(fetcher.read([chunk], Priority.onDemand)).rejects.toThrow(ChunkVerificationError);
    await expect(fetcher.read([chunk], Priority.onDemand)).rejects.toThrow(ChunkVerificationError);
    expect(server.ranges).toHaveLength(4);
  });

  it('a response corrupted once: the read is served right, refetching only the bad chunk', async () => {
    const fetcher = await fetcherWith();
    const chunks = blob.chunks.slice(4, 9);
    const bad = blob.chunks[6];
    server.corruptOffset = bad.offset + 30;
    server.corruptResponses = 1;
    const data = await fetcher.read(chunks, Priority.onDemand);
    expect(data.every((d, i) => d.equals(blob.contents[4 + i]))).toBe(true);
    expect(server.ranges).toEqual([rangeOf(...chunks), rangeOf(bad)]);
    expect(failures).toEqual([{ layer, digest: bad.digest, final: false }]);
  });

  it('read-ahead that fails is dropped without a refetch; a reader that joined it gets a refetch', async () => {
    const fetcher = await fetcherWith();
    shiftRanges();
    const ahead = blob.chunks.slice(10, 13);
    await expect(fetcher.warm(ahead, Priority.onDemand)).rejects.toThrow(ChunkFetchError);
    expect(server.ranges).toEqual([rangeOf(...ahead)]);
    expect(failures.every((f) => f.final)).toBe(true);

    // A reader arriving while a read-ahead request is in flight waits for it: worth a refetch.
    fixRegistry();
    server.corruptOffset = blob.chunks[14].offset + 20;
    server.corruptResponses = 1;
    let release!: () => void;
    server.gate = new Promise<void>((resolve) => (release = resolve));
    const warming = fetcher.warm(blob.chunks.slice(13, 16), Priority.onDemand);
    await waitFor('read-ahead request', () => Promise.resolve(server.ranges.length === 2));
    const reading = fetcher.read([blob.chunks[14]], Priority.onDemand);
    server.gate = undefined;
    release();
    const [data] = await reading;
    expect(data.equals(blob.contents[14])).toBe(true);
    await warming;
    expect(server.ranges).toEqual([
      rangeOf(...ahead),
      rangeOf(...blob.chunks.slice(13, 16)),
      rangeOf(blob.chunks[14]),
    ]);
  });

  it('many failures pause speculative fetches (neighbours, read-ahead) for a while', async () => {
    const fetcher = await fetcherWith({ circuitFailures: 4, pauseMs: 1000 });
    shiftRanges();
    const [c0, c1, c2, c3] = blob.chunks;
    // Two chunks fail twice: four failures.
    await expect(fetcher.read([c0, c1], Priority.onDemand)).rejects.toThrow(ChunkVerificationError);
    expect(server.ranges).toHaveLength(2);
    // Paused: the read goes alone (no neighbours request), read-ahead fetches nothing.
    await expect(fetcher.read([c2], Priority.onDemand, () => [c3])).rejects.toThrow(
      ChunkVerificationError,
    );
    await expect(fetcher.warm([c3], Priority.onDemand)).rejects.toThrow(ChunkFetchError);
    await expect(fetcher.warm([c3], Priority.prefetch)).rejects.toThrow(ChunkFetchError);
    expect(server.ranges).toEqual([rangeOf(c0, c1), rangeOf(c0, c1), rangeOf(c2), rangeOf(c2)]);

    await sleep(1050);
    fixRegistry();
    await fetcher.warm([c3], Priority.onDemand);
    expect(fetcher.isCached(c3)).toBe(true);
    expect(server.ranges).toHaveLength(5);
  });
});
