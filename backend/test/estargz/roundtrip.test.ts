import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile as readFs, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';

import { jest } from '@jest/globals';

import {
  ChunkVerification,
  EstargzErrorCode,
  scanDuplicates,
  NO_PREFETCH_LANDMARK,
  PREFETCH_LANDMARK,
  ROOT_INO,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  parseFooter,
} from '../../src/estargz/index.ts';
import { buildTar, type TarInput } from '../../src/tar/index.ts';
import { estargzFromTar, openBlob, prng, randomBytes, readFile } from './helpers.ts';

// Generous: these run on shared, busy CI machines (no timing is asserted).
jest.setTimeout(120_000);

const run = promisify(execFile);
const CHUNK = 64 * 1024;
const big = randomBytes(prng(42), CHUNK * 3 + 1234);
const exactlyTwoChunks = randomBytes(prng(7), CHUNK * 2);

const entries: TarInput[] = [
  // A root entry as `tar -C "$(mktemp -d)"` writes it, by an unprivileged user.
  { name: './', type: 'dir', mode: 0o700, uid: 1000, gid: 1000, mtime: 1_700_000_000 },
  { name: './etc/', type: 'dir', mode: 0o755, uid: 0, gid: 0 },
  {
    name: './etc/passwd',
    type: 'file',
    mode: 0o644,
    data: Buffer.from('root:x:0:0::/root:/bin/sh\n'),
  },
  { name: './etc/empty', type: 'file', mode: 0o600, uid: 1000, gid: 1001, data: Buffer.alloc(0) },
  { name: './etc/link-to-passwd', type: 'hardlink', linkName: './etc/passwd' },
  { name: './etc/sym', type: 'symlink', mode: 0o644, linkName: '../etc/passwd' },
  { name: './dev/', type: 'dir' },
  { name: './dev/null', type: 'char', mode: 0o666, devMajor: 1, devMinor: 3 },
  { name: './dev/sda', type: 'block', mode: 0o660, devMajor: 8, devMinor: 0 },
  { name: './dev/pipe', type: 'fifo', mode: 0o644 },
  { name: './big.bin', type: 'file', mode: 0o755, data: big },
  { name: './two.bin', type: 'file', data: exactlyTwoChunks },
  {
    name: './xattr.txt',
    type: 'file',
    data: Buffer.from('x'),
    xattrs: new Map([
      ['user.comment', Buffer.from('héllo')],
      ['security.capability', Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0])],
    ]),
  },
  { name: './ünïcødé/名前/ファイル.txt', type: 'file', data: Buffer.from('unicode\n') },
  { name: `./long/${'d'.repeat(120)}/${'f'.repeat(150)}`, type: 'file', data: Buffer.from('long') },
  { name: './var/lib/.wh.removed', type: 'file', data: Buffer.alloc(0) },
  { name: './var/cache/', type: 'dir', mode: 0o700 },
  { name: './var/cache/.wh..wh..opq', type: 'file', data: Buffer.alloc(0) },
  { name: './var/cache/fresh', type: 'file', data: Buffer.from('fresh') },
  { name: './setuid', type: 'file', mode: 0o4755, data: Buffer.from('#!/bin/sh\n') },
];

function sha(b: Buffer): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

