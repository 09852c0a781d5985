import { gzipSync } from 'node:zlib';

import { jest } from '@jest/globals';

import {
  ChunkVerification,
  EstargzError,
  EstargzErrorCode,
  FOOTER_SIZE,
  createFooter,
  extractTocJson,
  locateToc,
  parseFooter,
  parseToc,
  readChunk,
  ROOT_INO,
  S_IFCHR,
  S_IFDIR,
  S_IFMT,
  S_IFREG,
  sha256Digest,
} from '../../src/estargz/index.ts';
import { TocStreamParser } from '../../src/estargz/toc-stream.ts';
import { buildTar, END_OF_ARCHIVE, encodeHeader, newHeader, padding } from '../../src/tar/index.ts';
import { estargzFromTar, openBlob } from './helpers.ts';

// Generous: these run on shared, busy CI machines (no timing is asserted).
jest.setTimeout(120_000);

type Entry = Record<string, unknown>;
const DIGEST = 'sha256:' + 'ab'.repeat(32);

function toc(entries: Entry[]): string {
  return JSON.stringify({ version: 1, entries });
}

/** The TOC member of an eStargz blob: a gzipped tar holding `stargz.index.json`. */
function tocMember(json: Buffer): Buffer {
  return gzipSync(
    Buffer.concat([
      encodeHeader(newHeader({ name: 'stargz.index.json', type: 'file', size: json.length })),
      json,
      padding(json.length),
      END_OF_ARCHIVE,
    ]),
  );
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof EstargzError) return err.code;
    throw err;
  }
  return 'OK';
}

const parse =
  (entries: Entry[], tocOffset = 1_000_000) =>
  () =>
    parseToc(toc(entries), { tocOffset });
const reg = (name: string, extra: Entry = {}): Entry => ({
  name,
  type: 'reg',
  size: 10,
  offset: 100,
  chunkDigest: DIGEST,
  ...extra,
});

