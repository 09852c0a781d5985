// Per-layer fetch pipeline: chunks → cache lookup → coalesced, deduplicated range requests →
// decode → digest verification → cache → caller. A chunk that fails verification is fetched once
// more on its own; failing again it becomes a ChunkVerificationError (EIO) and is never served.
import { matchesDigest, type ChunkCache } from '../cache/chunk-cache.ts';
import { coalesceChunks, groupByBytes, type CoalesceOptions, type RangePlan } from './coalesce.ts';
import { gzipChunkDecoder } from './decode.ts';
import type { FetchScheduler } from './scheduler.ts';
import {
  ChunkFetchError,
  ChunkVerificationError,
  isAbort,
  Priority,
  priorityNames,
  type ChunkDecoder,
  type ChunkSpec,
  type FetchObserver,
  type RangeSource,
} from './types.ts';

export interface LayerFetcherOptions {
  /** The layer's compressed blob digest: cache namespace and label in metrics. */
  layer: string;
  source: RangeSource;
  cache: ChunkCache;
  scheduler: FetchScheduler;
  decode?: ChunkDecoder;
  coalesce?: Partial<CoalesceOptions>;
  observer?: FetchObserver;
}

type Outcome = Buffer | Error;

export class LayerFetcher {
  readonly layer: string;
  readonly #source: RangeSource;
  readonly #cache: ChunkCache;
  readonly #scheduler: FetchScheduler;
  readonly #decode: ChunkDecoder;
  readonly #coalesce: CoalesceOptions;
  readonly #observer: FetchObserver;
  /** One in-flight fetch per chunk digest, whoever asked first. */
  readonly #inflight = new Map<string, { promise: Promise<Buffer>; priority: Priority }>();
  /** Chunks prefetch fetched that no reader has asked for yet (prefetch hit telemetry). */
  readonly #prefetched = new Set<string>();
  /** Chunks to keep in the memory cache when they arrive, like a reader's (see keepInMemory). */
  readonly #soonRead = new Set<string>();

