// Seeded fuzzing: thousands of mutated footers, TOCs, blobs and tars. Every input must either
// parse or fail with the codec's typed error — never crash, hang, or yield a path outside the
// layer or unverified data. A failure prints the seed and iteration to reproduce it.
import { gunzipSync } from 'node:zlib';

import { jest } from '@jest/globals';

import {
  EstargzError,
  createFooter,
  parseFooter,
  parseToc,
  readChunk,
  type LayerIndex,
} from '../../src/estargz/index.ts';
import { TarError, buildTar, readTar, type TarInput } from '../../src/tar/index.ts';
import { estargzFromTar, openBlob, prng, randomBytes } from './helpers.ts';

// Generous: these run on shared, busy CI machines (no timing is asserted).
jest.setTimeout(120_000);

const SEED = Number(process.env.FUZZ_SEED ?? 20261122);

function mutateBytes(rand: () => number, input: Buffer, maxEdits = 8): Buffer {
  let out = Buffer.from(input);
  const edits = 1 + Math.floor(rand() * maxEdits);
  for (let i = 0; i < edits; i++) {
    const pos = Math.floor(rand() * out.length);
    switch (Math.floor(rand() * 5)) {
      case 0:
        out[pos] = Math.floor(rand() * 256);
        break;
      case 1:
        out[pos] ^= 1 << Math.floor(rand() * 8);
        break;
      case 2:
        out = out.subarray(0, Math.max(0, pos)); // truncate
        break;
      case 3:
        out = Buffer.concat([
          out.subarray(0, pos),
          randomBytes(rand, 1 + Math.floor(rand() * 16)),
          out.subarray(pos),
        ]);
        break;
      default:
        out = Buffer.concat([
          out.subarray(0, pos),
          out.subarray(pos + 1 + Math.floor(rand() * 16)),
        ]);
    }
    if (out.length === 0) break;
  }
  return out;
}

/** Index invariants that must hold whenever a parse succeeds. */
function checkIndex(index: LayerIndex): void {
  for (let ino = 1; ino <= index.inodeCount; ino++) {
    const path = index.path(ino);
    for (const part of path.split('/')) {
      if (path !== '' && (part === '' || part === '.' || part === '..' || part.includes('\0'))) {
        throw new Error(`unsafe path ${JSON.stringify(path)}`);
      }
    }
    let expected = 0;
    for (const c of index.chunksOf(ino)) {
      if (c.fileOffset !== expected || c.size <= 0) throw new Error('chunks do not tile the file');
      if (!(c.compressedOffset < c.compressedEnd && c.compressedEnd <= index.tocOffset)) {
        throw new Error('chunk outside the blob data');
      }
      expected += c.size;
    }
    if (expected !== 0 && expected !== index.stat(ino).size) throw new Error('chunks != size');
  }
}

function expectTyped(err: unknown, context: string): void {
  if (!(err instanceof EstargzError)) {
    throw new Error(`${context}: untyped error ${(err as Error)?.stack ?? String(err)}`);
  }
}

const VALUES: unknown[] = [
  -1,
  0,
  1,
  1.5,
  2 ** 53,
  2 ** 63,
  1e308,
  NaN,
  '',
  'x',
  '..',
  '/abs',
  'a/../b',
  'a\0b',
  '.wh..wh..opq',
  '.wh.x',
  null,
  true,
  [],
  {},
  { 'user.x': 'AAAA' },
  'sha256:' + '0'.repeat(64),
  'reg',
  'chunk',
  'hardlink',
  'dir',
  'symlink',
  'char',
];
const FIELDS = [
  'name',
  'type',
  'size',
  'offset',
  'innerOffset',
  'chunkOffset',
  'chunkSize',
  'chunkDigest',
  'digest',
  'linkName',
  'mode',
  'uid',
  'xattrs',
  'modtime',
  'devMajor',
];

const sampleTar: TarInput[] = [
  { name: 'dir/', type: 'dir' },
  { name: 'dir/a', type: 'file', data: Buffer.alloc(3000, 1) },
  { name: 'dir/big', type: 'file', data: randomBytes(prng(1), 5000) },
  { name: 'dir/link', type: 'hardlink', linkName: 'dir/a' },
  { name: 'dir/sym', type: 'symlink', linkName: 'a' },
  { name: 'dir/.wh.gone', type: 'file' },
  { name: 'opq/.wh..wh..opq', type: 'file' },
  { name: 'dev', type: 'char', devMajor: 1, devMinor: 5 },
];