describe('eStargz writer → reader round trip', () => {
  const tar = buildTar(entries);

  it('round-trips every entry type with verified data', async () => {
    const { blob, result } = await estargzFromTar(tar, { chunkSize: CHUNK });
    const index = await openBlob(blob, result.tocDigest);
    expect(index.tocVerified).toBe(true);
    expect(index.format).toBe('estargz');
    expect(index.verifiable).toBe(true);
    expect(index.hasNoPrefetchLandmark).toBe(true);
    expect(index.prefetchBoundary).toBeUndefined();

    const ino = (p: string) => {
      const found = index.resolve(p);
      if (found === undefined) throw new Error(`missing ${p}`);
      return found;
    };
    // The root as containers/storage extracts a layer (it skips the `./` entry): 0555 0:0.
    expect(index.stat(ROOT_INO)).toMatchObject({ mode: S_IFDIR | 0o555, uid: 0, gid: 0 });
    // Directories say 4096 as on ext4; symlinks are 0777 whatever their header says.
    expect(index.stat(ino('etc')).size).toBe(4096);
    expect(index.stat(ino('etc/sym')).mode).toBe(S_IFLNK | 0o777);
    expect(index.stat(ROOT_INO).mtimeMs).toBe(1_700_000_000_000);
    const passwd = ino('etc/passwd');
    expect(ino('etc/link-to-passwd')).toBe(passwd);
    expect(index.stat(passwd).nlink).toBe(2);
    expect((await readFile(index, blob, passwd)).toString()).toBe('root:x:0:0::/root:/bin/sh\n');
    const empty = index.stat(ino('etc/empty'));
    expect(empty).toMatchObject({ mode: S_IFREG | 0o600, uid: 1000, gid: 1001, size: 0 });
    expect(index.chunksOf(empty.ino)).toHaveLength(0);
    expect(index.stat(ino('etc/sym')).mode & S_IFMT).toBe(S_IFLNK);
    expect(index.readlink(ino('etc/sym'))).toBe('../etc/passwd');
    const devnull = index.stat(ino('dev/null'));
    expect(devnull).toMatchObject({ mode: S_IFCHR | 0o666, devMajor: 1, devMinor: 3, rdev: 0x103 });
    expect(index.stat(ino('dev/sda'))).toMatchObject({ mode: S_IFBLK | 0o660, rdev: 0x800 });
    expect(index.stat(ino('dev/pipe')).mode).toBe(S_IFIFO | 0o644);
    expect(index.stat(ino('setuid')).mode).toBe(S_IFREG | 0o4755);

    const bigIno = ino('big.bin');
    expect(index.chunksOf(bigIno)).toHaveLength(4);
    expect((await readFile(index, blob, bigIno)).equals(big)).toBe(true);
    expect(index.chunksOf(ino('two.bin'))).toHaveLength(2);
    expect((await readFile(index, blob, ino('two.bin'))).equals(exactlyTwoChunks)).toBe(true);
    for (const c of index.chunksOf(bigIno)) {
      expect(c.verification).toBe(ChunkVerification.chunkDigest);
      expect(c.compressedEnd).toBeGreaterThan(c.compressedOffset);
    }
    const mid = index.chunksFor(bigIno, CHUNK - 1, 2);
    expect(mid.map((c) => c.fileOffset)).toEqual([0, CHUNK]);

    const x = index.xattrs(ino('xattr.txt'));
    expect(x.get('user.comment')?.toString()).toBe('héllo');
    expect(x.get('security.capability')).toEqual(Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0]));
    expect((await readFile(index, blob, ino('ünïcødé/名前/ファイル.txt'))).toString()).toBe(
      'unicode\n',
    );
    expect(index.resolve(`long/${'d'.repeat(120)}/${'f'.repeat(150)}`)).toBeDefined();

    const whiteout = index.stat(ino('var/lib/removed'));
    expect(whiteout).toMatchObject({ mode: S_IFCHR, rdev: 0 });
    expect(index.resolve('var/lib/.wh.removed')).toBeUndefined();
    const cache = ino('var/cache');
    expect(index.xattrs(cache).get('trusted.overlay.opaque')?.toString()).toBe('y');
    expect(index.xattrs(cache).get('user.overlay.opaque')?.toString()).toBe('y');
    expect(index.stat(cache).mode).toBe(S_IFDIR | 0o700);
    expect(index.readdir(cache).map((e) => e.name)).toEqual(['fresh']);
    // eStargz's landmark is the format's bookkeeping, not the image's: not in the tree.
    expect(index.hasNoPrefetchLandmark).toBe(true);
    expect(index.readdir(ROOT_INO).map((e) => e.name)).not.toContain(NO_PREFETCH_LANDMARK);
    expect(index.resolve(NO_PREFETCH_LANDMARK)).toBeUndefined();
  });

  it('produces a valid gzip tar whose DiffID and size are reported', async () => {
    const { blob, result } = await estargzFromTar(tar, { chunkSize: CHUNK });
    const plain = gunzipSync(blob);
    expect(sha(plain)).toBe(result.diffId);
    expect(plain.length).toBe(result.uncompressedSize);
    expect(sha(blob)).toBe(result.digest);
    expect(blob.length).toBe(result.size);

    // GNU tar extracts it, and the files are the source's.
    const dir = await mkdtemp(join(tmpdir(), 'estargz-rt-'));
    try {
      await writeFile(join(dir, 'layer.tgz'), blob);
      await run('tar', ['-xzf', 'layer.tgz', '-C', '.', '--no-same-owner'], { cwd: dir }).catch(
        // devices cannot be created in every sandbox; the other entries still must be right
        () => undefined,
      );
      expect((await readFs(join(dir, 'big.bin'))).equals(big)).toBe(true);
      expect(await readlink(join(dir, 'etc/sym'))).toBe('../etc/passwd');
      expect((await stat(join(dir, 'etc/link-to-passwd'))).ino).toBe(
        (await stat(join(dir, 'etc/passwd'))).ino,
      );
      expect((await readFs(join(dir, 'stargz.index.json'))).length).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('puts prioritised files first, then .prefetch.landmark', async () => {
    const { blob, result } = await estargzFromTar(tar, {
      chunkSize: CHUNK,
      prioritize: ['/etc/passwd', 'big.bin', '/does/not/exist'],
    });
    expect(result.prioritized).toBe(2);
    const index = await openBlob(blob, result.tocDigest);
    expect(index.hasNoPrefetchLandmark).toBe(false);
    const boundary = index.prefetchBoundary!;
    expect(index.resolve(PREFETCH_LANDMARK)).toBeUndefined();
    expect(index.readdir(ROOT_INO).map((e) => e.name)).not.toContain(PREFETCH_LANDMARK);
    // The prioritised files lie before the landmark's offset, everything else after it.
    const before = index.prefetchChunks();
    expect(before.every((c) => c.compressedOffset < boundary)).toBe(true);
    const etcPasswd = index.chunksOf(index.resolve('etc/passwd')!)[0];
    const other = index.chunksOf(index.resolve('two.bin')!)[0];
    expect(etcPasswd.compressedOffset).toBeLessThan(boundary);
    expect(other.compressedOffset).toBeGreaterThan(boundary);
    const prefetched = new Set(before.map((c) => index.path(c.ino)));
    expect(prefetched).toEqual(new Set(['etc/passwd', 'big.bin']));
    expect((await readFile(index, blob, index.resolve('big.bin')!)).equals(big)).toBe(true);
    // Everything else is still there and intact.
    expect(index.resolve('etc/link-to-passwd')).toBe(index.resolve('etc/passwd'));
    expect(index.resolve('var/lib/removed')).toBeDefined();
  });

  it('reads the TOC with a second range when the first tail read is too small', async () => {
    const { blob, result } = await estargzFromTar(tar, { chunkSize: CHUNK });
    const index = await openBlob(blob, result.tocDigest, 60);
    expect(index.entryCount).toBe(result.entryCount);
  });

  it('converting an eStargz layer again drops the old TOC and landmark', async () => {
    const first = await estargzFromTar(tar, { chunkSize: CHUNK });
    const second = await estargzFromTar(gunzipSync(first.blob), { chunkSize: CHUNK });
    expect(second.result.tocDigest).toBe(first.result.tocDigest);
    expect(second.result.diffId).toBe(first.result.diffId);
  });

  it('refuses a source that repeats a path unless told which entry wins', async () => {
    const repeated = buildTar([
      { name: 'a', type: 'file', data: Buffer.from('1') },
      { name: 'a', type: 'file', data: Buffer.from('2') },
    ]);
    await expect(estargzFromTar(repeated)).rejects.toMatchObject({
      code: EstargzErrorCode.duplicateEntry,
    });
    const lastOccurrence = await scanDuplicates(() => Promise.resolve([repeated]));
    expect(lastOccurrence).toEqual(new Map([['a', 1]]));
    const { blob, result } = await estargzFromTar(repeated, { lastOccurrence });
    const index = await openBlob(blob, result.tocDigest);
    expect((await readFile(index, blob, index.resolve('a')!)).toString()).toBe('2');
  });

  it('reads a blob that ends with the 47-byte legacy stargz footer', async () => {
    const { blob, result } = await estargzFromTar(tar, { chunkSize: CHUNK });
    const tocOffset = parseFooter(blob.subarray(blob.length - 51)).tocOffset;
    const legacyFooter = Buffer.concat([
      Buffer.from([0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff, 22, 0]),
      Buffer.from(tocOffset.toString(16).padStart(16, '0') + 'STARGZ', 'latin1'),
      Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]),
    ]);
    const legacy = Buffer.concat([blob.subarray(0, blob.length - 51), legacyFooter]);
    expect(gunzipSync(legacy).equals(gunzipSync(blob))).toBe(true); // still a valid tar.gz
    const index = await openBlob(legacy, result.tocDigest);
    expect(index.format).toBe('stargz-legacy');
    expect((await readFile(index, legacy, index.resolve('big.bin')!)).equals(big)).toBe(true);
  });
});

describe('TOC limits while writing', () => {
  const manyFiles = buildTar(
    Array.from({ length: 2000 }, (_, i) => ({
      name: `./f/${String(i).padStart(5, '0')}`,
      type: 'file' as const,
      data: Buffer.from(`file ${i}\n`),
    })),
  );

  it('refuses a TOC no reader accepts as soon as it is certain, not after the whole layer', async () => {
    const bytes = await estargzFromTar(manyFiles, { limits: { maxTocBytes: 50_000 } }).catch(
      (e: Error) => e.message,
    );
    expect(bytes).toMatch(/the TOC would exceed 50000 bytes \((\d+) entries so far\)/);
    const soFar = Number(/\((\d+) entries so far\)/.exec(bytes as string)![1]);
    expect(soFar).toBeLessThan(2000);
    const entries = await estargzFromTar(manyFiles, { limits: { maxEntries: 100 } }).catch(
      (e: Error) => e.message,
    );
    expect(entries).toMatch(/the TOC would have more than 100 entries/);
    // Within the default limits it is written.
    const { result } = await estargzFromTar(manyFiles);
    expect(result.tocDigest).toMatch(/^sha256:/);
  });
});
