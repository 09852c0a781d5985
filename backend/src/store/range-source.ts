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
