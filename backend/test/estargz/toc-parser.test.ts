// The TOC parser threads: the same index as a parse on this thread, the same errors, and a thread
// that runs out of memory on a TOC fails only that TOC.
import { gzipSync } from 'node:zlib';

import { jest } from '@jest/globals';

import {
  EstargzError,
  EstargzErrorCode,
  TocParserPool,
  locateToc,
  parseTocHere,
  type LayerIndex,
  type TocParseJob,
} from '../../src/estargz/index.ts';
import { buildTar, type TarInput } from '../../src/tar/index.ts';
import { estargzFromTar, prng, randomBytes } from './helpers.ts';

jest.setTimeout(120_000);

const entries: TarInput[] = [
  { name: './etc/', type: 'dir', mode: 0o755 },
  {
    name: './etc/passwd',
    type: 'file',
    mode: 0o644,
    data: Buffer.from('root:x:0:0::/root:/bin/sh\n'),
  },
  { name: './etc/hard', type: 'hardlink', linkName: './etc/passwd' },
  { name: './etc/sym', type: 'symlink', linkName: 'passwd' },
  { name: './dev/', type: 'dir' },
  { name: './dev/null', type: 'char', mode: 0o666, devMajor: 1, devMinor: 3 },
  { name: './big.bin', type: 'file', data: randomBytes(prng(3), 200_000) },
  {
    name: './cap',
    type: 'file',
    data: Buffer.from('x'),
    xattrs: new Map([['security.capability', Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0])]]),
  },
  { name: './var/.wh.gone', type: 'file', data: Buffer.alloc(0) },
  { name: './opq/', type: 'dir' },
  { name: './opq/.wh..wh..opq', type: 'file', data: Buffer.alloc(0) },
];

async function layerJob(): Promise<{ job: TocParseJob; tocDigest: string }> {
  const { blob, result } = await estargzFromTar(buildTar(entries), { chunkSize: 64 * 1024 });
  const location = locateToc(blob, blob.length);
  if (location.kind !== 'complete') throw new Error('TOC not found in the whole blob');
  return {
    tocDigest: result.tocDigest,
    job: {
      tocGzip: location.tocGzip,
      options: { tocOffset: location.footer.tocOffset, expectedTocDigest: result.tocDigest },
    },
  };
}

/** Everything a reader can ask of an index, inode by inode. */
function describeIndex(index: LayerIndex): unknown[] {
  const out: unknown[] = [index.tocDigest, index.chunkCount, index.verifiable];
  for (let ino = 1; ino <= index.inodeCount; ino++) {
    out.push(
      index.stat(ino),
      index.path(ino),
      index.readlink(ino),
      [...index.xattrs(ino)].map(([k, v]) => [k, Buffer.isBuffer(v), v.toString('hex')]),
      index.isDir(ino) ? index.readdir(ino) : undefined,
      index.chunksOf(ino),
    );
  }
  return out;
}

/** A TOC member whose JSON is valid but large: many entries with long names. */
function bigTocGzip(files: number): Buffer {
  const toc = {
    version: 1,
    entries: Array.from({ length: files }, (_, i) => ({
      name: `d/${'n'.repeat(200)}${i}`,
      type: 'reg',
      size: 0,
      modtime: '2024-01-01T00:00:00Z',
    })),
  };
  return gzipSync(
    buildTar([{ name: 'stargz.index.json', type: 'file', data: Buffer.from(JSON.stringify(toc)) }]),
  );
}

describe('TocParserPool', () => {
  let pool: TocParserPool | undefined;
  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  it('gives the same index as a parse on this thread, xattrs as Buffers', async () => {
    const { job } = await layerJob();
    pool = new TocParserPool({ threads: 2 });
    const [a, b] = await Promise.all([pool.parse(job), pool.parse(job)]);
    const here = await parseTocHere(job);
    expect(describeIndex(a)).toEqual(describeIndex(here));
    expect(describeIndex(b)).toEqual(describeIndex(here));
    const cap = here.resolve('cap')!;
    expect(Buffer.isBuffer(a.xattrs(cap).get('security.capability'))).toBe(true);
    // The caller's bytes are untouched (the thread got a copy).
    expect(job.tocGzip.length).toBeGreaterThan(0);
    expect((await pool.parse(job)).tocDigest).toBe(here.tocDigest);
  });

  it('rejects bad TOCs with the codec error and its code', async () => {
    const { job } = await layerJob();
    pool = new TocParserPool({ threads: 1 });
    const wrongDigest = {
      ...job,
      options: { ...job.options, expectedTocDigest: `sha256:${'0'.repeat(64)}` },
    };
    await expect(pool.parse(wrongDigest)).rejects.toMatchObject({
      code: EstargzErrorCode.tocDigestMismatch,
    });
    const notGzip = { tocGzip: Buffer.from('not gzip at all'), options: { tocOffset: 0 } };
    const error = await pool.parse(notGzip).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EstargzError);
    expect((error as EstargzError).code).toBe(EstargzErrorCode.badToc);
    // The thread is still there for the next TOC.
    expect((await pool.parse(job)).inodeCount).toBeGreaterThan(5);
  });

  it('a thread that runs out of memory fails that TOC only; the next one parses', async () => {
    const { job } = await layerJob();
    pool = new TocParserPool({
      threads: 1,
      resourceLimits: { maxOldGenerationSizeMb: 24, maxYoungGenerationSizeMb: 4 },
    });
    expect((await pool.parse(job)).inodeCount).toBeGreaterThan(5);
    const error = await pool
      .parse({ tocGzip: bigTocGzip(400_000), options: { tocOffset: 1 } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EstargzError);
    expect((error as EstargzError).code).toBe(EstargzErrorCode.limitExceeded);
    expect((error as Error).message).toMatch(/ran out of memory/);
    expect(describeIndex(await pool.parse(job))).toEqual(describeIndex(await parseTocHere(job)));
  });

  it('ends idle threads and starts them again for the next TOC', async () => {
    const { job } = await layerJob();
    pool = new TocParserPool({ threads: 2, idleMs: 50 });
    expect(pool.threads).toBe(0); // nothing started before there is work
    pool.prepare();
    expect(pool.threads).toBe(2);
    await pool.parse(job);
    for (let i = 0; i < 100 && pool.threads > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(pool.threads).toBe(0);
    expect((await pool.parse(job)).tocDigest).toBe((await parseTocHere(job)).tocDigest);
    expect(pool.threads).toBe(1);
  });

  it('refuses work once closed', async () => {
    const { job } = await layerJob();
    pool = new TocParserPool({ threads: 1 });
    const parsing = pool.parse(job);
    await pool.close();
    await expect(parsing).rejects.toThrow(/closed/);
    await expect(pool.parse(job)).rejects.toThrow(/closed/);
  });
});