describe('TOC validation rejects hostile input with typed errors', () => {
  it.each([
    ['parent escape', '../etc/passwd'],
    ['nested escape', 'a/../../b'],
    ['absolute', '/etc/passwd'],
    ['NUL', 'a\0b'],
    ['empty', ''],
    ['empty component', 'a//b'],
    ['dot component', 'a/./b'],
    ['name over 255 bytes', `a/${'x'.repeat(256)}/b`],
    ['name over 255 bytes in UTF-8', `a/${'é'.repeat(128)}`],
    // What Go's JSON encoder (ctr-remote) writes for tar name bytes that are not UTF-8.
    ['U+FFFD: bytes that were not UTF-8', 'bin/bad\uFFFD\uFFFDname'],
  ])('path: %s', (_label, name) => {
    expect(codeOf(parse([reg(name)]))).toBe(EstargzErrorCode.badPath);
  });

  it('accepts names up to 255 bytes and symlink targets up to 4095, not beyond', () => {
    const longest = ['x'.repeat(255), 'é'.repeat(127), `${'d'.repeat(255)}/${'f'.repeat(255)}`];
    const index = parseToc(toc(longest.map((name, i) => reg(name, { offset: 100 * (i + 1) }))), {
      tocOffset: 1000,
    });
    for (const name of longest) expect(index.resolve(name)).toBeDefined();
    const link = (target: string) => parse([{ name: 'l', type: 'symlink', linkName: target }]);
    expect(codeOf(link('t'.repeat(4095)))).toBe('OK');
    expect(codeOf(link('t'.repeat(4096)))).toBe(EstargzErrorCode.badEntry);
    expect(codeOf(link('é'.repeat(2048)))).toBe(EstargzErrorCode.badEntry);
  });

  it('refuses symlink targets and xattr names with U+FFFD (lossy TOC writers)', () => {
    const link = parse([{ name: 'l', type: 'symlink', linkName: 'target\uFFFDbad' }]);
    expect(codeOf(link)).toBe(EstargzErrorCode.badPath);
    const xattr = parse([reg('f', { xattrs: { 'user.\uFFFD': 'eA==' } })]);
    expect(codeOf(xattr)).toBe(EstargzErrorCode.badPath);
  });

  // containers/storage's normal pull drops a PAX xattr record with an empty value.
  it('leaves out xattrs with an empty value, as a normal pull does', () => {
    const index = parseToc(
      toc([
        reg('f', {
          xattrs: { 'user.empty': '', 'user.kept': Buffer.from('v').toString('base64') },
        }),
      ]),
      { tocOffset: 1000 },
    );
    const xattrs = index.xattrs(index.resolve('f')!);
    expect([...xattrs.keys()]).toEqual(['user.kept']);
  });

  it("accepts xattrs within Linux's limits (255-byte name, 64 KiB value), not beyond", () => {
    const b64 = (n: number) => Buffer.alloc(n, 1).toString('base64');
    const xattr = (name: string, bytes: number) =>
      parse([reg('f', { xattrs: { [name]: b64(bytes) } })]);
    expect(codeOf(xattr(`user.${'n'.repeat(250)}`, 65536))).toBe('OK');
    expect(codeOf(xattr(`user.${'n'.repeat(251)}`, 1))).toBe(EstargzErrorCode.badEntry);
    expect(codeOf(xattr('user.big', 65537))).toBe(EstargzErrorCode.badEntry);
  });

  it('rejects escaping whiteouts and hardlink targets', () => {
    expect(codeOf(parse([{ name: '.wh...', type: 'reg' }]))).toBe(EstargzErrorCode.badPath);
    expect(codeOf(parse([reg('a'), { name: 'b', type: 'hardlink', linkName: '../a' }]))).toBe(
      EstargzErrorCode.badPath,
    );
  });

  it('rejects duplicates and paths below files', () => {
    expect(codeOf(parse([reg('a'), reg('a', { offset: 200 })]))).toBe(
      EstargzErrorCode.duplicateEntry,
    );
    expect(
      codeOf(
        parse([
          { name: 'd/', type: 'dir' },
          { name: 'd', type: 'dir' },
        ]),
      ),
    ).toBe(EstargzErrorCode.duplicateEntry);
    expect(codeOf(parse([reg('a'), reg('a/b', { offset: 200 })]))).toBe(
      EstargzErrorCode.duplicateEntry,
    );
    // A whiteout given twice says the same thing twice: one whiteout.
    const twice = parse([
      { name: '.wh.a', type: 'reg' },
      { name: '.wh.a', type: 'reg' },
    ])();
    expect(twice.readdir(ROOT_INO).map((e) => [e.name, twice.stat(e.ino).mode & S_IFMT])).toEqual([
      ['a', S_IFCHR],
    ]);
  });

  it('names a path through a symlink of the same layer as such', () => {
    const attempt = parse([{ name: 'lnk', type: 'symlink', linkName: 'real' }, reg('lnk/f')]);
    expect(codeOf(attempt)).toBe(EstargzErrorCode.duplicateEntry);
    expect(attempt).toThrow('"lnk" is a symlink in this layer and also a directory');
  });

  it("lets a layer's own entry win over its whiteout of the same name, in either order", () => {
    // OCI: a whiteout hides the lower layers' entry; the layer's own entry of that name is new.
    const index = parseToc(
      toc([
        { name: '.wh.c', type: 'reg' },
        reg('c'),
        reg('d', { offset: 200 }),
        { name: '.wh.d', type: 'reg' },
        { name: '.wh.f', type: 'reg' },
        { name: 'f/', type: 'dir' },
        reg('f/in', { offset: 300 }),
        { name: '.wh.g', type: 'reg' },
        reg('g/implicit', { offset: 400 }),
        { name: 'h/', type: 'dir' },
        { name: '.wh.h', type: 'reg' },
        { name: '.wh.gone', type: 'reg' },
      ]),
      { tocOffset: 1000 },
    );
    const names = index.readdir(ROOT_INO).map((e) => e.name);
    expect(names).toEqual(['c', 'd', 'f', 'g', 'gone', 'h']);
    const mode = (path: string) => index.stat(index.resolve(path)!).mode & S_IFMT;
    expect([mode('c'), mode('d'), mode('f'), mode('g'), mode('h')]).toEqual([
      S_IFREG,
      S_IFREG,
      S_IFDIR,
      S_IFDIR,
      S_IFDIR,
    ]);
    expect(mode('gone')).toBe(S_IFCHR); // a whiteout with no entry of its own stays one
    // The directory merges with the lower layers' one, as containers/storage extracts it.
    for (const dir of ['f', 'g', 'h']) expect(index.xattrs(index.resolve(dir)!).size).toBe(0);
    expect(index.readdir(index.resolve('f')!).map((e) => e.name)).toEqual(['in']);
  });

  it('keeps the entry of each of many whiteout-and-entry pairs in one directory', () => {
    const pairs = 20_000;
    const entries: Entry[] = [];
    for (let i = 0; i < pairs; i++) {
      entries.push({ name: `d/.wh.f${i}`, type: 'reg' });
      entries.push(reg(`d/f${i}`, { offset: 100 + i }));
    }
    const index = parseToc(toc(entries), { tocOffset: 1_000_000 });
    const listed = index.readdir(index.resolve('d')!);
    expect(listed).toHaveLength(pairs);
    expect(listed.every((e) => (index.stat(e.ino).mode & S_IFMT) === S_IFREG)).toBe(true);
  });

  it('takes paths up to PATH_MAX (4096 bytes, 2048 levels) without recursion', () => {
    const deep = 'd/'.repeat(2047) + 'f';
    const index = parseToc(toc([reg(deep), reg(deep.replace(/f$/, 'g'), { offset: 200 })]), {
      tocOffset: 1000,
    });
    expect(index.inodeCount).toBe(2047 + 3);
    expect(index.path(index.resolve(deep)!)).toBe(deep);
  });

  // One 8 KB blob whose single entry had 4,000,000 components made `inspect` (and the agent's
  // lookup) build as many directories: 3 GB. Both parsers refuse such paths before building any.
  const deeper = 'd/'.repeat(2048) + 'f';
  const longer = `${'n'.repeat(255)}/`.repeat(16) + 'f';

  it('refuses a path longer than PATH_MAX or deeper than 2048 levels, as a hostile TOC', () => {
    for (const name of [deeper, longer]) {
      const attempt = parse([reg(name)]);
      expect(codeOf(attempt)).toBe(EstargzErrorCode.badPath);
      expect(attempt).toThrow(/longer than 4096/);
    }
  });

  it('refuses a path longer than PATH_MAX while the TOC streams in, too', async () => {
    for (const name of [deeper, longer]) {
      const json = Buffer.from(toc([reg('a'), reg(name, { offset: 200 })]));
      const parser = new TocStreamParser({ expectedTocDigest: sha256Digest(json) });
      parser.push(tocMember(json));
      parser.end();
      expect(await parser.result({ tocOffset: 1000, format: 'estargz' })).toBeUndefined();
      expect(parser.failure).toMatch(/longer than 4096/);
    }
  });

  it('counts the directories that deep paths imply against the entry limit', () => {
    // 20 entries of 100 new directories each: 2000 directories no entry describes.
    const entries = Array.from({ length: 20 }, (_, i) =>
      reg(`${`t${i}/`.repeat(100)}f`, { offset: 100 + i }),
    );
    const limits = { maxEntries: 1000 };
    expect(codeOf(() => parseToc(toc(entries), { tocOffset: 10_000, limits }))).toBe(
      EstargzErrorCode.limitExceeded,
    );
    // Directories the TOC describes are entries, counted as such.
    const described = Array.from({ length: 900 }, (_, i) => ({ name: `d${i}/`, type: 'dir' }));
    expect(parseToc(toc(described), { tocOffset: 10, limits }).inodeCount).toBe(901);
  });

  it('accepts a directory described after its children', () => {
    const index = parseToc(toc([reg('d/f'), { name: 'd/', type: 'dir', mode: 0o700 }]), {
      tocOffset: 1000,
    });
    expect(index.stat(index.resolve('d')!).mode & 0o777).toBe(0o700);
  });

  it('rejects hardlinks to missing targets or directories', () => {
    expect(codeOf(parse([{ name: 'l', type: 'hardlink', linkName: 'missing' }]))).toBe(
      EstargzErrorCode.badHardlink,
    );
    expect(
      codeOf(
        parse([
          { name: 'd/', type: 'dir' },
          { name: 'l', type: 'hardlink', linkName: 'd' },
        ]),
      ),
    ).toBe(EstargzErrorCode.badHardlink);
  });

  it('rejects broken chunk layouts', () => {
    const chunked = (second: Entry): Entry[] => [
      reg('f', { size: 20, chunkSize: 10 }),
      { name: 'f', type: 'chunk', offset: 200, chunkOffset: 10, chunkDigest: DIGEST, ...second },
    ];
    expect(codeOf(parse(chunked({})))).toBe('OK');
    expect(codeOf(parse(chunked({ offset: 50 })))).toBe(EstargzErrorCode.badChunk); // out of order
    expect(codeOf(parse(chunked({ offset: 2_000_000 })))).toBe(EstargzErrorCode.badChunk); // past TOC
    expect(codeOf(parse(chunked({ chunkOffset: 12 })))).toBe(EstargzErrorCode.badChunk);
    expect(codeOf(parse(chunked({ chunkSize: 99 })))).toBe(EstargzErrorCode.badChunk);
    expect(codeOf(parse(chunked({ name: 'other' })))).toBe(EstargzErrorCode.badChunk);
    expect(codeOf(parse([{ name: '', type: 'chunk', offset: 1, chunkOffset: 0 }]))).toBe(
      EstargzErrorCode.badChunk,
    );
    // The first chunk claims 10 bytes but the file has 20 and no second chunk follows.
    expect(codeOf(parse([reg('f', { size: 20, chunkSize: 10 })]))).toBe(EstargzErrorCode.badChunk);
    // Two entries sharing one gzip member must not overlap.
    expect(codeOf(parse([reg('a', { innerOffset: 0 }), reg('b', { innerOffset: 5 })]))).toBe(
      EstargzErrorCode.badChunk,
    );
    expect(codeOf(parse([reg('a'), reg('b', { innerOffset: 10 })]))).toBe('OK');
  });

  it('gives each entry its own modtime however they interleave, and refuses a bad one among good ones', () => {
    const times = ['2024-01-01T00:00:00Z', '1985-10-26T08:15:00Z', '2024-01-01T00:00:01.5Z'];
    // More distinct modtimes than the parser remembers, interleaved with the common ones.
    const many = Array.from({ length: 5000 }, (_, i) => new Date(Date.UTC(2020, 0, 1, 0, 0, i)));
    const entries = many.flatMap((t, i) => [
      reg(`a/f${i}`, { modtime: times[i % 3], offset: 1000 + 200 * i }),
      reg(`b/f${i}`, { modtime: t.toISOString(), offset: 1100 + 200 * i }),
    ]);
    const index = parseToc(toc(entries), { tocOffset: 2_000_000 });
    for (const i of [0, 1, 2, 4095, 4096, 4097, 4999]) {
      expect(index.stat(index.resolve(`a/f${i}`)!).mtimeMs).toBe(Date.parse(times[i % 3]));
      expect(index.stat(index.resolve(`b/f${i}`)!).mtimeMs).toBe(many[i].getTime());
    }
    const bad = [reg('x', { modtime: times[0] }), reg('y', { modtime: '2024-13-45T99:00:00Z' })];
    expect(codeOf(parse(bad))).toBe(EstargzErrorCode.badEntry);
    expect(codeOf(parse([reg('x', { modtime: times[0] })]))).toBe('OK');
  });

  it('rejects bad field values and huge sizes', () => {
    expect(codeOf(parse([reg('f', { size: 2 ** 60 })]))).toBe(EstargzErrorCode.badEntry);
    expect(codeOf(parse([reg('f', { size: -1 })]))).toBe(EstargzErrorCode.badEntry);
    expect(codeOf(parse([reg('f', { offset: 1.5 })]))).toBe(EstargzErrorCode.badEntry);
    expect(codeOf(parse([reg('f', { uid: 'root' })]))).toBe(EstargzErrorCode.badEntry);
    expect(codeOf(parse([reg('f', { modtime: 'yesterday' })]))).toBe(EstargzErrorCode.badEntry);
    expect(codeOf(parse([reg('f', { chunkDigest: 'md5:00' })]))).toBe(EstargzErrorCode.badEntry);
    expect(codeOf(parse([{ name: 'x', type: 'socket' }]))).toBe(EstargzErrorCode.badEntry);
    expect(codeOf(parse([{ name: 'x', type: 'symlink' }]))).toBe(EstargzErrorCode.badEntry);
    expect(codeOf(parse([reg('f', { xattrs: { 'user.a': 5 } })]))).toBe(EstargzErrorCode.badEntry);
  });

  it('enforces limits and the document shape', () => {
    const many = Array.from({ length: 11 }, (_, i) => ({ name: `d${i}/`, type: 'dir' }));
    expect(codeOf(() => parseToc(toc(many), { tocOffset: 10, limits: { maxEntries: 10 } }))).toBe(
      EstargzErrorCode.limitExceeded,
    );
    expect(codeOf(() => parseToc(toc(many), { tocOffset: 10, limits: { maxTocBytes: 100 } }))).toBe(
      EstargzErrorCode.limitExceeded,
    );
    expect(codeOf(() => parseToc('{"version":2,"entries":[]}', { tocOffset: 1 }))).toBe(
      EstargzErrorCode.badToc,
    );
    expect(codeOf(() => parseToc('{"version":1}', { tocOffset: 1 }))).toBe(EstargzErrorCode.badToc);
    expect(codeOf(() => parseToc('not json', { tocOffset: 1 }))).toBe(EstargzErrorCode.badToc);
    expect(codeOf(() => parseToc('['.repeat(100_000), { tocOffset: 1 }))).toBe(
      EstargzErrorCode.badToc,
    );
  });

  it('checks the TOC digest against the annotation', () => {
    const json = toc([reg('f')]);
    expect(codeOf(() => parseToc(json, { tocOffset: 1000, expectedTocDigest: DIGEST }))).toBe(
      EstargzErrorCode.tocDigestMismatch,
    );
    const index = parseToc(json, {
      tocOffset: 1000,
      expectedTocDigest: sha256Digest(Buffer.from(json)),
    });
    expect(index.tocVerified).toBe(true);
  });

  it('marks legacy TOCs without chunk digests as unverifiable unless a file digest covers them', async () => {
    const legacy = parseToc(toc([{ name: 'f', type: 'reg', size: 5, offset: 10 }]), {
      tocOffset: 100,
    });
    expect(legacy.verifiable).toBe(false);
    const chunk = legacy.chunksOf(legacy.resolve('f')!)[0];
    expect(chunk.verification).toBe(ChunkVerification.none);
    await expect(readChunk(chunk, Buffer.alloc(90))).rejects.toMatchObject({
      code: EstargzErrorCode.unverifiable,
    });
    const withDigest = parseToc(
      toc([{ name: 'f', type: 'reg', size: 5, offset: 10, digest: DIGEST }]),
      { tocOffset: 100 },
    );
    expect(withDigest.verifiable).toBe(true);
    expect(withDigest.chunksOf(withDigest.resolve('f')!)[0].verification).toBe(
      ChunkVerification.fileDigest,
    );
    // A multi-chunk file with only a whole-file digest cannot be verified chunk by chunk.
    const split = parseToc(
      toc([
        { name: 'f', type: 'reg', size: 20, offset: 10, chunkSize: 10, digest: DIGEST },
        { name: 'f', type: 'chunk', offset: 20, chunkOffset: 10 },
      ]),
      { tocOffset: 100 },
    );
    expect(split.verifiable).toBe(false);
  });
});

