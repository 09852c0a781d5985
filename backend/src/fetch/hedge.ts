// Hedged range requests: when a reader's request takes far longer than requests of its size
// usually take, the same ranges are asked again (another connection) and the first complete
// answer wins; the other is aborted. Why: one request stuck in TCP loss recovery (a retransmission
// timeout, then slow start) held a sequential reader for 0.5-1 s while the rest of its read-ahead
// window had long arrived — in a sixth of the 20 ms RTT runs, the read's whole slowdown. The
// duplicate costs the bytes of one request, so hedges are rare by construction: only after
// HEDGE_FACTOR times the median of recent requests of the same size class, only once that median
// rests on enough samples, and within a budget of a few per hundred requests. Requests under
// MIN_HEDGE_BYTES are not hedged: a small one lost to a retransmission timeout costs that timeout
// whether or not a second request goes out three round trips later.

/** Smallest request that is hedged (its transfer spans several round trips). */
export const MIN_HEDGE_BYTES = 2 ** 20;
/** Requests of one size class remembered for its median. */
const SAMPLES = 16;
/** Samples a size class needs before its requests are hedged. */
const MIN_SAMPLES = 8;
/** A request is hedged after this many times its class's median duration... */
const HEDGE_FACTOR = 3;
/** ...and never sooner than this (a round trip on a slow link is not a straggler). */
const MIN_HEDGE_DELAY_MS = 100;
/** Hedges allowed: this share of the requests made, plus a few to start with. */
const BUDGET_SHARE = 0.05;
const BUDGET_START = 2;

export interface HedgeEvent {
  bytes: number;
  /** How long the first request had been running when the hedge went out. */
  afterMs: number;
}

/** Size class: requests within a factor of two of each other take comparable times. */
function sizeClass(bytes: number): number {
  return Math.ceil(Math.log2(Math.max(bytes, 1)));
}

export class RequestHedger {
  readonly #durations = new Map<number, number[]>();
  #requests = 0;
  #hedges = 0;

  /** The delay after which a request of `bytes` is hedged, or undefined (not enough history). */
  delayFor(bytes: number): number | undefined {
    const samples = this.#durations.get(sizeClass(bytes));
    if (!samples || samples.length < MIN_SAMPLES) return undefined;
    const sorted = [...samples].sort((a, b) => a - b);
    return Math.max(MIN_HEDGE_DELAY_MS, HEDGE_FACTOR * sorted[sorted.length >> 1]);
  }

  /** How many requests were hedged so far. */
  get hedges(): number {
    return this.#hedges;
  }

  /**
   * Runs `attempt` (a request of `bytes`, aborted through its signal) and, if it is still going
   * after the hedge delay and the budget allows, a second one beside it (`hedge` true: it must
   * not join the first, e.g. in a shared in-flight read); resolves with the first
   * to succeed and aborts the other. Fails only when every attempt made failed (with the first
   * one's error). `signal` aborts them all.
   */
  async run<T>(
    bytes: number,
    signal: AbortSignal | undefined,
    attempt: (signal: AbortSignal, hedge: boolean) => Promise<T>,
    onHedge?: (event: HedgeEvent) => void,
  ): Promise<T> {
    this.#requests++;
    const controllers: AbortController[] = [];
    const start = (): Promise<{ value: T; ms: number }> => {
      const controller = new AbortController();
      controllers.push(controller);
      const abort = () => controller.abort(signal?.reason);
      signal?.addEventListener('abort', abort, { once: true });
      const began = performance.now();
      return attempt(controller.signal, controllers.length > 1)
        .then((value) => ({ value, ms: performance.now() - began }))
        .finally(() => signal?.removeEventListener('abort', abort));
    };
    const first = start();
    if (signal?.aborted) controllers[0].abort(signal.reason);
    try {
      const winner =
        bytes >= MIN_HEDGE_BYTES
          ? await this.#withHedge(first, bytes, start, onHedge)
          : await first;
      this.#record(bytes, winner.ms);
      return winner.value;
    } finally {
      for (const c of controllers) c.abort(); // the loser, if any (a finished one ignores it)
    }
  }

  /**
   * `first`, or the first answer of it and a hedge sent once it runs past the hedge delay. The
   * delay is looked at again while it runs: requests running beside it may give its size class
   * the history it lacked when it started.
   */
  async #withHedge<R>(
    first: Promise<R>,
    bytes: number,
    start: () => Promise<R>,
    onHedge: ((event: HedgeEvent) => void) | undefined,
  ): Promise<R> {
    const began = performance.now();
    let delay: number | undefined;
    for (;;) {
      delay = this.delayFor(bytes);
      const elapsed = performance.now() - began;
      const wait = delay === undefined ? MIN_HEDGE_DELAY_MS : delay - elapsed;
      if (wait <= 0) break;
      let timer: NodeJS.Timeout | undefined;
      const later = new Promise<'later'>((resolve) => (timer = setTimeout(resolve, wait, 'later')));
      try {
        const early = await Promise.race([first, later]);
        if (early !== 'later') return early;
      } finally {
        clearTimeout(timer);
      }
    }
    if (this.#hedges + 1 > BUDGET_START + BUDGET_SHARE * this.#requests) return first;
    this.#hedges++;
    onHedge?.({ bytes, afterMs: Math.round(performance.now() - began) });
    const second = start();
    try {
      return await Promise.any([first, second]);
    } catch (e) {
      throw (e as AggregateError).errors[0];
    }
  }

  #record(bytes: number, ms: number): void {
    const key = sizeClass(bytes);
    const samples = this.#durations.get(key) ?? [];
    samples.push(ms);
    if (samples.length > SAMPLES) samples.shift();
    this.#durations.set(key, samples);
  }
}
