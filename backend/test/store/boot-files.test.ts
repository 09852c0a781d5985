// The files every container start reads are prefetched with their layer: which ones a layer has.
import {
  bootFileChunks,
  bootFileRanges,
  bootFileTiers,
  BOOT_FILES_MAX_BYTES,
  formatBootRanges,
  parseBootRanges,
} from '../../src/store/boot-files.ts';
import { buildTar } from '../../src/tar/index.ts';
import { estargzFromTar, openBlob, prng, randomBytes } from '../estargz/helpers.ts';

const rand = prng(7);

async function layerWith(files: Record<string, Buffer>, links: Record<string, string> = {}) {
  const tar = buildTar([
    ...Object.entries(files).map(([name, data]) => ({ name, type: 'file' as const, data })),
    ...Object.entries(links).map(([name, target]) => ({
      name,
      type: 'symlink' as const,
      linkName: target,
    })),
  ]);
  // gzip -1: the layers here are mostly incompressible bytes, which -9 only makes slow.
  const { blob, result } = await estargzFromTar(tar, { chunkSize: 1 << 20, level: 1 });
  return openBlob(blob, result.tocDigest);
}

it("takes a Debian layer's loader, libc, shell and /etc files, and nothing else", async () => {
  const index = await layerWith(
    {
      'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2': randomBytes(rand, 200_000),
      'usr/lib/x86_64-linux-gnu/libc.so.6': randomBytes(rand, 2_000_000), // two chunks
      'usr/bin/dash': randomBytes(rand, 100_000),
      'usr/bin/cat': randomBytes(rand, 40_000),
      'etc/passwd': Buffer.from('root:x:0:0:root:/root:/bin/sh\n'),
      'usr/lib/os-release': Buffer.from('ID=debian\n'),
      'srv/app/model.bin': randomBytes(rand, 3_000_000),
    },
    // A symlink is no file to prefetch: its target is listed under its real path.
    {
      'etc/os-release': '../usr/lib/os-release',
      'lib64/ld-linux-x86-64.so.2': '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
    },
  );
  const chunks = bootFileChunks(index);
  const paths = [...new Set(chunks.map((c) => index.path(c.ino)))].sort();
  expect(paths).toEqual([
    'etc/passwd',
    'usr/bin/dash',
    'usr/lib/os-release',
    'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
    'usr/lib/x86_64-linux-gnu/libc.so.6',
  ]);
  expect(chunks.filter((c) => index.path(c.ino).endsWith('libc.so.6'))).toHaveLength(2);
  // Tiers by need: what the runtime reads before the process exists, then loader and libc, then
  // the shell; each tier in blob order, for coalescing.
  const tiers = bootFileTiers(index);
  expect(tiers.map((t) => [...new Set(t.map((c) => index.path(c.ino)))].sort())).toEqual([
    ['etc/passwd', 'usr/lib/os-release'],
    ['usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', 'usr/lib/x86_64-linux-gnu/libc.so.6'],
    ['usr/bin/dash'],
  ]);
  for (const tier of tiers) {
    const offsets = tier.map((c) => c.compressedOffset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
  }
});

it('takes nothing from a layer without them, and stops at its byte bound', async () => {
  expect(bootFileChunks(await layerWith({ 'srv/data.bin': randomBytes(rand, 10_000) }))).toEqual(
    [],
  );
  const huge = await layerWith({
    'usr/bin/bash': randomBytes(rand, BOOT_FILES_MAX_BYTES + (2 << 20)), // incompressible
  });
  const chunks = bootFileChunks(huge);
  const bytes = chunks.reduce((n, c) => n + c.compressedEnd - c.compressedOffset, 0);
  expect(bytes).toBeLessThanOrEqual(BOOT_FILES_MAX_BYTES);
  expect(chunks.length).toBeGreaterThan(0);
}, 20_000); // 10 MB of seeded random bytes: 4.9 s with gzip -9 on a slow VM, over 5 in a loaded CI

describe('boot ranges (the io.slipstream.estargz.boot-ranges annotation)', () => {
  it('cover every boot-file chunk, joined across small gaps only, within the byte bound', async () => {
    const index = await layerWith({
      'etc/group': Buffer.from('root:x:0:\n'),
      'etc/passwd': Buffer.from('root:x:0:0:root:/root:/bin/sh\n'),
      'srv/between.bin': randomBytes(rand, 500_000), // incompressible: a gap too big to take
      'usr/lib/x86_64-linux-gnu/libc.so.6': randomBytes(rand, 1_500_000),
      'usr/lib/x86_64-linux-gnu/other.so': randomBytes(rand, 300_000),
      'usr/bin/dash': randomBytes(rand, 100_000),
    });
    const ranges = bootFileRanges(index);
    for (const chunk of bootFileChunks(index)) {
      expect(ranges.some(([s, e]) => chunk.compressedOffset >= s && chunk.compressedEnd <= e)).toBe(
        true,
      );
    }
    // /etc files side by side: one range; libc after 500 kB of other data: another; dash after
    // other.so: a third. Nothing of between.bin is read.
    expect(ranges).toHaveLength(3);
    const between = index.chunksOf(index.resolve('srv/between.bin')!);
    for (const c of between) {
      expect(ranges.some(([s, e]) => c.compressedOffset < e && c.compressedEnd > s)).toBe(false);
    }
    const total = ranges.reduce((n, [s, e]) => n + e - s, 0);
    expect(total).toBeLessThanOrEqual(BOOT_FILES_MAX_BYTES);
    const size = index.tocOffset;
    expect(parseBootRanges(formatBootRanges(ranges), size)).toEqual(ranges);
  });

  it('are not trusted when malformed, unordered, past the blob or too large', () => {
    const size = 100 * 2 ** 20;
    expect(parseBootRanges('0-10,20-30', size)).toEqual([
      [0, 10],
      [20, 30],
    ]);
    expect(parseBootRanges(undefined, size)).toBeUndefined();
    for (const bad of [
      '',
      'abc',
      '10-5',
      '0-10,5-20', // overlapping
      '20-30,0-10', // descending
      '0-10,',
      '-5-10',
      '1e3-2e3',
      `0-${size + 1}`, // past the blob
      `0-${BOOT_FILES_MAX_BYTES + 1}`, // more than the boot files may be
      Array.from({ length: 65 }, (_, i) => `${i * 10}-${i * 10 + 5}`).join(','),
      '0-99999999999999999',
    ]) {
      expect([bad, parseBootRanges(bad, size)]).toEqual([bad, undefined]);
    }
  });
});
