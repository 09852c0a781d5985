// Shares the network between on-demand reads, landmark prefetch and background fetch.
//
// Each class has its own concurrency bound. On-demand and prefetch work is "prioritized": when
// it starts, running background requests are aborted (their callers retry later), and background
// requests only start after a quiet period with no prioritized work — so a container's reads
// never queue behind bulk transfer, yet an idle container ends up with its whole image local.
import { FetchAbortedError, Priority } from './types.ts';

export interface SchedulerOptions {
  onDemandConcurrency?: number;
  prefetchConcurrency?: number;
  backgroundConcurrency?: number;
  /** Background requests wait this long after the last prioritized request finished. */
  quietPeriodMs?: number;
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

export class FetchScheduler {
  readonly #slots: Semaphore[];
  #backgroundConcurrency: number;
  #quietPeriodMs: number;
  #prioritizedActive = 0;
  #lastPrioritizedAt = 0;
  readonly #background = new Set<AbortController>();
  readonly #quietWaiters = new Set<() => void>();
  #stopped = false;

  constructor(options: SchedulerOptions = {}) {
    this.#backgroundConcurrency = options.backgroundConcurrency ?? 2;
    this.#quietPeriodMs = options.quietPeriodMs ?? 5000;
    this.#slots = [
      new Semaphore(options.onDemandConcurrency ?? 8),
      new Semaphore(options.prefetchConcurrency ?? 2),
      new Semaphore(this.#backgroundConcurrency),
    ];
  }

  /** Applies a configuration reload. */
  configureBackground(concurrency: number, quietPeriodMs: number): void {
    this.#slots[Priority.background].setCount(concurrency, this.#backgroundConcurrency);
    this.#backgroundConcurrency = concurrency;
    this.#quietPeriodMs = quietPeriodMs;
  }

  /** Runs one network request of the given class; `fn` must honour the signal. */
  async run<T>(priority: Priority, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.#stopped) throw new FetchAbortedError();
    if (priority === Priority.background) return this.#runBackground(fn);
    this.#prioritizedActive++;
    this.#lastPrioritizedAt = Date.now();
    for (const controller of this.#background) controller.abort();
    const slots = this.#slots[priority];
    await slots.acquire();
    try {
      return await fn(new AbortController().signal);
    } finally {
      slots.release();
      this.#prioritizedActive--;
      this.#lastPrioritizedAt = Date.now();
      this.#checkQuiet();
    }
  }

  /** Aborts running background requests and restarts the quiet period (a read needs the network). */
  preemptBackground(): void {
    this.#lastPrioritizedAt = Date.now();
    for (const controller of this.#background) controller.abort();
  }

  async #runBackground<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const slots = this.#slots[Priority.background];
    for (;;) {
      await this.waitUntilQuiet();
      await slots.acquire();
      if (this.#stopped) {
        slots.release();
        throw new FetchAbortedError();
      }
      if (this.#isQuiet()) break;
      slots.release(); // prioritized work arrived while we queued for a slot
    }
    const controller = new AbortController();
    this.#background.add(controller);
    try {
      const result = await fn(controller.signal);
      if (controller.signal.aborted) throw new FetchAbortedError();
      return result;
    } catch (e) {
      throw controller.signal.aborted ? new FetchAbortedError() : e;
    } finally {
      this.#background.delete(controller);
      slots.release();
    }
  }

  #isQuiet(): boolean {
    return (
      this.#prioritizedActive === 0 && Date.now() - this.#lastPrioritizedAt >= this.#quietPeriodMs
    );
  }

  /** Resolves once no prioritized request has run for the quiet period (or on stop). */
  async waitUntilQuiet(): Promise<void> {
    while (!this.#stopped && !this.#isQuiet()) {
      const wait =
        this.#prioritizedActive > 0
          ? undefined
          : this.#quietPeriodMs - (Date.now() - this.#lastPrioritizedAt);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.#quietWaiters.delete(done);
          resolve();
        };
        const timer = wait === undefined ? undefined : setTimeout(done, Math.max(1, wait));
        this.#quietWaiters.add(done);
      });
    }
  }

  #checkQuiet(): void {
    if (this.#prioritizedActive === 0) for (const wake of [...this.#quietWaiters]) wake();
  }

  /** Aborts background work and refuses new requests (agent shutdown). */
  stop(): void {
    this.#stopped = true;
    for (const controller of this.#background) controller.abort();
    for (const wake of [...this.#quietWaiters]) wake();
  }

  get stopped(): boolean {
    return this.#stopped;
  }
}
