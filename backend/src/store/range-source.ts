// Plugs the registry client's blob reader into the fetch pipeline: several ranges of one read
// go out as multi-range requests when the registry supports them.
import { FetchAbortedError, type ByteRange, type RangeSource } from '../fetch/types.ts';
import type { BlobReader, RetryPolicy } from '../registry/index.ts';

/**
 * A container's read has no fallback: unlike a lookup (which misses, and the runtime pulls), it
 * fails with EIO. The client's default retries give up within about a second, so a registry that
 * restarts, or a load balancer that drops connections for a moment, would fail reads that a few
 * seconds' patience serves: 10 attempts, their pauses doubling from 250 ms up to 2 s (about
 * 7–14 s in all, within the read's 30 s deadline).
 */
export const ON_DEMAND_RETRY: RetryPolicy = { attempts: 10, baseDelayMs: 250, maxDelayMs: 2_000 };

export class RegistryRangeSource implements RangeSource {
  readonly #blob: BlobReader;

  constructor(blob: BlobReader) {
    this.#blob = blob;
  }

  async read(
    ranges: readonly ByteRange[],
    signal?: AbortSignal,
    options: { separate?: boolean } = {},
  ): Promise<Buffer[]> {
    try {
      return await this.#blob.readRanges(
        ranges.map((r) => ({ start: r.offset, end: r.offset + r.length })),
        { retry: ON_DEMAND_RETRY, ...(signal && { signal }), ...options },
      );
    } catch (e) {
      if (signal?.aborted) throw new FetchAbortedError();
      throw e;
    }
  }
}

/**
 * Blob bytes read before anyone asked for them, in pieces [start, end) sorted by start, each
 * with its own read (undefined when it failed: reads of it then go to the network).
 */
export interface EarlyBytes {
  pieces: readonly { start: number; end: number; bytes: Promise<Buffer | undefined> }[];
}

/** Splits ranges into pieces of at most `pieceBytes` (slow start: smaller reads finish sooner). */
export function earlyPieces(
  ranges: readonly (readonly [number, number])[],
  pieceBytes: number,
): [number, number][] {
  const pieces: [number, number][] = [];
  for (const [start, end] of ranges) {
    const count = Math.ceil((end - start) / pieceBytes);
    const step = Math.ceil((end - start) / count);
    for (let at = start; at < end; at += step) pieces.push([at, Math.min(end, at + step)]);
  }
  return pieces;
}

/**
 * A RangeSource that answers reads lying inside bytes read early (a layer's boot files, read
 * beside its TOC) from those bytes, as each piece arrives, and every other read from the
 * network. The bytes are raw: the fetcher inflates and verifies them against the TOC's chunk
 * digests like any others.
 */
export class EarlyRangeSource implements RangeSource {
  readonly #inner: RangeSource;
  #early: EarlyBytes | undefined;
  /**
   * Offsets answered from the early bytes. Asked again, a range goes to the network: the
   * fetcher asks again when what it got failed verification, and the same bytes would fail again.
   */
  readonly #served = new Set<number>();

  constructor(inner: RangeSource, early?: EarlyBytes) {
    this.#inner = inner;
    this.#early = early;
  }

  /** Lets the early bytes go: what they hold is in the cache now, or will not be asked for. */
  release(): void {
    this.#early = undefined;
  }

  get holding(): boolean {
    return this.#early !== undefined;
  }

  async read(
    ranges: readonly ByteRange[],
    signal?: AbortSignal,
    options: { separate?: boolean } = {},
  ): Promise<Buffer[]> {
    const early = this.#early;
    // A hedge goes to the network: the early bytes are what it overtakes.
    if (!early || options.separate) return this.#inner.read(ranges, signal, options);
    const fromEarly = await Promise.all(
      ranges.map((r) =>
        this.#served.has(r.offset) ? Promise.resolve(undefined) : earlyRead(early, r),
      ),
    );
    const out: Buffer[] = new Array<Buffer>(ranges.length);
    const rest: number[] = [];
    fromEarly.forEach((bytes, k) => {
      if (bytes) {
        out[k] = bytes;
        this.#served.add(ranges[k].offset);
      } else rest.push(k);
    });
    if (rest.length > 0) {
      const fetched = await this.#inner.read(
        rest.map((k) => ranges[k]),
        signal,
      );
      rest.forEach((k, j) => (out[k] = fetched[j]));
    }
    return out;
  }
}

/** The range's bytes from adjoining early pieces that cover all of it, or undefined. */
async function earlyRead(early: EarlyBytes, range: ByteRange): Promise<Buffer | undefined> {
  const end = range.offset + range.length;
  const first = early.pieces.findIndex((p) => p.start <= range.offset && p.end > range.offset);
  if (first < 0) return undefined;
  const covering = [early.pieces[first]];
  while (covering.at(-1)!.end < end) {
    const next = early.pieces[first + covering.length];
    if (!next || next.start !== covering.at(-1)!.end) return undefined;
    covering.push(next);
  }
  const parts = await Promise.all(covering.map((p) => p.bytes));
  if (parts.some((b, i) => !b || b.length !== covering[i].end - covering[i].start)) {
    return undefined;
  }
  const joined = parts.length === 1 ? parts[0]! : Buffer.concat(parts as Buffer[]);
  const from = range.offset - covering[0].start;
  return joined.subarray(from, from + range.length);
}