describe('TOC size across parses', () => {
  /** A budget of `max` entries shared by parses, recording the most it ever held. */
  function budgetOf(max: number) {
    const budget = {
      used: 0,
      peak: 0,
      take(count: number) {
        if (budget.used + count > max) {
          throw new EstargzError(EstargzErrorCode.limitExceeded, 'budget spent');
        }
        budget.used += count;
        budget.peak = Math.max(budget.peak, budget.used);
      },
      giveBack() {
        budget.used = 0;
      },
    };
    return budget;
  }
  const files = (n: number): Entry[] =>
    Array.from({ length: n }, (_, i) => ({ name: `d/f${i}`, type: 'reg', size: 0 }));

  it('a shared entry budget refuses a TOC once it passes its share', () => {
    const budget = budgetOf(1000);
    expect(() => parseToc(toc(files(5000)), { tocOffset: 0, entryBudget: budget })).toThrow(
      'budget spent',
    );
    expect(budget.peak).toBe(1000);
    const fits = budgetOf(1000);
    expect(parseToc(toc(files(900)), { tocOffset: 0, entryBudget: fits }).entryCount).toBe(900);
    expect(fits.used).toBe(900); // held until the index is dropped
  });

  it('refuses a large TOC in a shape eStargz writers do not produce, rather than parse it in one piece', () => {
    // An extra key: valid JSON, but every entry would be an object in memory at once.
    const odd = JSON.stringify({ version: 1, note: 'x', entries: files(400_000) });
    expect(odd.length).toBeGreaterThan(16 * 2 ** 20);
    expect(codeOf(() => parseToc(odd, { tocOffset: 0 }))).toBe(EstargzErrorCode.limitExceeded);
    // The same shape when small, and the usual shape however large, are parsed.
    expect(
      codeOf(() =>
        parseToc(JSON.stringify({ version: 1, note: 'x', entries: files(10) }), { tocOffset: 0 }),
      ),
    ).toBe('OK');
    expect(parseToc(toc(files(400_000)), { tocOffset: 0 }).entryCount).toBe(400_000);
  });
});

