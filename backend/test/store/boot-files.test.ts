// The files every container start reads are prefetched with their layer: which ones a layer has.
import { bootFileChunks, bootFileTiers, BOOT_FILES_MAX_BYTES } from '../../src/store/boot-files.ts';
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
  const { blob, result } = await estargzFromTar(tar, { chunkSize: 1 << 20 });
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
});