describe(`fuzz (seed ${SEED})`, () => {
  it('footers: 5000 mutations', () => {
    const rand = prng(SEED);
    const valid = Buffer.concat([randomBytes(rand, 20), createFooter(123456)]);
    for (let i = 0; i < 5000; i++) {
      const input = mutateBytes(rand, valid, 4);
      try {
        const footer = parseFooter(input);
        expect(Number.isSafeInteger(footer.tocOffset)).toBe(true);
      } catch (err) {
        expectTyped(err, `footer iteration ${i}`);
      }
    }
  });

  it('TOCs: 3000 structural and 2000 textual mutations', async () => {
    const rand = prng(SEED + 1);
    const { blob, result } = await estargzFromTar(buildTar(sampleTar), { chunkSize: 1024 });
    const good = await openBlob(blob, result.tocDigest);
    const plain = gunzipSync(blob);
    const start = plain.indexOf('{"version":1');
    const json = plain.subarray(start, plain.indexOf('}]}', start) + 3).toString();
    const base = JSON.parse(json) as { version: number; entries: Record<string, unknown>[] };
    const pick = <T>(list: T[]) => list[Math.floor(rand() * list.length)];
    for (let i = 0; i < 5000; i++) {
      let text: string;
      if (i < 3000) {
        const doc = structuredClone(base);
        for (let k = 0; k < 1 + Math.floor(rand() * 3); k++) {
          const entry = pick(doc.entries);
          const op = rand();
          if (op < 0.7) entry[pick(FIELDS)] = pick(VALUES);
          else if (op < 0.85) doc.entries.splice(Math.floor(rand() * doc.entries.length), 1);
          else
            doc.entries.splice(Math.floor(rand() * doc.entries.length), 0, structuredClone(entry));
        }
        text = JSON.stringify(doc);
      } else {
        text = mutateBytes(rand, Buffer.from(json)).toString('latin1');
      }
      try {
        checkIndex(parseToc(text, { tocOffset: good.tocOffset }));
      } catch (err) {
        expectTyped(err, `TOC iteration ${i}: ${text.slice(0, 300)}`);
      }
    }
  });

  it('blobs: 400 mutated blobs never yield unverified data', async () => {
    const rand = prng(SEED + 2);
    const { blob, result } = await estargzFromTar(buildTar(sampleTar), { chunkSize: 1024 });
    const good = await openBlob(blob, result.tocDigest);
    const truth = new Map<string, Buffer>();
    for (const ino of [good.resolve('dir/a')!, good.resolve('dir/big')!]) {
      const parts = [];
      for (const c of good.chunksOf(ino))
        parts.push(await readChunk(c, blob.subarray(c.compressedOffset, c.compressedEnd)));
      truth.set(good.path(ino), Buffer.concat(parts));
    }
    for (let i = 0; i < 400; i++) {
      const mutated = mutateBytes(rand, blob, 3);
      try {
        const index = await openBlob(mutated, result.tocDigest, 1 + Math.floor(rand() * 4096));
        checkIndex(index);
        for (const [path, data] of truth) {
          const ino = index.resolve(path)!;
          for (const c of index.chunksOf(ino)) {
            try {
              const bytes = await readChunk(
                c,
                mutated.subarray(c.compressedOffset, c.compressedEnd),
              );
              expect(bytes.equals(data.subarray(c.fileOffset, c.fileOffset + c.size))).toBe(true);
            } catch (err) {
              expectTyped(err, `blob iteration ${i} chunk ${c.id}`);
            }
          }
        }
      } catch (err) {
        expectTyped(err, `blob iteration ${i}`);
      }
    }
  });

  it('tars: 2000 mutated archives end with a TarError or parse', async () => {
    const rand = prng(SEED + 3);
    const tar = buildTar([
      ...sampleTar,
      {
        name: 'x'.repeat(150),
        type: 'file',
        data: Buffer.from('long'),
        xattrs: new Map([['user.k', Buffer.from('v')]]),
      },
    ]);
    for (let i = 0; i < 2000; i++) {
      const input = mutateBytes(rand, tar, 6);
      try {
        for await (const entry of readTar([input])) {
          for await (const _ of entry.body) {
            // drain
          }
        }
      } catch (err) {
        if (!(err instanceof TarError)) throw new Error(`tar iteration ${i}: ${String(err)}`);
      }
    }
  });
});