  constructor(options: LayerFetcherOptions) {
    this.layer = options.layer;
    this.#source = options.source;
    this.#cache = options.cache;
    this.#scheduler = options.scheduler;
    this.#decode = options.decode ?? gzipChunkDecoder;
    this.#coalesce = {
      maxGapBytes: options.coalesce?.maxGapBytes ?? 64 * 1024,
      maxRangeBytes: options.coalesce?.maxRangeBytes ?? 16 * 2 ** 20,
    };
    this.#observer = options.observer ?? {};
  }

  /** The decompressed, verified bytes of each chunk, in the order given. */
  /**
   * `alongside`: chunks worth fetching in the same request if they are missing (neighbours of a
   * small file: the next files of the same directory usually follow in the blob). Best effort:
   * they are not waited for and their failures do not fail this read.
   */
  async read(
    chunks: readonly ChunkSpec[],
    priority: Priority,
    alongside: readonly ChunkSpec[] = [],
  ): Promise<Buffer[]> {
    if (priority === Priority.onDemand) this.#scheduler.noteRead();
    const out = await this.#obtain(chunks, priority, true, alongside);
    return out as Buffer[];
  }

  /** Makes sure the chunks are in the cache without returning them (prefetch, background). */
  async warm(chunks: readonly ChunkSpec[], priority: Priority): Promise<void> {
    if (priority === Priority.background) await this.#warmBackground(chunks);
    else await this.#obtain(chunks, priority, false, []);
  }

  /**
   * A background batch claims its chunks only once the scheduler lets its request run. A batch
   * queued for the quiet period, holding its chunks as "in flight", would stop a reader's
   * neighbours from riding along with its reads: a start of a thousand small files then paid a
   * round trip per file (node without prefetch: 30 s instead of 3). Claimed late, it skips what
   * readers fetched meanwhile instead of fetching it twice.
   */
  async #warmBackground(chunks: readonly ChunkSpec[]): Promise<void> {
    const others: Promise<unknown>[] = [];
    const claimed: Promise<Buffer>[] = [];
    await this.#scheduler.run(Priority.background, async (signal) => {
      const missing: ChunkSpec[] = [];
      for (const chunk of chunks) {
        if (this.isCached(chunk)) continue;
        const inflight = this.#inflight.get(chunk.digest);
        if (inflight) others.push(inflight.promise.catch(() => undefined));
        else missing.push(chunk);
      }
      if (missing.length === 0) return;
      const plans = coalesceChunks(missing, this.#coalesce);
      // One request: the batch is sized by the caller, and the slot we hold is for one request.
      const fetched = this.#startGroup(plans, Priority.background, signal);
      for (const chunk of missing) claimed.push(this.#inflight.get(chunk.digest)!.promise);
      await fetched;
    });
    await Promise.all(claimed); // decoded and stored: the caller's flow control
    await Promise.all(others);
    const missing = chunks.filter((c) => !this.isCached(c)).length;
    if (missing > 0) {
      throw new ChunkFetchError(
        `layer ${this.layer}: ${missing} chunks of the batch are not cached (a reader's fetch of them failed, or the cache could not write them)`,
      );
    }
  }

  /**
   * Chunks a reader will ask for right after they arrive (the boot files a container's first
   * exec reads): when fetched, they go to the memory cache too. Else that first read goes to the
   * disk through the thread pool, which is busy then with the inflates and writes of the start's
   * other fetches (a loader read waited 17 ms behind them in a trace).
   */
  keepInMemory(chunks: readonly ChunkSpec[]): void {
    for (const chunk of chunks) this.#soonRead.add(chunk.digest);
  }

  isCached(chunk: ChunkSpec): boolean {
    return chunk.size === 0 || this.#cache.has(this.layer, chunk.digest);
  }

  async #obtain(
    chunks: readonly ChunkSpec[],
    priority: Priority,
    wantData: boolean,
    alongside: readonly ChunkSpec[],
  ): Promise<(Buffer | undefined)[]> {
    const results: (Buffer | undefined)[] = new Array<Buffer | undefined>(chunks.length);
    let pending = chunks.map((_, i) => i);
    let extra = alongside.filter(
      (c) => c.size > 0 && !this.#inflight.has(c.digest) && !this.#cache.has(this.layer, c.digest),
    );
    if (wantData) this.#notePrefetchUse(chunks);
    let firstPass = true;
    // Loops only when a shared fetch we waited on was aborted (pre-empted background work) or a
    // cached chunk vanished (evicted, or corrupt on disk): those chunks are simply asked again.
    while (pending.length > 0) {
      const waits = new Map<number, Promise<Buffer | undefined>>();
      const missing: ChunkSpec[] = [];
      let misses = 0; // a reader's chunks the cache did not have (fetched now or on their way)
      for (const i of pending) {
        const chunk = chunks[i];
        const inflight = this.#inflight.get(chunk.digest);
        if (chunk.size === 0) results[i] = Buffer.alloc(0);
        else if (inflight?.priority === Priority.background && priority !== Priority.background) {
          // A read must not wait behind a bulk background batch, which may still be queued for
          // the quiet period: abort running background work and fetch this chunk at our priority.
          this.#scheduler.preemptBackground();
          missing.push(chunk);
          misses++;
        } else if (inflight) {
          waits.set(i, inflight.promise);
          misses++;
        } else if (this.#cache.has(this.layer, chunk.digest)) {
          waits.set(i, wantData ? this.#fromCache(chunk) : Promise.resolve(Buffer.alloc(0)));
        } else {
          missing.push(chunk);
          misses++;
        }
      }
      if (wantData && firstPass && misses > 0) {
        this.#observer.cacheMiss?.({ layer: this.layer, chunks: misses });
      }
      firstPass = false;
      // Only worth it along with a request we make anyway — but as a request of their own: the
      // reader waits for its request's last byte, and neighbours would make that request larger
      // (more round trips of TCP slow start on a connection that was idle).
      this.#startFetches(missing, priority);
      if (missing.length > 0) this.#startFetches(extra, priority);
      extra = [];
      for (const i of pending) {
        if (results[i] === undefined && !waits.has(i)) {
          waits.set(i, this.#inflight.get(chunks[i].digest)!.promise);
        }
      }
      const retry: number[] = [];
      await Promise.all(
        [...waits].map(async ([i, wait]) => {
          try {
            const data = await wait;
            if (data === undefined) retry.push(i);
            else results[i] = data;
          } catch (e) {
            if (isAbort(e) && priority !== Priority.background) retry.push(i);
            else throw e;
          }
        }),
      );
      pending = retry;
    }
    return results;
  }

  /** Prefetch's hits: chunks it fetched that a reader now asks for, each counted once. */
  #notePrefetchUse(chunks: readonly ChunkSpec[]): void {
    if (this.#prefetched.size === 0) return;
    for (const chunk of chunks) {
      if (this.#prefetched.delete(chunk.digest)) {
        this.#observer.prefetchUsed?.({ layer: this.layer, bytes: chunk.size });
      }
    }
  }

  async #fromCache(chunk: ChunkSpec): Promise<Buffer | undefined> {
    const data = await this.#cache.get(this.layer, chunk.digest);
    if (data) this.#observer.cacheHit?.({ layer: this.layer, bytes: data.length });
    return data;
  }

  /**
   * Registers one in-flight promise per missing chunk. Ranges travel in groups of at most
   * REQUEST_GROUP_BYTES, one source.read() (one request, one scheduler slot) each: a 256 MiB
   * prefetch then holds a few groups in memory at a time instead of all of it, and the groups of
   * a big read run in parallel up to the class's concurrency.
   */
  #startFetches(missing: ChunkSpec[], priority: Priority): void {
    if (missing.length === 0) return;
    if (priority === Priority.prefetch) for (const c of missing) this.#prefetched.add(c.digest);
    const plans = coalesceChunks(missing, this.#coalesce);
    for (const group of groupByBytes(plans, (p) => p.range.length, REQUEST_GROUP_BYTES)) {
      void this.#startGroup(group, priority);
    }
  }

  /**
   * Registers the group's chunks as in flight and starts its request; resolves once the response
   * is in (each chunk's own promise settles as it is verified). `signal`: the request already
   * holds a scheduler slot (a background batch), so it goes out at once under that signal.
   */
  #startGroup(
    plans: RangePlan[],
    priority: Priority,
    signal?: AbortSignal,
  ): Promise<Map<string, Outcome | Promise<Outcome>>> {
    const batch = this.#fetchPlans(plans, priority, signal);
    for (const plan of plans) {
      for (const chunk of plan.chunks) {
        // Each chunk is ready when it is verified, not when the whole group is: a reader
        // waiting for one chunk of a 16 MiB prefetch group gets it as soon as it is decoded.
        const promise = batch.then(async (outcomes) => {
          const outcome = await outcomes.get(chunk.digest)!;
          if (outcome instanceof Error) throw outcome;
          return outcome;
        });
        promise.catch(() => undefined); // waiters handle it; a chunk nobody awaits must not crash us
        this.#inflight.set(chunk.digest, { promise, priority });
        void promise
          .finally(() => {
            if (this.#inflight.get(chunk.digest)?.promise === promise) {
              this.#inflight.delete(chunk.digest);
            }
          })
          .catch(() => undefined);
      }
    }
    return batch;
  }

  /** Fetches the group's ranges; then each chunk's outcome settles as that chunk is verified. */
  async #fetchPlans(
    plans: RangePlan[],
    priority: Priority,
    signal?: AbortSignal,
  ): Promise<Map<string, Outcome | Promise<Outcome>>> {
    const outcomes = new Map<string, Outcome | Promise<Outcome>>();
    let buffers: Buffer[];
    try {
      buffers = await this.#fetchRanges(
        plans.map((p) => p.range),
        priority,
        plans.reduce((n, p) => n + p.chunks.length, 0),
        signal,
      );
    } catch (e) {
      const error = isAbort(e)
        ? e
        : new ChunkFetchError(`fetching layer ${this.layer}: ${String(e)}`, { cause: e });
      for (const plan of plans) for (const c of plan.chunks) outcomes.set(c.digest, error as Error);
      return outcomes;
    }
    plans.forEach((plan, p) => {
      for (const chunk of plan.chunks) {
        const start = chunk.offset - plan.range.offset;
        const compressed = buffers[p].subarray(start, start + chunk.compressedSize);
        outcomes.set(chunk.digest, this.#verifyOrRefetch(chunk, compressed, priority));
      }
    });
    return outcomes;
  }

  async #fetchRanges(
    ranges: { offset: number; length: number }[],
    priority: Priority,
    chunkCount: number,
    granted?: AbortSignal,
  ): Promise<Buffer[]> {
    const started = performance.now();
    const buffers = granted
      ? await this.#source.read(ranges, granted)
      : await this.#scheduler.run(priority, (signal) => this.#source.read(ranges, signal));
    if (buffers.length !== ranges.length) {
      throw new Error(`range source returned ${buffers.length} parts for ${ranges.length} ranges`);
    }
    ranges.forEach((r, i) => {
      if (buffers[i].length !== r.length) {
        throw new Error(`range ${r.offset}+${r.length} returned ${buffers[i].length} bytes`);
      }
    });
    this.#observer.fetched?.({
      layer: this.layer,
      priority: priorityNames[priority],
      bytes: buffers.reduce((n, b) => n + b.length, 0),
      chunks: chunkCount,
      seconds: (performance.now() - started) / 1000,
    });
    return buffers;
  }

  async #decodeVerified(chunk: ChunkSpec, compressed: Buffer): Promise<Buffer | string> {
    let data: Buffer;
    try {
      data = await this.#decode(compressed, chunk);
    } catch (e) {
      return `cannot decode: ${(e as Error).message}`;
    }
    return matchesDigest(data, chunk.digest) ? data : 'digest mismatch';
  }

  async #verifyOrRefetch(
    chunk: ChunkSpec,
    compressed: Buffer,
    priority: Priority,
  ): Promise<Outcome> {
    let result = await this.#scheduler.decode(priority, () =>
      this.#decodeVerified(chunk, compressed),
    );
    if (typeof result === 'string') {
      this.#observer.verificationFailed?.({
        layer: this.layer,
        digest: chunk.digest,
        final: false,
      });
      try {
        const range = { offset: chunk.offset, length: chunk.compressedSize };
        const [again] = await this.#fetchRanges([range], priority, 1);
        result = await this.#scheduler.decode(priority, () => this.#decodeVerified(chunk, again));
      } catch (e) {
        return isAbort(e)
          ? (e as Error)
          : new ChunkFetchError(`refetching chunk ${chunk.digest}: ${String(e)}`);
      }
      if (typeof result === 'string') {
        this.#observer.verificationFailed?.({
          layer: this.layer,
          digest: chunk.digest,
          final: true,
        });
        return new ChunkVerificationError(this.layer, chunk.digest, result);
      }
    }
    // A full or failing disk must not fail the read. For a reader the write is not awaited (put()
    // fills the memory cache at once); prefetch and background wait for it: that is their flow
    // control, or a fast link would pile up inflated chunks in memory faster than the disk (and
    // the threadpool it shares with inflate) takes them.
    const hot = priority === Priority.onDemand || this.#soonRead.delete(chunk.digest);
    const stored = this.#cache
      .put(this.layer, chunk.digest, result, { hot })
      .catch(() => undefined);
    if (priority !== Priority.onDemand) await stored;
    return result;
  }
}

/** Compressed bytes per request group (see #startFetches). */
const REQUEST_GROUP_BYTES = 16 * 2 ** 20;
