// What a layer's fetcher remembers of chunks that failed verification. A registry that sends
// wrong bytes (a broken mirror, a proxy that shifts ranges) sends them again: without a memory,
// every read of such a chunk — the kernel retries a failed read, readahead, the next file — went to
// the registry twice more, and one `cat` of 300 small files made 39,015 requests in 102 s.
// Remembered chunks are answered with EIO at once for a while; after it the registry is asked
// again (it may have been fixed). Many failures in a short time also pause the layer's
// speculative fetches (neighbours, read-ahead, prefetch, background): they would only fetch more
// bytes that do not verify.

export interface VerificationFailureOptions {
  /** How long a chunk that failed verification twice is refused without asking the registry. */
  rememberMs: number;
  /** Most chunks remembered per layer: a hostile layer must not grow our memory. */
  maxRemembered: number;
  /** Verification failures within `circuitWindowMs` that pause the layer's speculative fetches. */
  circuitFailures: number;
  circuitWindowMs: number;
  /** How long speculative fetches stay paused. */
  pauseMs: number;
}

export const defaultVerificationFailureOptions: VerificationFailureOptions = {
  rememberMs: 30_000,
  maxRemembered: 4096,
  circuitFailures: 16,
  circuitWindowMs: 30_000,
  pauseMs: 30_000,
};

export class VerificationFailures {
  readonly options: VerificationFailureOptions;
  /** Digest → until when it is refused; in insertion order, which is also expiry order. */
  readonly #failedTwice = new Map<string, number>();
  #windowStart = 0;
  #failuresInWindow = 0;
  #pausedUntil = 0;

  constructor(options: Partial<VerificationFailureOptions> = {}) {
    this.options = { ...defaultVerificationFailureOptions, ...options };
  }

  /** Any verification failure, first or second: counts towards pausing speculation. */
  noteFailure(): void {
    const now = Date.now();
    if (now - this.#windowStart > this.options.circuitWindowMs) {
      this.#windowStart = now;
      this.#failuresInWindow = 0;
    }
    if (++this.#failuresInWindow >= this.options.circuitFailures) {
      this.#pausedUntil = now + this.options.pauseMs;
    }
  }

  /** The chunk failed verification twice: refuse it for `rememberMs`. */
  rememberFailedTwice(digest: string): void {
    this.#failedTwice.delete(digest); // re-inserted at the end: the newest expires last
    if (this.#failedTwice.size >= this.options.maxRemembered) {
      const oldest = this.#failedTwice.keys().next().value;
      if (oldest !== undefined) this.#failedTwice.delete(oldest);
    }
    this.#failedTwice.set(digest, Date.now() + this.options.rememberMs);
  }

  /** The chunk verified: whatever was wrong with it is over. */
  forget(digest: string): void {
    this.#failedTwice.delete(digest);
  }

  /** Whether the chunk failed verification twice less than `rememberMs` ago. */
  failedRecently(digest: string): boolean {
    const until = this.#failedTwice.get(digest);
    if (until === undefined) return false;
    if (Date.now() < until) return true;
    this.#failedTwice.delete(digest);
    return false;
  }

  /** Whether speculative fetches of the layer are paused after many failures. */
  get speculationPaused(): boolean {
    return Date.now() < this.#pausedUntil;
  }
}
