// Shares the network between on-demand reads, landmark prefetch and background fetch.
//
// Each class has its own concurrency bound. On-demand and prefetch work is "prioritized": when
// it starts, running background requests are aborted (their callers retry later). Background
// requests start only when no prioritized work runs and no read has come for a quiet period — so
// a container's reads never queue behind bulk transfer, yet an idle container ends up with its
// whole image local. Reads restart the quiet period (cached ones too), and so does a pull
// (`preemptBackground` from the layer manager): it measures whether a container is starting. A
// prefetch ending says nothing about that (counting it delayed the background fetch of every
// image by the prefetch's length plus a whole period).
//
// The pause is bounded: a container whose start is a long series of small misses (an image
// without a prefetch landmark) keeps the network "busy" yet uses little of it. After `maxPauseMs`
// of waiting, one background request at a time runs beside the prioritized work and is not
// aborted, so such an image still arrives in full. The bound is long (30 s by default) because a
// bulk transfer beside a start's small reads queues in front of them on the bottleneck link: with
// a 1 s bound the node benchmark's start went from 3.6 s to 8.5 s at 20 ms RTT.
//
// It also bounds the CPU that bulk work takes: prefetch and background chunks are inflated and
// verified one at a time, so that on a small node they leave a core to the runtime starting the
// container (on 2 vCPUs a 21 MB prefetch decoded on every core made `podman run` of a small
// command 0.13 s slower). On-demand chunks are decoded at once.
//
// And it bounds how long bulk decoding holds the JavaScript thread: small chunks inflate inline,
// and one decode hands the slot to the next as a promise, so a 16 MiB group of small files
// inflated in one unbroken run of microtasks while the container's FUSE requests waited. Bulk
// work now yields to the event loop after every BULK_SLICE_MS of it.
import { FetchAbortedError, Priority } from './types.ts';

export interface SchedulerOptions {
  onDemandConcurrency?: number;
  prefetchConcurrency?: number;
  backgroundConcurrency?: number;
  /** Background requests wait this long after the last on-demand request or pull. */
  quietPeriodMs?: number;
  /** Longest time background work waits for quiet before one request runs anyway. */
  maxPauseMs?: number;
  /** Prefetch and background chunks decoded (inflated, verified, stored) at a time. */
  bulkDecodeConcurrency?: number;
}

