// The TOC parsed while it arrives (toc-stream.ts, toc-splitter.ts) must give exactly the index a
// whole parse gives, refuse exactly what it refuses, and fall back to it whenever the document or
// the bytes are not what the streamed path follows.
import { gzipSync } from 'node:zlib';

import { jest } from '@jest/globals';

import {
  EstargzError,
  createFooter,
  extractTocJson,
  openLayerIndex,
  parseFooter,
  parseToc,
  sha256Digest,
  TOC_NAME,
  type LayerIndex,
} from '../../src/estargz/index.ts';
import { TocEntrySplitter } from '../../src/estargz/toc-splitter.ts';
import { TocStreamParser } from '../../src/estargz/toc-stream.ts';
import { syntheticLayer } from '../../src/store/warm-up.ts';
import { buildTar, END_OF_ARCHIVE, encodeHeader, newHeader, padding } from '../../src/tar/index.ts';
import { estargzFromTar, prng } from './helpers.ts';

jest.setTimeout(120_000);

/** The store's first read: footer and the end of the TOC; the rest of a large TOC streams. */
const TAIL = 32 * 1024;

interface Opened {
  index?: LayerIndex;
  error?: { code: string; message: string };
  outcome?: { streamed: boolean; why?: string };
}

interface StreamPlan {
  /** Bytes per piece handed to the parser (undefined: no streaming, a whole parse). */
  piece?: number;
  /** What the stream hands over instead of the true bytes (a lying or broken response). */
  alter?: (bytes: Buffer) => Buffer;
  /** Whether the stream says it delivered everything. */
  delivered?: boolean;
}

async function open(blob: Buffer, digest: string, plan: StreamPlan = {}): Promise<Opened> {
  const opened: Opened = {};
  const { piece } = plan;
  try {
    opened.index = await openLayerIndex({
      blobSize: blob.length,
      expectedTocDigest: digest,
      tailBytes: TAIL,
      readRange: (start, end) => Promise.resolve(blob.subarray(start, end)),
      ...(piece !== undefined && {
        streamRange: (start: number, end: number, sink: (bytes: Buffer) => void) => {
          const bytes = (plan.alter ?? ((b: Buffer) => b))(blob.subarray(start, end));
          for (let at = 0; at < bytes.length; at += piece) sink(bytes.subarray(at, at + piece));
          return Promise.resolve(plan.delivered ?? true);
        },
      }),
      onStreamOutcome: (outcome) => (opened.outcome = outcome),
    });
  } catch (e) {
    if (!(e instanceof EstargzError)) throw e;
    opened.error = { code: e.code, message: e.message };
  }
  return opened;
}

/** The layer's chunks with another TOC document after them (its digest is that document's). */
/** The TOC member of an eStargz blob: a gzipped tar holding `stargz.index.json`. */
function tocMember(json: Buffer): Buffer {
  return gzipSync(
    Buffer.concat([
      encodeHeader(newHeader({ name: TOC_NAME, type: 'file', size: json.length })),
      json,
      padding(json.length),
      END_OF_ARCHIVE,
    ]),
  );
}

function withToc(layer: Buffer, json: string | Buffer): { blob: Buffer; digest: string } {
  const tocOffset = parseFooter(layer.subarray(layer.length - 51)).tocOffset;
  const bytes = Buffer.from(json);
  const blob = Buffer.concat([
    layer.subarray(0, tocOffset),
    tocMember(bytes),
    createFooter(tocOffset),
  ]);
  return { blob, digest: sha256Digest(bytes) };
}

/** A synthetic distribution-like layer of 30 × 80 files: its compressed TOC is ≫ the tail. */
const layer = syntheticLayer(30, 80);
const doc = JSON.parse(
  (
    await extractTocJson(layer.blob.subarray(parseFooter(layer.blob.subarray(-51)).tocOffset, -51))
  ).toString(),
) as { version: number; entries: object[] };

async function expectSameAsWhole(blob: Buffer, digest: string, plan: StreamPlan): Promise<Opened> {
  const whole = await open(blob, digest);
  const streamed = await open(blob, digest, plan);
  expect(streamed.error).toEqual(whole.error);
  expect(streamed.index).toEqual(whole.index);
  return streamed;
}

