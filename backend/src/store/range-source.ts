// Plugs the registry client's blob reader into the fetch pipeline: several ranges of one read
// go out as multi-range requests when the registry supports them.
import { FetchAbortedError, type ByteRange, type RangeSource } from '../fetch/types.ts';
import type { BlobReader } from '../registry/index.ts';

export class RegistryRangeSource implements RangeSource {
  readonly #blob: BlobReader;

  constructor(blob: BlobReader) {
    this.#blob = blob;
  }

  async read(ranges: readonly ByteRange[], signal?: AbortSignal): Promise<Buffer[]> {
    try {
      return await this.#blob.readRanges(
        ranges.map((r) => ({ start: r.offset, end: r.offset + r.length })),
        signal ? { signal } : {},
      );
    } catch (e) {
      if (signal?.aborted) throw new FetchAbortedError();
      throw e;
    }
  }
}

/** Blob bytes read before anyone asked for them: ranges [start, end) and, once read, their bytes. */
export interface EarlyBytes {
  ranges: readonly (readonly [number, number])[];
  /** One Buffer per range; undefined when the read failed (the reads then go to the network). */
  bytes: Promise<Buffer[] | undefined>;
}

/**
 * A RangeSource that answers reads lying inside bytes read early (a layer's boot files, read
 * beside its TOC) from those bytes, and every other read from the network. The bytes are raw:
 * the fetcher inflates and verifies them against the TOC's chunk digests like any others.
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

  async read(ranges: readonly ByteRange[], signal?: AbortSignal): Promise<Buffer[]> {
    const early = this.#early;
    const within = ranges.map((r) =>
      early && !this.#served.has(r.offset) ? rangeHolding(early.ranges, r) : -1,
    );
    if (!early || within.every((i) => i < 0)) return this.#inner.read(ranges, signal);
    const bytes = await early.bytes;
    if (!bytes) return this.#inner.read(ranges, signal);
    const out: Buffer[] = new Array<Buffer>(ranges.length);
    const rest: number[] = [];
    ranges.forEach((range, k) => {
      const i = within[k];
      const from = i < 0 ? 0 : range.offset - early.ranges[i][0];
      if (i < 0 || bytes[i].length < from + range.length) {
        rest.push(k);
        return;
      }
      out[k] = bytes[i].subarray(from, from + range.length);
      this.#served.add(range.offset);
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

/** Index of the early range that holds all of `range`, or -1. */
function rangeHolding(ranges: EarlyBytes['ranges'], range: ByteRange): number {
  const end = range.offset + range.length;
  return ranges.findIndex(([start, stop]) => range.offset >= start && end <= stop);
}
