// The fetch pipeline's vocabulary: where compressed bytes come from (RangeSource), what a chunk
// is, the priority classes, and the typed errors callers map to errno values.

export interface ByteRange {
  offset: number;
  length: number;
}

/**
 * A blob that can be read by byte ranges — a registry blob (through the registry client), or a
 * plain HTTP URL in tests. Implementations decide whether several ranges go out as one
 * multi-range request or several; they must return exactly one buffer per range, in order, and
 * stop promptly when `signal` aborts (rejecting with an error named "AbortError").
 */
export interface RangeSource {
  /**
   * The ranges' bytes. `options.separate`: a request of its own, even if an identical read is
   * in flight (a hedge: see fetch/hedge.ts).
   */
  read(
    ranges: readonly ByteRange[],
    signal?: AbortSignal,
    options?: { separate?: boolean },
  ): Promise<Buffer[]>;
}

/** One independently compressed, independently verifiable piece of a layer's content. */
export interface ChunkSpec {
  /** Digest of the decompressed chunk bytes ("sha256:<hex>"): the cache key and the check. */
  digest: string;
  /** Where the chunk's compressed stream starts in the blob. */
  offset: number;
  /** How many compressed bytes to fetch from `offset` to be able to decode the chunk. */
  compressedSize: number;
  /** Where the chunk's bytes start in the decompressed stream (0 for eStargz chunks). */
  innerOffset: number;
  /** Decompressed size of the chunk. */
  size: number;
}

/** Turns the fetched compressed bytes of one chunk into its decompressed bytes. */
export type ChunkDecoder = (compressed: Buffer, chunk: ChunkSpec) => Promise<Buffer>;

export const Priority = {
  onDemand: 0,
  prefetch: 1,
  background: 2,
} as const;
export type Priority = (typeof Priority)[keyof typeof Priority];

export const priorityNames = ['onDemand', 'prefetch', 'background'] as const;
export type PriorityName = (typeof priorityNames)[number];

/** A chunk failed verification twice (fetched, refetched): it is never served. Maps to EIO. */
export class ChunkVerificationError extends Error {
  override readonly name = 'ChunkVerificationError';
  readonly layer: string;
  readonly digest: string;
  /** Refused from memory of an earlier failure, without asking the registry (already logged). */
  readonly remembered: boolean;
  constructor(layer: string, digest: string, detail: string, remembered = false) {
    super(`chunk ${digest} of layer ${layer} failed verification twice: ${detail}`);
    this.layer = layer;
    this.digest = digest;
    this.remembered = remembered;
  }
}

/** The range source failed (network, HTTP status, credentials). Maps to EIO for reads. */
export class ChunkFetchError extends Error {
  override readonly name = 'ChunkFetchError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The fetch was cancelled, e.g. a background fetch pre-empted by an on-demand read. */
export class FetchAbortedError extends Error {
  override readonly name = 'AbortError';
  constructor() {
    super('fetch aborted');
  }
}

export function isAbort(e: unknown): boolean {
  return e instanceof Error && e.name === 'AbortError';
}

/** What the pipeline reports to metrics/telemetry; every hook is optional. */
export interface FetchObserver {
  /** One range request finished: compressed bytes received, duration, chunks it carried. */
  fetched?(event: {
    layer: string;
    priority: PriorityName;
    bytes: number;
    chunks: number;
    seconds: number;
  }): void;
  /**
   * A chunk did not match its digest. `final`: it is given up (failed twice, or failed once and no
   * reader waited for it, so it was not fetched again); else it is fetched once more.
   */
  verificationFailed?(event: { layer: string; digest: string; final: boolean }): void;
  /** A cache lookup answered a chunk without the network. */
  cacheHit?(event: { layer: string; bytes: number }): void;
  /** A reader needed a chunk the cache did not have (fetched now, or already on its way). */
  cacheMiss?(event: { layer: string; chunks: number }): void;
  /** A reader got a chunk that prefetch had fetched: prefetch's hit, counted once per chunk. */
  prefetchUsed?(event: { layer: string; bytes: number }): void;
  /** A reader's request ran so long that the same ranges were asked again (fetch/hedge.ts). */
  hedged?(event: { layer: string; bytes: number; afterMs: number }): void;
}
