// Background fetch: walks every layer in use, in blob order, and pulls what is not cached yet in
// large coalesced batches at the lowest priority. Batches are pre-empted by on-demand reads (the
// scheduler aborts them) and simply retried when the network is quiet again.
import type { LayerFetcher } from './layer-fetcher.ts';
import type { FetchScheduler } from './scheduler.ts';
import { isAbort, Priority, type ChunkSpec } from './types.ts';

export interface BackgroundOptions {
  enabled?: boolean;
  concurrency?: number;
  /** Decompressed bytes per batch (one range request). */
  batchBytes?: number;
  /** Wait after a failed batch before that layer is tried again. */
  retryDelayMs?: number;
  /** Failed batches after which a layer is given up (until it is added again). */
  maxFailures?: number;
  /**
   * Whether the cache can take this many more bytes without evicting chunks of layers in use. A
   * batch that does not fit waits (roomRetryMs), so a cache smaller than the images in use holds
   * the containers' working set instead of cycling the rest of their images through.
   */
  hasRoom?: (bytes: number) => boolean;
  roomRetryMs?: number;
  /** The fetch stopped for want of room (true) or went on again (false); called on each change. */
  onRoom?: (waiting: boolean) => void;
  onLayerDone?: (layer: string) => void;
  onError?: (layer: string, error: unknown) => void;
}

/**
 * A layer's chunks in blob order, made as the walk reaches them: the whole list of a layer with
 * 8k files took 15 ms to build (profiled), in the `use` request that ends a pull.
 */
export interface ChunkList {
  readonly length: number;
  at(i: number): ChunkSpec;
}

interface Job {
  fetcher: LayerFetcher;
  chunks: ChunkList;
  cursor: number;
  active: number;
  failures: number;
  notBefore: number;
}

interface Batch {
  job: Job;
  start: number;
  batch: ChunkSpec[];
  bytes: number;
}

function isArray(chunks: readonly ChunkSpec[] | ChunkList): chunks is readonly ChunkSpec[] {
  return Array.isArray(chunks);
}

function inBlobOrder(chunks: readonly ChunkSpec[]): ChunkList {
  const sorted = [...chunks].sort((a, b) => a.offset - b.offset);
  return { length: sorted.length, at: (i) => sorted[i] };
}

export class BackgroundFetcher {
  readonly #scheduler: FetchScheduler;
  readonly #jobs = new Map<string, Job>();
  #enabled: boolean;
  #concurrency: number;
  readonly #batchBytes: number;
  readonly #retryDelayMs: number;
  readonly #maxFailures: number;
  readonly #options: BackgroundOptions;
  #workers = 0;
  #rr = 0;
  #wake: (() => void) | undefined;
  #stopped = false;
  #waitingForRoom = false;
  /** Bytes of the batches in progress: not in the cache yet, but on their way there. */
  #inProgressBytes = 0;

  constructor(scheduler: FetchScheduler, options: BackgroundOptions = {}) {
    this.#scheduler = scheduler;
    this.#enabled = options.enabled ?? true;
    this.#concurrency = options.concurrency ?? 4;
    this.#batchBytes = options.batchBytes ?? 8 * 2 ** 20;
    this.#retryDelayMs = options.retryDelayMs ?? 5000;
    this.#maxFailures = options.maxFailures ?? 5;
    this.#options = options;
  }

