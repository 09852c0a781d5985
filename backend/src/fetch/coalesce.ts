// Plans range requests: neighbouring chunks are merged into one range when the hole between them
// is small (fetching a few unneeded bytes is cheaper than another request), up to a size bound.
import type { ByteRange, ChunkSpec } from './types.ts';

export interface CoalesceOptions {
  /** Largest gap of unneeded bytes worth fetching to join two chunks into one range. */
  maxGapBytes: number;
  /** Largest single range. A chunk bigger than this still gets a range of its own. */
  maxRangeBytes: number;
}

export interface RangePlan {
  range: ByteRange;
  chunks: ChunkSpec[];
}

/**
 * Consecutive items in groups of at most `maxBytes` by `bytesOf` (an item bigger than that alone):
 * requests of bounded size, prefetch slices between which a time bound is checked.
 */
export function groupByBytes<T>(
  items: readonly T[],
  bytesOf: (item: T) => number,
  maxBytes: number,
): T[][] {
  const groups: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    if (current.length > 0 && bytes + bytesOf(item) > maxBytes) {
      groups.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += bytesOf(item);
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

/** Groups chunks (any order, duplicates by digest allowed) into ranges in offset order. */
export function coalesceChunks(
  chunks: readonly ChunkSpec[],
  options: CoalesceOptions,
): RangePlan[] {
  const unique = new Map<string, ChunkSpec>();
  for (const c of chunks) if (!unique.has(c.digest)) unique.set(c.digest, c);
  const sorted = [...unique.values()].sort((a, b) => a.offset - b.offset);
  const plans: RangePlan[] = [];
  let current: RangePlan | undefined;
  for (const chunk of sorted) {
    const end = chunk.offset + chunk.compressedSize;
    if (current) {
      const currentEnd = current.range.offset + current.range.length;
      const gap = chunk.offset - currentEnd;
      const merged = Math.max(end, currentEnd) - current.range.offset;
      if (gap <= options.maxGapBytes && merged <= options.maxRangeBytes) {
        current.range.length = merged;
        current.chunks.push(chunk);
        continue;
      }
    }
    current = { range: { offset: chunk.offset, length: chunk.compressedSize }, chunks: [chunk] };
    plans.push(current);
  }
  return plans;
}
