// Per-layer fetch pipeline: chunks → cache lookup → coalesced, deduplicated range requests →
// decode → digest verification → cache → caller. The chunks of a request that fail verification
// and that a reader waits for are fetched once more, together (one request for their span); failing
// again they become ChunkVerificationErrors (EIO), are never served, and are refused without asking
// the registry for a while (verification-failures.ts). Failing chunks no reader waits for
// (neighbours, read-ahead, prefetch, background) are dropped without a refetch: a registry sending
// wrong bytes must not be asked twice for everything that rides along with a read.
import { matchesDigest, type ChunkCache } from '../cache/chunk-cache.ts';
import { coalesceChunks, groupByBytes, type CoalesceOptions, type RangePlan } from './coalesce.ts';
import { gzipChunkDecoder } from './decode.ts';
import { RequestHedger } from './hedge.ts';
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
import { VerificationFailures, type VerificationFailureOptions } from './verification-failures.ts';

export interface LayerFetcherOptions {
  /** The layer's compressed blob digest: cache namespace and label in metrics. */
  layer: string;
  source: RangeSource;
  cache: ChunkCache;
  scheduler: FetchScheduler;
  decode?: ChunkDecoder;
  coalesce?: Partial<CoalesceOptions>;
  observer?: FetchObserver;
  failures?: Partial<VerificationFailureOptions>;
}

/**
 * Chunks worth fetching along with a read's own, listed only when the read has to fetch: a
 * read served from the cache must not pay for listing (and looking up) thousands of small
 * neighbours, as every read of a cached small file once did.
 */
export type Neighbours = () => readonly ChunkSpec[];
const NO_NEIGHBOURS: Neighbours = () => [];

type Outcome = Buffer | Error;

/** A chunk of a request, decoded and verified, or why not. */
type Verified = Buffer | string;

interface InflightFetch {
  promise: Promise<Buffer>;
  priority: Priority;
  /** A reader waits for it: worth a refetch if it fails verification. */
  awaited: boolean;
}

/**
 * A speculatively fetched chunk failed verification and was dropped without a refetch. A reader
 * that started waiting for it meanwhile fetches it again itself.
 */
class DroppedChunkError extends ChunkFetchError {
  constructor(layer: string, digest: string, detail: string) {
    super(
      `chunk ${digest} of layer ${layer} failed verification (${detail}); dropped: no reader waited for it`,
    );
  }
}

