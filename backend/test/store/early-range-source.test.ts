// Reads answered from a layer's early bytes (its boot files, read beside the TOC), the rest from
// the network; a range asked for again goes to the network.
import type { ByteRange, RangeSource } from '../../src/fetch/types.ts';
import { EarlyRangeSource, earlyPieces, type EarlyBytes } from '../../src/store/range-source.ts';

const blob = Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251));

/** The network: the blob, each read recorded. */
function network() {
  const reads: ByteRange[] = [];
  const source: RangeSource = {
    read: (ranges) => {
      reads.push(...ranges);
      return Promise.resolve(ranges.map((r) => blob.subarray(r.offset, r.offset + r.length)));
    },
  };
  return { source, reads };
}

function early(pieces: [number, number][], broken: number[] = []): EarlyBytes {
  return {
    pieces: pieces.map(([start, end], i) => ({
      start,
      end,
      bytes: Promise.resolve(
        broken.includes(i) ? undefined : Buffer.from(blob.subarray(start, end)),
      ),
    })),
  };
}

const range = (offset: number, length: number): ByteRange => ({ offset, length });
const bytes = (r: ByteRange) => blob.subarray(r.offset, r.offset + r.length);

it('splits ranges into pieces of at most the given size, evenly', () => {
  expect(earlyPieces([[0, 100]], 40)).toEqual([
    [0, 34],
    [34, 68],
    [68, 100],
  ]);
  expect(
    earlyPieces(
      [
        [10, 20],
        [50, 60],
      ],
      40,
    ),
  ).toEqual([
    [10, 20],
    [50, 60],
  ]);
});

it('answers ranges inside the pieces (across adjoining ones) from them, others from the network', async () => {
  const net = network();
  const source = new EarlyRangeSource(
    net.source,
    early([
      [0, 1000],
      [1000, 2000],
      [3000, 3500],
    ]),
  );
  const wanted = [range(100, 50), range(900, 300), range(2500, 100), range(3100, 400)];
  expect(await source.read(wanted)).toEqual(wanted.map(bytes));
  // Only the range outside the pieces went out; [1900, 2100) would have (a gap follows 2000).
  expect(net.reads).toEqual([range(2500, 100)]);
  expect(await source.read([range(1900, 200)])).toEqual([bytes(range(1900, 200))]);
  expect(net.reads).toContainEqual(range(1900, 200));
});

it('goes to the network for a range asked again, a failed piece, and after release', async () => {
  const net = network();
  const source = new EarlyRangeSource(
    net.source,
    early(
      [
        [0, 1000],
        [1000, 2000],
      ],
      [1],
    ),
  );
  await source.read([range(10, 10)]);
  expect(net.reads).toEqual([]);
  // The fetcher asks again when the bytes failed their check: the same bytes would fail again.
  await source.read([range(10, 10)]);
  expect(net.reads).toEqual([range(10, 10)]);
  // The second piece's read failed: its ranges, and ranges spanning it, come from the network.
  expect(await source.read([range(1500, 10), range(990, 20)])).toEqual([
    bytes(range(1500, 10)),
    bytes(range(990, 20)),
  ]);
  expect(net.reads).toEqual([range(10, 10), range(1500, 10), range(990, 20)]);
  source.release();
  await source.read([range(20, 10)]);
  expect(net.reads.at(-1)).toEqual(range(20, 10));
  expect(source.holding).toBe(false);
});

it('does not trust a piece shorter than it should be', async () => {
  const net = network();
  const short: EarlyBytes = {
    pieces: [{ start: 0, end: 1000, bytes: Promise.resolve(Buffer.from(blob.subarray(0, 500))) }],
  };
  const source = new EarlyRangeSource(net.source, short);
  expect(await source.read([range(100, 10)])).toEqual([bytes(range(100, 10))]);
  expect(net.reads).toEqual([range(100, 10)]);
});
