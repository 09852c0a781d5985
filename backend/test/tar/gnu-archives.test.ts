// Archives real tools write that an image layer may contain, read by our tar reader: GNU sparse
// files in every encoding GNU tar writes (expanded to the file they stand for, as Go's
// archive/tar and so podman do), times before 1970 (GNU base-256 negatives), and names that are
// not UTF-8 (refused with a TarError: an eStargz TOC is JSON text and cannot carry them).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { jest } from '@jest/globals';

import { TarError, readTar, type TarHeader } from '../../src/tar/index.ts';

jest.setTimeout(120_000);
const run = promisify(execFile);

async function readAll(tar: Buffer, pieceSize = 4093) {
  const pieces: Buffer[] = [];
  for (let i = 0; i < tar.length; i += pieceSize) pieces.push(tar.subarray(i, i + pieceSize));
  const out = new Map<string, { header: TarHeader; data: Buffer }>();
  for await (const entry of readTar(pieces)) {
    const parts: Buffer[] = [];
    for await (const chunk of entry.body) parts.push(chunk);
    out.set(entry.header.name.replace(/^\.\//, ''), {
      header: entry.header,
      data: Buffer.concat(parts),
    });
  }
  return out;
}

/** A sparse file: `size` bytes, data only at the given offsets. */
async function writeSparse(path: string, size: number, data: [number, string][]) {
  const handle = await open(path, 'w');
  try {
    for (const [offset, text] of data)
      await handle.write(Buffer.from(text), 0, text.length, offset);
    await handle.truncate(size);
  } finally {
    await handle.close();
  }
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('GNU tar archives', () => {
  let dir: string;
  let root: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tar-gnu-'));
    root = join(dir, 'root');
    await mkdir(root);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const sparseArchives: [string, string[]][] = [
    ['oldgnu', ['--format=oldgnu']],
    ['gnu', ['--format=gnu']],
    ['posix 0.0', ['--format=posix', '--sparse-version=0.0']],
    ['posix 0.1', ['--format=posix', '--sparse-version=0.1']],
    ['posix 1.0', ['--format=posix', '--sparse-version=1.0']],
  ];

  it.each(sparseArchives)('expands sparse files (%s) to their full content', async (_, flags) => {
    // 40 data islands: more than the 4 map slots of an old-GNU header (extension blocks).
    const islands: [number, string][] = [];
    for (let i = 0; i < 40; i++) islands.push([i * 70_000 + 13, `island ${i}`]);
    await writeSparse(join(root, 'islands'), 40 * 70_000 + 5, islands);
    await writeSparse(join(root, 'tail-hole'), 5 << 20, [[4096, 'head']]);
    await writeSparse(join(root, 'all-hole'), 3 << 20, []);
    await writeFile(join(root, 'plain'), 'not sparse\n');
    const tar = join(dir, 'a.tar');
    await run('tar', ['--sparse', ...flags, '-C', root, '-cf', tar, '.']);
    const entries = await readAll(await readFile(tar));
    for (const name of ['islands', 'tail-hole', 'all-hole', 'plain']) {
      const entry = entries.get(name);
      expect(entry).toBeDefined();
      const onDisk = await readFile(join(root, name));
      expect(entry!.header).toMatchObject({ type: 'file', size: onDisk.length });
      expect(sha(entry!.data)).toBe(sha(onDisk));
      // Nothing of the sparse encoding is carried on: a rewrite must be a plain regular file.
      expect([...entry!.header.paxExtra.keys()].filter((k) => k.startsWith('GNU.sparse'))).toEqual(
        [],
      );
    }
  });

  it('rejects a sparse map that does not match the stored data', async () => {
    await writeSparse(join(root, 's'), 1 << 20, [[200_000, 'data']]);
    const tarPath = join(dir, 'a.tar');
    await run('tar', [
      '--sparse',
      '--format=posix',
      '--sparse-version=0.1',
      '-C',
      root,
      '-cf',
      tarPath,
      's',
    ]);
    const tar = await readFile(tarPath);
    expect((await readAll(tar)).get('s')!.data.length).toBe(1 << 20);
    // Claim one data byte less than the archive stores (same record length, so the PAX record
    // still parses; a PAX header's checksum covers only its header block, not the records).
    const m = /GNU\.sparse\.map=\d+,(\d+)/.exec(tar.toString('latin1'))!;
    const length = m[1];
    const smaller = String(Number(length) - 1).padStart(length.length, '0');
    tar.write(smaller, m.index + m[0].length - length.length, 'latin1');
    await expect(readAll(tar)).rejects.toThrow(/sparse map describes/);
  });

  it('reads modification times before 1970 (base-256 negatives, PAX)', async () => {
    await writeFile(join(root, 'old'), 'old\n');
    await run('touch', ['-d', '1950-06-01 00:00:00 UTC', join(root, 'old')]);
    const when = Date.UTC(1950, 5, 1) / 1000;
    for (const format of ['gnu', 'posix']) {
      const tar = join(dir, `${format}.tar`);
      await run('tar', [`--format=${format}`, '-C', root, '-cf', tar, 'old']);
      const entries = await readAll(await readFile(tar));
      expect(entries.get('old')!.header.mtime).toBe(when);
    }
  });

  it.each(['gnu', 'posix', 'ustar'])(
    'refuses names and link targets that are not UTF-8 (--format=%s)',
    async (format) => {
      const bad = Buffer.concat([Buffer.from(join(root, 'bad-')), Buffer.from([0xff, 0xfe])]);
      await writeFile(bad, 'x');
      const tar = join(dir, 'a.tar');
      await run('tar', [`--format=${format}`, '-C', root, '-cf', tar, '.']);
      const err = await readAll(await readFile(tar)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TarError);
      expect((err as Error).message).toContain('bad-\\xff\\xfe');
      expect((err as Error).message).toContain('not valid UTF-8');
    },
  );

  // Another converter's U+FFFD stands for bytes it could not carry: the agent refuses such a
  // TOC, so the converter does not write one (its message says why).
  it('refuses a name with U+FFFD', async () => {
    await writeFile(join(root, 'bad-\uFFFD'), 'x');
    const tar = join(dir, 'fffd.tar');
    await run('tar', ['--format=posix', '-C', root, '-cf', tar, '.']);
    const err = await readAll(await readFile(tar)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TarError);
    expect((err as Error).message).toContain('U+FFFD');
  });

  it('reads long UTF-8 names whose truncated header field splits a character', async () => {
    // GNU and PAX archives keep the first 100 bytes of a long name in the header block: here
    // that cut falls inside a 2-byte character. The full name comes from the long-name record.
    const name = `a${'ü'.repeat(80)}`;
    await writeFile(join(root, name), 'u');
    for (const format of ['gnu', 'posix']) {
      const tar = join(dir, `${format}.tar`);
      await run('tar', [`--format=${format}`, '-C', root, '-cf', tar, name]);
      const entries = await readAll(await readFile(tar));
      expect(entries.get(name)?.data.toString()).toBe('u');
    }
  });
});