describe('footer and TOC location', () => {
  it('parses the 51-byte footer and the 47-byte legacy footer', () => {
    expect(parseFooter(createFooter(0x1234))).toEqual({
      format: 'estargz',
      tocOffset: 0x1234,
      size: FOOTER_SIZE,
    });
    const legacy = Buffer.concat([
      Buffer.from([0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff, 22, 0]),
      Buffer.from('00000000000000ffSTARGZ', 'latin1'),
      Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]),
    ]);
    expect(legacy.length).toBe(47);
    expect(parseFooter(legacy)).toEqual({ format: 'stargz-legacy', tocOffset: 255, size: 47 });
  });

  it('rejects truncated, foreign and out-of-range footers', () => {
    const footer = createFooter(10);
    expect(codeOf(() => parseFooter(footer.subarray(10)))).toBe(EstargzErrorCode.badFooter);
    expect(codeOf(() => parseFooter(gzipSync(Buffer.alloc(100))))).toBe(EstargzErrorCode.badFooter);
    const bad = Buffer.from(footer);
    bad.write('zz', 16, 'latin1');
    expect(codeOf(() => parseFooter(bad))).toBe(EstargzErrorCode.badFooter);
    expect(codeOf(() => locateToc(createFooter(10), 51))).toBe(EstargzErrorCode.badFooter);
    expect(codeOf(() => locateToc(createFooter(2 ** 40), 200))).toBe(EstargzErrorCode.badFooter);
    expect(codeOf(() => locateToc(Buffer.concat([Buffer.alloc(10), createFooter(0)]), 1e9))).toBe(
      EstargzErrorCode.limitExceeded,
    );
  });

  it('names the exact missing range when the TOC starts before the tail', () => {
    const where = locateToc(Buffer.concat([Buffer.alloc(100), createFooter(500)]), 1000);
    expect(where).toMatchObject({ kind: 'need', start: 500, end: 849 });
  });

  it('rejects TOC members that are not gzip, not a tar, or too large', async () => {
    await expect(extractTocJson(Buffer.from('garbage'))).rejects.toMatchObject({
      code: EstargzErrorCode.badToc,
    });
    const wrongName = gzipSync(
      buildTar([{ name: 'x.json', type: 'file', data: Buffer.from('{}') }]),
    );
    await expect(extractTocJson(wrongName)).rejects.toMatchObject({
      code: EstargzErrorCode.badToc,
    });
    const bomb = gzipSync(
      buildTar([{ name: 'stargz.index.json', type: 'file', data: Buffer.alloc(5 << 20, 0x20) }]),
    );
    await expect(extractTocJson(bomb, { maxTocBytes: 1 << 20 })).rejects.toMatchObject({
      code: EstargzErrorCode.limitExceeded,
    });
  });
});