  /**
   * Queues a layer's chunks: the whole layer, as an array in any order, or as a list already in
   * blob order.
   */
  add(fetcher: LayerFetcher, chunks: readonly ChunkSpec[] | ChunkList): void {
    if (this.#jobs.has(fetcher.layer)) return;
    this.#jobs.set(fetcher.layer, {
      fetcher,
      chunks: isArray(chunks) ? inBlobOrder(chunks) : chunks,
      cursor: 0,
      active: 0,
      failures: 0,
      notBefore: 0,
    });
    this.#spawn();
  }

  remove(layer: string): void {
    this.#jobs.delete(layer);
  }

  has(layer: string): boolean {
    return this.#jobs.has(layer);
  }

  configure(enabled: boolean, concurrency: number): void {
    this.#enabled = enabled;
    this.#concurrency = concurrency;
    this.#spawn();
  }

  stop(): void {
    this.#stopped = true;
    this.#wake?.();
  }

  /** Layers still queued or being fetched. */
  get pendingLayers(): string[] {
    return [...this.#jobs.keys()];
  }

  /**
   * Batches in progress: twice the requests allowed in flight (the scheduler bounds those). A
   * batch is a request, then the decode of its chunks (one chunk at a time for all bulk work, see
   * FetchScheduler.decode); with one batch per request, each request's connection idles while its
   * batch decodes. The extra batches have their request in flight meanwhile.
   */
  get #batchesInProgress(): number {
    return this.#concurrency * 2;
  }

  #spawn(): void {
    if (!this.#enabled || this.#stopped) return;
    while (this.#workers < this.#batchesInProgress) {
      this.#workers++;
      void this.#work().finally(() => this.#workers--);
    }
    this.#wake?.();
  }

  async #work(): Promise<void> {
    while (!this.#stopped && this.#enabled && this.#workers <= this.#batchesInProgress) {
      await this.#scheduler.backgroundTurn();
      if (this.#stopped || !this.#enabled) return;
      const next = this.#nextBatch();
      if (next === 'idle') return;
      if (next === 'later') {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 250);
          this.#wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        continue;
      }
      await this.#runBatch(next);
    }
  }

  /** Picks the next uncached run of chunks, round-robin over layers. */
  #nextBatch(): Batch | 'idle' | 'later' {
    const jobs = [...this.#jobs.values()];
    if (jobs.length === 0) return 'idle';
    let waiting = false;
    let noRoom = false;
    for (let n = 0; n < jobs.length; n++) {
      const job = jobs[(this.#rr + n) % jobs.length];
      if (job.notBefore > Date.now()) {
        waiting = true;
        continue;
      }
      const start = job.cursor;
      const batch: ChunkSpec[] = [];
      let bytes = 0;
      while (job.cursor < job.chunks.length && (batch.length === 0 || bytes < this.#batchBytes)) {
        const chunk = job.chunks.at(job.cursor++);
        if (job.fetcher.isCached(chunk)) continue; // empty chunks count as cached
        batch.push(chunk);
        bytes += chunk.size;
      }
      if (batch.length === 0) {
        if (job.active === 0) this.#finish(job);
        else waiting = true;
        continue;
      }
      if (!(this.#options.hasRoom?.(this.#inProgressBytes + bytes) ?? true)) {
        job.cursor = start;
        job.notBefore = Date.now() + (this.#options.roomRetryMs ?? 10_000);
        waiting = true;
        noRoom = true;
        continue;
      }
      this.#setWaitingForRoom(false);
      this.#rr = (this.#rr + n + 1) % Math.max(1, jobs.length);
      return { job, start, batch, bytes };
    }
    // Stopped for room only when no layer's batch could go; while some still fit, the fetch goes
    // on (with several layers, telling each refusal made the log flap every roomRetryMs).
    if (noRoom) this.#setWaitingForRoom(true);
    return waiting ? 'later' : 'idle';
  }

  #setWaitingForRoom(waiting: boolean): void {
    if (waiting === this.#waitingForRoom) return;
    this.#waitingForRoom = waiting;
    this.#options.onRoom?.(waiting);
  }

  async #runBatch({ job, start, batch, bytes }: Batch): Promise<void> {
    job.active++;
    this.#inProgressBytes += bytes;
    try {
      await job.fetcher.warm(batch, Priority.background);
      job.failures = 0;
    } catch (e) {
      job.cursor = Math.min(job.cursor, start); // not done: plan it again
      if (!isAbort(e)) {
        job.failures++;
        job.notBefore = Date.now() + this.#retryDelayMs;
        this.#options.onError?.(job.fetcher.layer, e);
        if (job.failures >= this.#maxFailures) this.#jobs.delete(job.fetcher.layer);
      } else if (this.#scheduler.stopped) this.#stopped = true;
    } finally {
      job.active--;
      this.#inProgressBytes -= bytes;
    }
  }

  #finish(job: Job): void {
    if (this.#jobs.get(job.fetcher.layer) !== job) return;
    this.#jobs.delete(job.fetcher.layer);
    this.#options.onLayerDone?.(job.fetcher.layer);
  }
}