export class LayerFetcher {
  readonly layer: string;
  readonly #source: RangeSource;
  readonly #cache: ChunkCache;
  readonly #scheduler: FetchScheduler;
  readonly #decode: ChunkDecoder;
  /** Durations of this layer's reader requests, and the hedges they allow. */
  readonly #hedger = new RequestHedger();
  readonly #coalesce: CoalesceOptions;
  readonly #observer: FetchObserver;
  /** One in-flight fetch per chunk digest, whoever asked first. */
  readonly #inflight = new Map<string, InflightFetch>();
  /** Chunks that failed verification twice lately, and whether speculation is paused. */
  readonly #failures: VerificationFailures;
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
    this.#failures = new VerificationFailures(options.failures);
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
    alongside: Neighbours = NO_NEIGHBOURS,
  ): Promise<Buffer[]> {
    if (priority === Priority.onDemand) this.#scheduler.noteRead();
    // Neighbours of a layer whose registry keeps sending wrong bytes would only fail too.
    const speculate = !this.#failures.speculationPaused;
    const out = await this.#obtain(chunks, priority, true, speculate ? alongside : NO_NEIGHBOURS);
    return out as Buffer[];
  }

  /**
   * Makes sure the chunks are in the cache without returning them (read-ahead, prefetch,
   * background). Speculative: chunks that failed verification recently are not asked again, and
   * nothing is fetched while the layer's speculation is paused.
   */
  async warm(chunks: readonly ChunkSpec[], priority: Priority): Promise<void> {
    if (this.#failures.speculationPaused) {
      throw new ChunkFetchError(
        `layer ${this.layer}: speculative fetches paused after repeated verification failures`,
      );
    }
    const worth = chunks.filter((c) => !this.#failures.failedRecently(c.digest));
    if (priority === Priority.background) await this.#warmBackground(worth);
    else await this.#obtain(worth, priority, false, NO_NEIGHBOURS);
    if (worth.length < chunks.length) {
      throw new ChunkFetchError(
        `layer ${this.layer}: ${chunks.length - worth.length} chunks failed verification recently`,
      );
    }
  }

  /**
   * Read-ahead: fetches the chunks not cached or on their way, and resolves once their response
   * has arrived — before it is inflated and verified, which goes on as for any fetch. A reader
   * that keeps a few of these running keeps that many requests on the network: waiting for the
   * decode as well left the link idle while the CPU worked (four chunks landing together were
   * decoded for 20 ms before the next requests went out). Never rejects: the read that needs a
   * chunk reports its failure.
   */
  async fetchAhead(chunks: readonly ChunkSpec[]): Promise<void> {
    if (this.#failures.speculationPaused) return;
    // As for a read: a chunk on its way in a background batch is fetched again at our priority
    // (the batch is aborted), not waited for.
    const inBackground = (c: ChunkSpec) =>
      this.#inflight.get(c.digest)?.priority === Priority.background;
    if (chunks.some(inBackground)) this.#scheduler.preemptBackground();
    const missing = this.#worthFetching(chunks, inBackground);
    const mine = new Set(missing.map((c) => c.digest));
    const others = chunks
      .filter((c) => !mine.has(c.digest))
      .map((c) => this.#inflight.get(c.digest)?.promise);
    const received = this.#startFetches(missing, Priority.onDemand);
    await Promise.allSettled([...received, ...others]);
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

  /**
   * Chunks not cached, not on their way (unless `overtake` says to fetch one again) and not
   * failing: what a request may add.
   */
  #worthFetching(
    alongside: readonly ChunkSpec[],
    overtake: (c: ChunkSpec) => boolean = () => false,
  ): ChunkSpec[] {
    return alongside.filter(
      (c) =>
        c.size > 0 &&
        (!this.#inflight.has(c.digest) || overtake(c)) &&
        !this.#cache.has(this.layer, c.digest) &&
        !this.#failures.failedRecently(c.digest),
    );
  }

  async #obtain(
    chunks: readonly ChunkSpec[],
    priority: Priority,
    wantData: boolean,
    alongside: Neighbours,
  ): Promise<(Buffer | undefined)[]> {
    const results: (Buffer | undefined)[] = new Array<Buffer | undefined>(chunks.length);
    let pending = chunks.map((_, i) => i);
    let neighbours: Neighbours | undefined = alongside;
    if (wantData) this.#notePrefetchUse(chunks);
    let firstPass = true;
    // Loops only when a shared fetch we waited on was aborted (pre-empted background work) or a
    // cached chunk vanished (evicted, or corrupt on disk): those chunks are simply asked again.
    while (pending.length > 0) {
      if (wantData) this.#refuseRecentFailures(pending.map((i) => chunks[i]));
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
          if (wantData) inflight.awaited = true;
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
      void this.#startFetches(missing, priority);
      if (missing.length > 0 && neighbours)
        void this.#startFetches(this.#worthFetching(neighbours()), priority);
      neighbours = undefined;
      for (const i of pending) {
        if (results[i] === undefined && !waits.has(i)) {
          const started = this.#inflight.get(chunks[i].digest)!;
          if (wantData) started.awaited = true;
          waits.set(i, started.promise);
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
            // Dropped before we started waiting: fetched again, now as a reader's chunk.
            else if (wantData && e instanceof DroppedChunkError) retry.push(i);
            else throw e;
          }
        }),
      );
      pending = retry;
    }
    return results;
  }

  /**
   * A read of a chunk that failed verification twice recently fails at once: the registry sent
   * wrong bytes twice and would most likely send them again.
   */
  #refuseRecentFailures(chunks: readonly ChunkSpec[]): void {
    for (const chunk of chunks) {
      if (this.#failures.failedRecently(chunk.digest) && !this.isCached(chunk)) {
        const seconds = this.#failures.options.rememberMs / 1000;
        throw new ChunkVerificationError(
          this.layer,
          chunk.digest,
          `less than ${seconds} s ago; the registry is not asked again before then`,
          true,
        );
      }
    }
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
  #startFetches(missing: ChunkSpec[], priority: Priority): Promise<unknown>[] {
    if (missing.length === 0) return [];
    if (priority === Priority.prefetch) for (const c of missing) this.#prefetched.add(c.digest);
    const plans = coalesceChunks(missing, this.#coalesce);
    return groupByBytes(plans, (p) => p.range.length, REQUEST_GROUP_BYTES).map((group) =>
      this.#startGroup(group, priority),
    );
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
    const entries = new Map<string, InflightFetch>();
    const awaited = (digest: string): boolean => entries.get(digest)?.awaited === true;
    const batch = this.#fetchPlans(plans, priority, awaited, signal);
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
        const entry: InflightFetch = { promise, priority, awaited: false };
        entries.set(chunk.digest, entry);
        this.#inflight.set(chunk.digest, entry);
        void promise
          .finally(() => {
            if (this.#inflight.get(chunk.digest) === entry) this.#inflight.delete(chunk.digest);
          })
          .catch(() => undefined);
      }
    }
    return batch;
  }

  /**
   * Fetches the group's ranges; then each chunk's outcome settles as that chunk is verified (the
   * ones that fail, once the whole group is checked: see #retryFailed). `awaited`: whether a
   * reader waits for a chunk.
   */
  async #fetchPlans(
    plans: RangePlan[],
    priority: Priority,
    awaited: (digest: string) => boolean,
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
    const chunks = plans.flatMap((p) => p.chunks);
    const checks = new Map<string, Promise<Verified>>();
    plans.forEach((plan, p) => {
      for (const chunk of plan.chunks) {
        const compressed = compressedBytes(buffers[p], plan, chunk);
        const check = this.#scheduler.decode(priority, () =>
          this.#decodeVerified(chunk, compressed),
        );
        checks.set(chunk.digest, check);
      }
    });
    const retried = this.#retryFailed(chunks, checks, awaited);
    for (const chunk of chunks) {
      outcomes.set(chunk.digest, this.#settle(chunk, checks.get(chunk.digest)!, retried, priority));
    }
    return outcomes;
  }

  async #settle(
    chunk: ChunkSpec,
    check: Promise<Verified>,
    retried: Promise<Map<string, Outcome>>,
    priority: Priority,
  ): Promise<Outcome> {
    const result = await check;
    if (typeof result !== 'string') return this.#accept(chunk, result, priority);
    return (await retried).get(chunk.digest)!;
  }

  /**
   * Once every chunk of the group is checked: the failed ones a reader waits for are fetched once
   * more, in one request for their span (as far as coalescing allows), and the others dropped.
   * A refetch per chunk, neighbours included, made a registry sending shifted ranges answer 206
   * requests for one 3.7 KB file. Never rejects: every failed chunk gets its outcome.
   */
  async #retryFailed(
    chunks: ChunkSpec[],
    checks: Map<string, Promise<Verified>>,
    awaited: (digest: string) => boolean,
  ): Promise<Map<string, Outcome>> {
    const outcomes = new Map<string, Outcome>();
    const failed: { chunk: ChunkSpec; why: string }[] = [];
    for (const chunk of chunks) {
      const result = await checks.get(chunk.digest)!;
      if (typeof result === 'string') failed.push({ chunk, why: result });
    }
    const refetch: ChunkSpec[] = [];
    for (const { chunk, why } of failed) {
      const wanted = awaited(chunk.digest);
      this.#noteFailure(chunk, !wanted);
      if (wanted) refetch.push(chunk);
      else outcomes.set(chunk.digest, new DroppedChunkError(this.layer, chunk.digest, why));
    }
    if (refetch.length > 0) {
      for (const [digest, outcome] of await this.#refetch(refetch)) outcomes.set(digest, outcome);
    }
    return outcomes;
  }

  /** Fetches chunks that failed verification once more, for a waiting reader: at its priority. */
  async #refetch(chunks: ChunkSpec[]): Promise<Map<string, Outcome>> {
    const outcomes = new Map<string, Outcome>();
    const plans = coalesceChunks(chunks, this.#coalesce);
    let buffers: Buffer[];
    try {
      buffers = await this.#fetchRanges(
        plans.map((p) => p.range),
        Priority.onDemand,
        chunks.length,
      );
    } catch (e) {
      const error = isAbort(e)
        ? (e as Error)
        : new ChunkFetchError(
            `refetching ${chunks.length} chunks of layer ${this.layer}: ${String(e)}`,
          );
      for (const chunk of chunks) outcomes.set(chunk.digest, error);
      return outcomes;
    }
    const verifying = plans.flatMap((plan, p) =>
      plan.chunks.map(async (chunk) => {
        const compressed = compressedBytes(buffers[p], plan, chunk);
        // Through the scheduler like every other decode: inflate shares the thread pool.
        const result = await this.#scheduler.decode(Priority.onDemand, () =>
          this.#decodeVerified(chunk, compressed),
        );
        outcomes.set(chunk.digest, await this.#acceptRefetched(chunk, result));
      }),
    );
    await Promise.all(verifying);
    return outcomes;
  }

  async #acceptRefetched(chunk: ChunkSpec, result: Verified): Promise<Outcome> {
    if (typeof result !== 'string') return this.#accept(chunk, result, Priority.onDemand);
    this.#failures.rememberFailedTwice(chunk.digest);
    this.#noteFailure(chunk, true);
    return new ChunkVerificationError(this.layer, chunk.digest, result);
  }

  /** `final`: the chunk is given up (failed twice, or failed once with no reader waiting). */
  #noteFailure(chunk: ChunkSpec, final: boolean): void {
    this.#failures.noteFailure();
    this.#observer.verificationFailed?.({ layer: this.layer, digest: chunk.digest, final });
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
      : await this.#scheduler.run(priority, (signal) =>
          priority === Priority.onDemand
            ? this.#hedgedRead(ranges, signal)
            : this.#source.read(ranges, signal),
        );
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

  /** A reader's request, asked again if it straggles (fetch/hedge.ts). */
  #hedgedRead(ranges: { offset: number; length: number }[], signal: AbortSignal) {
    const bytes = ranges.reduce((n, r) => n + r.length, 0);
    return this.#hedger.run(
      bytes,
      signal,
      (attempt, hedge) => this.#source.read(ranges, attempt, { separate: hedge }),
      (e) => this.#observer.hedged?.({ layer: this.layer, ...e }),
    );
  }

  async #decodeVerified(chunk: ChunkSpec, compressed: Buffer): Promise<Verified> {
    let data: Buffer;
    try {
      data = await this.#decode(compressed, chunk);
    } catch (e) {
      return `cannot decode: ${(e as Error).message}`;
    }
    return matchesDigest(data, chunk.digest) ? data : 'digest mismatch';
  }

  /** A verified chunk: into the cache, and out to its readers. */
  async #accept(chunk: ChunkSpec, data: Buffer, priority: Priority): Promise<Outcome> {
    this.#failures.forget(chunk.digest);
    // A full or failing disk must not fail the read. For a reader the write is not awaited (put()
    // fills the memory cache at once); prefetch and background wait for it: that is their flow
    // control, or a fast link would pile up inflated chunks in memory faster than the disk (and
    // the threadpool it shares with inflate) takes them.
    const hot = priority === Priority.onDemand || this.#soonRead.delete(chunk.digest);
    const stored = this.#cache.put(this.layer, chunk.digest, data, { hot }).catch(() => undefined);
    if (priority !== Priority.onDemand) await stored;
    return data;
  }
}

/** The compressed bytes of `chunk` in the response to `plan`'s range. */
function compressedBytes(response: Buffer, plan: RangePlan, chunk: ChunkSpec): Buffer {
  const start = chunk.offset - plan.range.offset;
  return response.subarray(start, start + chunk.compressedSize);
}

/** Compressed bytes per request group (see #startFetches). */
const REQUEST_GROUP_BYTES = 16 * 2 ** 20;