class Semaphore {
  #available: number;
  readonly #waiters: (() => void)[] = [];
  constructor(count: number) {
    this.#available = count;
  }
  setCount(count: number, previous: number): void {
    this.#available += count - previous;
    this.#wake();
  }
  async acquire(): Promise<void> {
    if (this.#available > 0) {
      this.#available--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }
  release(): void {
    this.#available++;
    this.#wake();
  }
  #wake(): void {
    while (this.#available > 0 && this.#waiters.length > 0) {
      this.#available--;
      this.#waiters.shift()!();
    }
  }
}

/** Longest stretch of bulk decoding before pending I/O (a container's reads) gets a turn. */
const BULK_SLICE_MS = 2;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class FetchScheduler {
  readonly #slots: Semaphore[];
  readonly #bulkDecode: Semaphore;
  /** When bulk decoding last let the event loop run. */
  #bulkTurnStartedAt = 0;
  #backgroundConcurrency: number;
  #quietPeriodMs: number;
  #maxPauseMs: number;
  #prioritizedActive = 0;
  /** Since when background work has been waiting without getting to run in quiet. */
  #pausedSince: number | undefined;
  #backgroundWaiting = 0;
  /** Background requests running beside prioritized work (at most one). */
  #unpausedActive = 0;
  /** When the last on-demand request started or finished, or a read or pull pre-empted background. */
  #lastOnDemandAt = 0;
  readonly #background = new Set<AbortController>();
  readonly #quietWaiters = new Set<() => void>();
  #stopped = false;

  constructor(options: SchedulerOptions = {}) {
    this.#backgroundConcurrency = options.backgroundConcurrency ?? 4;
    this.#quietPeriodMs = options.quietPeriodMs ?? 1000;
    this.#maxPauseMs = options.maxPauseMs ?? 30_000;
    this.#slots = [
      new Semaphore(options.onDemandConcurrency ?? 8),
      new Semaphore(options.prefetchConcurrency ?? 2),
      new Semaphore(this.#backgroundConcurrency),
    ];
    this.#bulkDecode = new Semaphore(options.bulkDecodeConcurrency ?? 1);
  }

  /** Runs a chunk's decode: at once for a reader, one (or a few) at a time for bulk work. */
  async decode<T>(priority: Priority, fn: () => Promise<T>): Promise<T> {
    if (priority === Priority.onDemand) return fn();
    await this.#bulkDecode.acquire();
    try {
      if (performance.now() - this.#bulkTurnStartedAt > BULK_SLICE_MS) {
        await nextTurn();
        this.#bulkTurnStartedAt = performance.now();
      }
      return await fn();
    } finally {
      this.#bulkDecode.release();
    }
  }

  /** Applies a configuration reload. */
  configureBackground(concurrency: number, quietPeriodMs: number, maxPauseMs?: number): void {
    this.#slots[Priority.background].setCount(concurrency, this.#backgroundConcurrency);
    this.#backgroundConcurrency = concurrency;
    this.#quietPeriodMs = quietPeriodMs;
    if (maxPauseMs !== undefined) this.#maxPauseMs = maxPauseMs;
  }

  /** Runs one network request of the given class; `fn` must honour the signal. */
  async run<T>(priority: Priority, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.#stopped) throw new FetchAbortedError();
    if (priority === Priority.background) return this.#runBackground(fn);
    this.#prioritizedActive++;
    if (priority === Priority.onDemand) this.#lastOnDemandAt = Date.now();
    for (const controller of this.#background) controller.abort();
    const slots = this.#slots[priority];
    await slots.acquire();
    try {
      return await fn(new AbortController().signal);
    } finally {
      slots.release();
      this.#prioritizedActive--;
      if (priority === Priority.onDemand) this.#lastOnDemandAt = Date.now();
      this.#checkQuiet();
    }
  }

  /**
   * Resolves when a background request could start: in quiet, or once its pause is over. The
   * background fetch plans its next batch only then, not during a pull's quiet period, when
   * planning 8 batches of a 20k-file layer blocked the `use` that ends the pull for 26 ms.
   */
  async backgroundTurn(): Promise<void> {
    this.#backgroundWaiting++;
    this.#pausedSince ??= Date.now();
    try {
      // Not decided in the caller's tick: whoever queued the work may end the quiet in that same
      // tick (a pull's `use` queues the layer, then restarts the quiet period).
      await Promise.resolve();
      await this.#waitForTurn();
    } finally {
      this.#backgroundWaiting--;
      if (this.#isQuiet()) this.#pausedSince = undefined;
    }
  }

  /**
   * A container read a file, from the cache or not: it is still starting, so the quiet period
   * restarts. Running background requests go on (a cached read needs no network). Counting only
   * the reads that went to the registry let the background fetch start during node's start with
   * its landmark prefetch (its reads were all cached): a 1 s quiet period made that start 3.1 →
   * 4.7 s at 20 ms.
   */
  noteRead(): void {
    this.#lastOnDemandAt = Date.now();
  }

  /** Aborts running background requests and restarts the quiet period (a read or a pull). */
  preemptBackground(): void {
    this.#lastOnDemandAt = Date.now();
    for (const controller of this.#background) controller.abort();
  }

  async #runBackground<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const slots = this.#slots[Priority.background];
    let unpaused = false;
    this.#backgroundWaiting++;
    this.#pausedSince ??= Date.now();
    try {
      for (;;) {
        await this.#waitForTurn();
        await slots.acquire();
        if (this.#stopped) {
          slots.release();
          throw new FetchAbortedError();
        }
        if (this.#isQuiet()) break;
        if (this.#mayRunUnpaused()) {
          unpaused = true;
          this.#unpausedActive++;
          break;
        }
        slots.release(); // prioritized work arrived while we queued for a slot
      }
    } finally {
      this.#backgroundWaiting--;
    }
    // In quiet the pause is over; an unpaused request keeps the lane open for the next one.
    if (!unpaused) this.#pausedSince = undefined;
    const controller = new AbortController();
    if (!unpaused) this.#background.add(controller);
    try {
      const result = await fn(controller.signal);
      if (controller.signal.aborted) throw new FetchAbortedError();
      return result;
    } catch (e) {
      throw controller.signal.aborted ? new FetchAbortedError() : e;
    } finally {
      if (unpaused) this.#unpausedActive--;
      else this.#background.delete(controller);
      if (this.#backgroundWaiting === 0 && this.#unpausedActive === 0) {
        this.#pausedSince = undefined;
      }
      slots.release();
      this.#wakeWaiters();
    }
  }

  /** Background work has waited out `maxPauseMs` and the one unpaused lane is free. */
  #mayRunUnpaused(): boolean {
    return (
      this.#unpausedActive === 0 &&
      this.#pausedSince !== undefined &&
      Date.now() - this.#pausedSince >= this.#maxPauseMs
    );
  }

  /** Resolves when background work may try to start: in quiet, or once its pause is over. */
  async #waitForTurn(): Promise<void> {
    while (!this.#stopped && !this.#isQuiet() && !this.#mayRunUnpaused()) {
      const untilQuiet =
        this.#prioritizedActive > 0
          ? Infinity
          : this.#quietPeriodMs - (Date.now() - this.#lastOnDemandAt);
      const untilUnpaused =
        this.#unpausedActive > 0 || this.#pausedSince === undefined
          ? Infinity
          : this.#maxPauseMs - (Date.now() - this.#pausedSince);
      await this.#sleep(Math.min(untilQuiet, untilUnpaused));
    }
  }

  /** Sleeps `ms` (forever when Infinity) or until a quiet/lane change wakes the waiters. */
  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#quietWaiters.delete(done);
        resolve();
      };
      const timer = Number.isFinite(ms) ? setTimeout(done, Math.max(1, ms)) : undefined;
      this.#quietWaiters.add(done);
    });
  }

  #isQuiet(): boolean {
    return (
      this.#prioritizedActive === 0 && Date.now() - this.#lastOnDemandAt >= this.#quietPeriodMs
    );
  }

  #checkQuiet(): void {
    if (this.#prioritizedActive === 0) this.#wakeWaiters();
  }

  #wakeWaiters(): void {
    for (const wake of [...this.#quietWaiters]) wake();
  }

  /** Aborts background work and refuses new requests (agent shutdown). */
  stop(): void {
    this.#stopped = true;
    for (const controller of this.#background) controller.abort();
    this.#wakeWaiters();
  }

  get stopped(): boolean {
    return this.#stopped;
  }
}
