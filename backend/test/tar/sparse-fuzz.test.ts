// Mutated GNU sparse archives (the maps in old-GNU headers, extension blocks, PAX records and
// the PAX 1.0 map in the data) end with a TarError or parse into entries whose bodies hold
// exactly their stated size, within the expansion limit: never a crash, a hang or a body that
// disagrees with its header.
import { execFile } from 'node:child_process';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { jest } from '@jest/globals';

import { TarError, readTar } from '../../src/tar/index.ts';
import { prng } from '../estargz/helpers.ts';

jest.setTimeout(120_000);
const run = promisify(execFile);
const SEED = Number(process.env.FUZZ_SEED ?? 20261122);
const LIMIT = 64 << 20;

/** Overwrites a few bytes with digits, NULs, newlines or commas (what maps are made of). */
function mutateMetadata(rand: () => number, input: Buffer, region: number): Buffer {
  const out = Buffer.from(input);
  const alphabet = Buffer.from('0123456789\0\n, 9');
  const edits = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < edits; i++) {
    const pos = Math.floor(rand() * Math.min(region, out.length));
    out[pos] =
      rand() < 0.8 ? alphabet[Math.floor(rand() * alphabet.length)] : Math.floor(rand() * 256);
  }
  return out;
}

describe(`sparse archive fuzz (seed ${SEED})`, () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sparse-fuzz-'));
    const handle = await open(join(dir, 'islands'), 'w');
    for (let i = 0; i < 30; i++) await handle.write(Buffer.from(`i${i}`), 0, 2, i * 40_000);
    await handle.truncate(30 * 40_000 + 9);
    await handle.close();
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['oldgnu', ['--format=oldgnu']],
    ['posix 0.1', ['--format=posix', '--sparse-version=0.1']],
    ['posix 1.0', ['--format=posix', '--sparse-version=1.0']],
  ])('%s: 1500 mutations', async (name, flags) => {
    const path = join(dir, `${name.replace(/\W/g, '')}.tar`);
    await run('tar', ['--sparse', ...flags, '-C', dir, '-cf', path, 'islands']);
    const tar = await readFile(path);
    const rand = prng(SEED + name.length);
    let parsed = 0;
    for (let i = 0; i < 1500; i++) {
      const input = mutateMetadata(rand, tar, 4 * 512);
      try {
        for await (const entry of readTar([input], { maxSparseSize: LIMIT })) {
          let bytes = 0;
          for await (const chunk of entry.body) bytes += chunk.length;
          if (entry.header.type === 'file') expect(bytes).toBe(entry.header.size);
          expect(entry.header.size).toBeLessThanOrEqual(LIMIT);
        }
        parsed++;
      } catch (err) {
        if (!(err instanceof TarError)) throw new Error(`${name} mutation ${i}: ${String(err)}`);
      }
    }
    // Some mutations hit bytes nobody reads: the corpus must not be all errors.
    expect(parsed).toBeGreaterThan(0);
  });
});
