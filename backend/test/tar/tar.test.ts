import { execFile } from 'node:child_process';
import {
  link,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { jest } from '@jest/globals';

import {
  END_OF_ARCHIVE,
  TarError,
  buildTar,
  encodeHeader,
  newHeader,
  padding,
  readTar,
  type TarHeader,
} from '../../src/tar/index.ts';

// Generous: these run on shared, busy CI machines (no timing is asserted).
jest.setTimeout(120_000);

const run = promisify(execFile);

async function readAll(tar: Buffer, pieceSize = 1000) {
  const pieces: Buffer[] = [];
  for (let i = 0; i < tar.length; i += pieceSize) pieces.push(tar.subarray(i, i + pieceSize));
  const out: { header: TarHeader; data: Buffer }[] = [];
  for await (const entry of readTar(pieces)) {
    const parts: Buffer[] = [];
    for await (const chunk of entry.body) parts.push(chunk);
    out.push({ header: entry.header, data: Buffer.concat(parts) });
  }
  return out;
}

describe('tar reader and writer', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tar-test-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const longName = `deep/${'n'.repeat(120)}/${'ü'.repeat(60)}.txt`;

  it.each(['gnu', 'posix', 'ustar'])(
    'reads archives written by GNU tar --format=%s',
    async (format) => {
      const root = join(dir, 'root');
      await mkdir(join(root, 'sub'), { recursive: true });
      await writeFile(join(root, 'sub/file'), 'content\n');
      await symlink('file', join(root, 'sub/sym'));
      await link(join(root, 'sub/file'), join(root, 'sub/hard'));
      const names = ['sub/', 'sub/file', 'sub/hard', 'sub/sym'];
      if (format !== 'ustar') {
        await mkdir(join(root, 'deep', 'n'.repeat(120)), { recursive: true });
        await writeFile(join(root, longName), Buffer.alloc(70_000, 'z'));
      }
      await run('tar', [
        `--format=${format}`,
        '-C',
        root,
        '-cf',
        join(dir, 'a.tar'),
        '--sort=name',
        '.',
      ]);
      const entries = await readAll(await readFile(join(dir, 'a.tar')));
      const byName = new Map(entries.map((e) => [e.header.name.replace(/^\.\//, ''), e]));
      for (const name of names) expect(byName.has(name)).toBe(true);
      expect(byName.get('sub/file')!.data.toString()).toBe('content\n');
      expect(byName.get('sub/sym')!.header).toMatchObject({ type: 'symlink', linkName: 'file' });
      const hard = [byName.get('sub/hard')!, byName.get('sub/file')!].find(
        (e) => e.header.type === 'hardlink',
      );
      expect(hard).toBeDefined();
      if (format !== 'ustar')
        expect(byName.get(longName)!.data.equals(Buffer.alloc(70_000, 'z'))).toBe(true);
    },
  );

  it('keeps the whole seconds of a PAX mtime exact, as extraction does', async () => {
    // 20.999999999 is 21 as one double: a TOC keeping whole seconds said 21 where tar gives 20.
    const root = join(dir, 'root');
    await mkdir(root);
    const stamps = ['@1700000000.999999999', '@1700000000.5', '@1700000000', '@-1.25'];
    for (const [i, stamp] of stamps.entries()) {
      await writeFile(join(root, `f${i}`), 'x');
      await run('touch', ['-h', '-d', stamp, join(root, `f${i}`)]);
    }
    const archive = join(dir, 't.tar');
    await run('tar', ['--format=posix', '-C', root, '-cf', archive, '--sort=name', '.']);
    const entries = await readAll(await readFile(archive));
    const seconds = (name: string) =>
      Math.floor(entries.find((e) => e.header.name.endsWith(name))!.header.mtime);
    expect([seconds('f0'), seconds('f1'), seconds('f2'), seconds('f3')]).toEqual([
      1700000000, 1700000000, 1700000000, -2,
    ]);
    expect(entries.find((e) => e.header.name.endsWith('f1'))!.header.mtime).toBe(1700000000.5);
  });

  it('writes a PAX mtime back to the nanosecond (a double keeps about seven digits)', async () => {
    const root = join(dir, 'root');
    await mkdir(root);
    await writeFile(join(root, 'f'), 'x');
    await run('touch', ['-h', '-d', '@1700000000.123456789', join(root, 'f')]);
    await run('tar', ['--format=posix', '-C', root, '-cf', join(dir, 't.tar'), 'f']);
    const entries = await readAll(await readFile(join(dir, 't.tar')));
    const again = Buffer.concat([
      ...entries.flatMap((e) => [encodeHeader(e.header), e.data, padding(e.data.length)]),
      END_OF_ARCHIVE,
    ]);
    await writeFile(join(dir, 'again.tar'), again);
    const out = join(dir, 'out');
    await mkdir(out);
    await run('tar', ['-C', out, '-xf', join(dir, 'again.tar')]);
    expect((await lstat(join(out, 'f'), { bigint: true })).mtimeNs).toBe(1700000000123456789n);
  });

  it("reads an old-style (V7) entry whose name ends in '/' as a directory", async () => {
    const header = (name: string, flag: string) => {
      const block = encodeHeader(newHeader({ name, type: 'file', mode: 0o711 }));
      block[156] = flag.charCodeAt(0);
      block.fill(0, 257, 265); // no ustar magic
      block.fill(0x20, 148, 156);
      let sum = 0;
      for (const byte of block) sum += byte;
      block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
      return block;
    };
    const tar = Buffer.concat([
      header('v7dir/', '\0'),
      header('regdir/', '0'),
      header('file', '\0'),
      END_OF_ARCHIVE,
    ]);
    const entries = await readAll(tar);
    expect(entries.map((e) => [e.header.name, e.header.type])).toEqual([
      ['v7dir/', 'dir'],
      ['regdir/', 'dir'],
      ['file', 'file'],
    ]);
  });

  it('reads the input to its end, past the end-of-archive blocks', async () => {
    const tar = Buffer.concat([buildTar([{ name: 'f', type: 'file' }]), Buffer.alloc(9216)]);
    let handedOut = 0;
    function* source() {
      for (let i = 0; i < tar.length; i += 512) {
        handedOut += 512;
        yield tar.subarray(i, i + 512);
      }
    }
    for await (const entry of readTar(source())) void entry;
    expect(handedOut).toBe(tar.length);
    await expect(readAll(Buffer.alloc(1024, 'x'))).rejects.toThrow(/^not a tar archive/);
  });

  it('writes archives GNU tar extracts exactly (long/unicode names, PAX xattrs, big ids)', async () => {
    const tar = buildTar([
      { name: 'd/', type: 'dir', mode: 0o750 },
      { name: longName, type: 'file', data: Buffer.from('long') },
      { name: 'd/big-uid', type: 'file', uid: 5_000_000, gid: 70_000, data: Buffer.from('x') },
      { name: 'd/link', type: 'symlink', linkName: `../${'t'.repeat(130)}` },
      {
        name: 'd/x',
        type: 'file',
        data: Buffer.from('x'),
        xattrs: new Map([['user.k', Buffer.from('v')]]),
      },
    ]);
    await writeFile(join(dir, 'b.tar'), tar);
    const { stdout } = await run('tar', ['--numeric-owner', '-tvf', join(dir, 'b.tar')]);
    expect(stdout).toContain('5000000/70000');
    const out = join(dir, 'out');
    await mkdir(out);
    await run('tar', ['--xattrs', '--xattrs-include=user.*', '-C', out, '-xf', join(dir, 'b.tar')]);
    expect((await readFile(join(out, longName))).toString()).toBe('long');
    expect(await readlink(join(out, 'd/link'))).toBe(`../${'t'.repeat(130)}`);
    const round = await readAll(tar, 333);
    expect(round.map((e) => e.header.name)).toEqual(['d/', longName, 'd/big-uid', 'd/link', 'd/x']);
    expect(round[2].header).toMatchObject({ uid: 5_000_000, gid: 70_000 });
    expect(round[4].header.xattrs.get('user.k')?.toString()).toBe('v');
  });

  it('rejects truncated archives and bad checksums with TarError', async () => {
    const tar = buildTar([{ name: 'f', type: 'file', data: Buffer.alloc(2000, 1) }]);
    await expect(readAll(tar.subarray(0, 1000))).rejects.toBeInstanceOf(TarError);
    const bad = Buffer.from(tar);
    bad[10] = 0x41;
    await expect(readAll(bad)).rejects.toBeInstanceOf(TarError);
  });
});