describe('a TOC parsed while it arrives', () => {
  it('gives the index a whole parse gives, whatever the pieces', async () => {
    expect(layer.blob.length - parseFooter(layer.blob.subarray(-51)).tocOffset).toBeGreaterThan(
      4 * TAIL,
    );
    for (const piece of [13, 4096, 65_536, layer.blob.length]) {
      const opened = await expectSameAsWhole(layer.blob, layer.tocDigest, { piece });
      expect(opened.outcome).toEqual({ streamed: true });
      expect(opened.index!.entryCount).toBe(doc.entries.length);
    }
  });

  it('follows the layouts writers produce: indented, keys in either order', async () => {
    const variants = [
      JSON.stringify(doc, null, '\t'), // stargz-snapshotter indents with tabs
      JSON.stringify({ entries: doc.entries, version: 1 }),
      JSON.stringify({ entries: doc.entries, version: 1 }, null, 2),
      `\n {\n"version" : 1 ,\r\n "entries" :\t[ ${doc.entries.map((e) => JSON.stringify(e)).join(' ,\n')} ] } \n`,
    ];
    for (const json of variants) {
      const { blob, digest } = withToc(layer.blob, json);
      const opened = await expectSameAsWhole(blob, digest, { piece: 4096 });
      expect(opened.outcome).toEqual({ streamed: true });
    }
  });

  it('streams the TOC of a layer made by the converter', async () => {
    const files = Array.from({ length: 3000 }, (_, i) => ({
      name: `./usr/share/doc/pkg-${i % 97}/file-${i}.txt`,
      type: 'file' as const,
      mode: 0o644,
      data: Buffer.from(`file ${i}\n`.repeat(1 + (i % 5))),
    }));
    const dirs = Array.from({ length: 97 }, (_, d) => ({
      name: `./usr/share/doc/pkg-${d}/`,
      type: 'dir' as const,
      mode: 0o755,
    }));
    const { blob, result } = await estargzFromTar(buildTar([...dirs, ...files]));
    const opened = await expectSameAsWhole(blob, result.tocDigest, { piece: 65_536 });
    expect(opened.outcome).toEqual({ streamed: true });
  });

  it('falls back to the whole parse for documents of other shapes, with its result', async () => {
    const entries = JSON.stringify(doc.entries);
    const variants = [
      `{"version":1,"entries":${entries},"extra":{"a":[1,2]}}`, // a key writers do not write
      `{"version":1.0,"entries":${entries}}`,
      `{"version":1,"entr\\u0069es":${entries}}`, // an escaped key is the same key to JSON.parse
      `{"version":1,"entries":[{"name":"decoy/","type":"dir"}],"entries":${entries}}`, // last wins
    ];
    for (const json of variants) {
      const { blob, digest } = withToc(layer.blob, json);
      const opened = await expectSameAsWhole(blob, digest, { piece: 4096 });
      expect(opened.outcome?.streamed).toBe(false);
      expect(opened.index).toBeDefined();
    }
  });

  it('gives the same index when names hold what looks like an entry boundary', async () => {
    // A cut inside such a string leaves the string open: JSON.parse refuses the run, and the
    // whole parse takes over; a cut elsewhere is a true boundary. Either way: the same index.
    // Every name, chunk name and link target: `module_` becomes `m},{"name":"x"},{_`.
    const json = JSON.stringify(doc).replaceAll('module_', 'm},{\\"name\\":\\"x\\"},{_');
    for (const piece of [4096, 65_536]) {
      const { blob, digest } = withToc(layer.blob, json);
      const opened = await expectSameAsWhole(blob, digest, { piece });
      expect(opened.index!.resolve('usr/lib/package-3/m},{"name":"x"},{_5.so.3')).toBeDefined();
      expect(opened.outcome).toBeDefined();
    }
  });

  it('refuses what the whole parse refuses, with the same error', async () => {
    const entries = JSON.stringify(doc.entries);
    const hostile = [
      `{"version":1,"entries":${entries}} trailing`,
      `\uFEFF{"version":1,"entries":${entries}}`,
      `{"version":2,"entries":${entries}}`,
      `{"version":1,"entries":${entries.replace('"usr/lib/package-5/"', '"../../etc/"')}}`,
      `{"version":1,"entries":${entries.slice(0, -100)}`,
      `{"version":1,"entries":[${doc.entries.map((e) => JSON.stringify(e)).join(',"not an entry",')}]}`,
      `{"version":1,"entries":${entries.replace('"usr/lib/package-7/module_1.so.0"', '"usr/lib/package-7/module_0.so.0"')}}`,
    ];
    for (const json of hostile) {
      const { blob, digest } = withToc(layer.blob, json);
      const opened = await expectSameAsWhole(blob, digest, { piece: 4096 });
      expect(opened.error).toBeDefined();
    }
    // A TOC that is not the one the manifest names.
    const other = withToc(
      layer.blob,
      JSON.stringify({ version: 1, entries: doc.entries.slice(1) }),
    );
    const opened = await expectSameAsWhole(other.blob, layer.tocDigest, { piece: 4096 });
    expect(opened.error?.code).toBe('TOC_DIGEST_MISMATCH');
  });

  it('uses only bytes whose digest it checked: a stream that lies loses to the read', async () => {
    const flip = (b: Buffer) => {
      const copy = Buffer.from(b);
      copy[Math.floor(copy.length / 2)] ^= 0x40;
      return copy;
    };
    const lied = await expectSameAsWhole(layer.blob, layer.tocDigest, { piece: 4096, alter: flip });
    expect(lied.outcome?.streamed).toBe(false);
    const short = await expectSameAsWhole(layer.blob, layer.tocDigest, {
      piece: 4096,
      alter: (b) => b.subarray(0, b.length - 1000),
      delivered: false,
    });
    expect(short.outcome).toEqual({ streamed: false, why: 'the TOC bytes did not all stream' });
  });
});

