// Which prioritized chunks the landmark prefetch takes: heads of files, within a byte budget.
import {
  PREFETCH_FILE_HEAD_BYTES,
  PREFETCH_SLICE_BYTES,
  prefetchPlan,
  prefetchSlices,
  warmUntil,
} from '../../src/store/layer-manager.ts';

const MiB = 2 ** 20;

/** Consecutive chunks of `chunkMiB` MiB for files of the given sizes (MiB), in blob order. */
function layout(files: number[], chunkMiB = 4) {
  const chunks: {
    file: number;
    fileOffset: number;
    compressedOffset: number;
    compressedEnd: number;
  }[] = [];
  let at = 0;
  files.forEach((sizeMiB, file) => {
    for (let off = 0; off < sizeMiB; off += chunkMiB) {
      const len = Math.min(chunkMiB, sizeMiB - off) * MiB;
      chunks.push({ file, fileOffset: off * MiB, compressedOffset: at, compressedEnd: at + len });
      at += len;
    }
  });
  return chunks;
}

it('takes small files whole and only the head of a multi-GB file', () => {
  const chunks = layout([1, 2, 3072, 1]);
  const plan = prefetchPlan(chunks, 256 * MiB);
  const model = plan.filter((c) => c.file === 2);
  expect(model.length * 4 * MiB).toBe(PREFETCH_FILE_HEAD_BYTES);
  expect(plan.filter((c) => c.file !== 2).map((c) => c.file)).toEqual([0, 1, 3]);
});

it('stops at the budget, in blob order', () => {
  const chunks = layout([4, 4, 4, 4]);
  expect(prefetchPlan(chunks, 9 * MiB).map((c) => c.file)).toEqual([0, 1]);
  expect(prefetchPlan(chunks, 0)).toEqual([]);
});

describe('the time bound', () => {
  const chunk = (i: number, compressedSize: number) => ({
    digest: `sha256:${i.toString(16).padStart(64, '0')}`,
    offset: i * compressedSize,
    compressedSize,
    innerOffset: 0,
    size: compressedSize,
  });

  it('slices by compressed bytes, a bigger chunk alone', () => {
    const S = PREFETCH_SLICE_BYTES;
    const chunks = [chunk(0, 0.375 * S), chunk(1, 0.375 * S), chunk(2, 1.25 * S), chunk(3, S / 16)];
    expect(prefetchSlices(chunks).map((s) => s.length)).toEqual([2, 1, 1]);
  });

  it('starts no slice after the deadline and reports what was warmed', async () => {
    const chunks = Array.from({ length: 10 }, (_, i) => chunk(i, 16 * MiB));
    const warmed: number[] = [];
    const fetcher = {
      warm: async (slice: readonly { offset: number }[]) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        warmed.push(...slice.map((c) => c.offset));
      },
    };
    // Time is up once three slices are in.
    const done = await warmUntil(fetcher, prefetchSlices(chunks), () => warmed.length >= 3);
    expect(done.length).toBeLessThan(chunks.length);
    expect(done.length).toBe(warmed.length);
  });
});