describe('chunk verification', () => {
  it("bounds a chunk's compressed span by its size: junk after a small file's member is never fetched", async () => {
    const data = Buffer.from('a small file\n'.repeat(80));
    const member = gzipSync(Buffer.concat([data, padding(data.length)])); // as a tar carries it
    const junk = Buffer.alloc(4 << 20, 0x5a); // a hostile layer's filler before the TOC
    const json = toc([
      { name: 'f', type: 'reg', size: data.length, offset: 0, chunkDigest: sha256Digest(data) },
    ]);
    const tocOffset = member.length + junk.length;
    const blob = Buffer.concat([
      member,
      junk,
      tocMember(Buffer.from(json)),
      createFooter(tocOffset),
    ]);
    const index = await openBlob(blob);
    const [chunk] = index.chunksOf(index.resolve('f')!);
    expect(chunk.compressedEnd - chunk.compressedOffset).toBeLessThan(128 * 1024);
    const bytes = blob.subarray(chunk.compressedOffset, chunk.compressedEnd);
    expect((await readChunk(chunk, bytes)).equals(data)).toBe(true);
  });
  it('detects corrupted and substituted chunk bytes', async () => {
    const a = Buffer.alloc(100_000, 'a');
    const b = Buffer.alloc(100_000, 'b');
    const tar = buildTar([
      { name: 'a', type: 'file', data: a },
      { name: 'b', type: 'file', data: b },
    ]);
    const { blob, result } = await estargzFromTar(tar);
    const index = await openBlob(blob, result.tocDigest);
    const ca = index.chunksOf(index.resolve('a')!)[0];
    const cb = index.chunksOf(index.resolve('b')!)[0];
    const bytesOf = (c: typeof ca) => blob.subarray(c.compressedOffset, c.compressedEnd);
    expect((await readChunk(ca, bytesOf(ca))).equals(a)).toBe(true);
    // b's (valid) member served for a: the digest catches it.
    await expect(readChunk(ca, blob.subarray(cb.compressedOffset))).rejects.toMatchObject({
      code: EstargzErrorCode.chunkDigestMismatch,
    });
    const corrupt = Buffer.from(bytesOf(ca));
    corrupt[corrupt.length >> 1] ^= 0xff;
    await expect(readChunk(ca, corrupt)).rejects.toBeInstanceOf(EstargzError);
    await expect(readChunk(ca, bytesOf(ca).subarray(0, 5))).rejects.toMatchObject({
      code: EstargzErrorCode.badChunkData,
    });
  });
});