describe('TocEntrySplitter', () => {
  const feed = (json: string, piece: number) => {
    const splitter = new TocEntrySplitter();
    const bytes = Buffer.from(json);
    const entries: unknown[] = [];
    const take = (run: string | undefined) => {
      if (run !== undefined) entries.push(...(JSON.parse(run) as unknown[]));
    };
    for (let at = 0; at < bytes.length; at += piece)
      take(splitter.push(bytes.subarray(at, at + piece)));
    take(splitter.end());
    return { entries, complete: splitter.complete, failure: splitter.failure };
  };

  it('hands out every entry once, in order, whatever the pieces', () => {
    const entries = [{ name: 'a', xattrs: { k: 'v' } }, { name: 'é}{"' }, {}, { name: '[]' }];
    const json = JSON.stringify({ version: 1, entries }, null, 1);
    for (const piece of [1, 2, 3, 7, 64, json.length]) {
      expect(feed(json, piece)).toEqual({ entries, complete: true, failure: undefined });
    }
    expect(feed('{"entries":[],"version":1}', 5)).toEqual({
      entries: [],
      complete: true,
      failure: undefined,
    });
  });

  it('joins the pieces of an entry that spans many of them once, not once per piece', () => {
    // A hostile TOC of one huge string must cost linear work, not a copy of all it has so far
    // for every piece that arrives.
    const splitter = new TocEntrySplitter();
    const concat = jest.spyOn(Buffer, 'concat');
    try {
      splitter.push(Buffer.from('{"version":1,"entries":[{"name":"'));
      const piece = Buffer.alloc(64 * 1024, 'a{b');
      for (let i = 0; i < 500; i++) expect(splitter.push(piece)).toBeUndefined();
      expect(concat).toHaveBeenCalledTimes(0);
      const run = splitter.push(Buffer.from('","type":"dir"},{"name":"b"'));
      expect((JSON.parse(run!) as { name: string }[])[0].name).toHaveLength(500 * 64 * 1024);
      expect(concat).toHaveBeenCalledTimes(1);
    } finally {
      concat.mockRestore();
    }
  });

  it('gives up on shapes it does not follow, and says why', () => {
    expect(feed('[1]', 2).failure).toBe('the TOC does not start with an object');
    expect(feed('{"version":1,"entries":[1]}', 4).failure).toBe('an entry is not an object');
    expect(feed('{"version":1,"x":2,"entries":[]}', 4).failure).toMatch(/unexpected key/);
    expect(feed('{"version":1,"entries":[]} x', 4).failure).toBe('bytes after the TOC object');
    expect(feed('{"version":1}', 4)).toMatchObject({ complete: false, failure: undefined });
  });
});

describe('fuzzed TOC documents', () => {
  const SEED = Number(process.env.FUZZ_SEED ?? 20261123);
  const small = JSON.stringify(
    { version: 1, entries: doc.entries.slice(0, 60) },
    null,
    // Both layouts writers produce.
    SEED % 2 === 0 ? undefined : '\t',
  );
  // Mostly JSON's structural characters: they are what the splitter follows.
  const alphabet = '{}[],:"\\ \n\tu01e.-x';

  function mutate(rand: () => number, text: string): string {
    let out = text;
    for (let edits = 1 + Math.floor(rand() * 4); edits > 0; edits--) {
      const at = Math.floor(rand() * out.length);
      const len = Math.floor(rand() * 4);
      const insert = Array.from(
        { length: Math.floor(rand() * 4) },
        () => alphabet[Math.floor(rand() * alphabet.length)],
      ).join('');
      out = out.slice(0, at) + insert + out.slice(at + len);
    }
    return out;
  }

  it("streams to the whole parse's index or falls back to it, never to another one", async () => {
    const rand = prng(SEED);
    let streamed = 0;
    for (let i = 0; i < 400; i++) {
      const json = Buffer.from(i === 0 ? small : mutate(rand, small));
      let whole: LayerIndex | undefined;
      try {
        whole = parseToc(json, { tocOffset: 2 ** 40, expectedTocDigest: sha256Digest(json) });
      } catch (e) {
        if (!(e instanceof EstargzError)) throw e;
      }
      const parser = new TocStreamParser({ expectedTocDigest: sha256Digest(json) });
      const gz = tocMember(json);
      for (let at = 0; at < gz.length;) {
        const n = 1 + Math.floor(rand() * 3000);
        parser.push(gz.subarray(at, at + n));
        at += n;
      }
      parser.end();
      const index = await parser.result({ tocOffset: 2 ** 40, format: 'unknown' });
      const context = `seed ${SEED} iteration ${i}: ${parser.failure ?? 'streamed'}`;
      if (index) {
        streamed++;
        expect({ context, index }).toEqual({ context, index: whole });
      }
    }
    // Mutated documents streamed too, not only the first (the fallbacks have their own tests).
    expect(streamed).toBeGreaterThan(1);
  });
});
