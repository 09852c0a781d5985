// The TOC cache's own contract: complete files only, names only from digests, a byte cap.
import { lstat, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { TocCache } from '../../src/cache/toc-cache.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const digestName = (n: number) => digest(n).replace(':', '-');
let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('toc-cache');
});
afterEach(async () => {
  await removeDir(dir);
});

it('stores, returns, drops and survives a reopen', async () => {
  const cache = new TocCache({ dir, capBytes: 1 << 20 });
  await cache.open();
  await cache.put(digest(1), Buffer.from('toc one'));
  expect(await cache.get(digest(1))).toEqual(Buffer.from('toc one'));
  expect(await cache.get(digest(2))).toBeUndefined();
  const reopened = new TocCache({ dir, capBytes: 1 << 20 });
  await reopened.open();
  expect(await reopened.get(digest(1))).toEqual(Buffer.from('toc one'));
  expect(reopened.usedBytes).toBe(7);
  await reopened.drop(digest(1));
  expect(await reopened.get(digest(1))).toBeUndefined();
  expect(reopened.usedBytes).toBe(0);
});

it('never turns a hostile name into a path', async () => {
  const cache = new TocCache({ dir: join(dir, 'c'), capBytes: 1 << 20 });
  await cache.open();
  for (const name of ['../../etc/passwd', 'sha256:../x', 'sha256:', '', 'md5:abc']) {
    await cache.put(name, Buffer.from('x'));
    expect(await cache.get(name)).toBeUndefined();
  }
  expect(await readdir(join(dir, 'c'))).toEqual([]);
  expect(await readdir(dir)).toEqual(['c']);
});

it('keeps under its cap, oldest first, and removes interrupted writes at open', async () => {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, '.tmp-interrupted'), 'partial');
  const cache = new TocCache({ dir, capBytes: 250 });
  await cache.open();
  expect(await readdir(dir)).toEqual([]);
  for (let i = 1; i <= 4; i++) {
    await cache.put(digest(i), Buffer.alloc(100, i));
    await new Promise((resolve) => setTimeout(resolve, 5)); // distinct use times
  }
  expect(cache.usedBytes).toBeLessThanOrEqual(250);
  expect(await cache.get(digest(1))).toBeUndefined();
  expect(await cache.get(digest(2))).toBeUndefined();
  expect(await cache.get(digest(4))).toEqual(Buffer.alloc(100, 4));
  // Larger than the whole cap: not stored.
  await cache.put(digest(9), Buffer.alloc(300));
  expect(await cache.get(digest(9))).toBeUndefined();
});

it('starts over entries it did not write, and a tocs that is no directory', async () => {
  await mkdir(join(dir, 'tocs', digestName(1)), { recursive: true }); // a directory
  await symlink('nowhere', join(dir, 'tocs', digestName(2)));
  const cache = new TocCache({ dir: join(dir, 'tocs'), capBytes: 1 << 20 });
  await cache.open();
  expect(await readdir(join(dir, 'tocs'))).toEqual([]);
  await cache.put(digest(1), Buffer.from('toc one'));
  expect(await cache.get(digest(1))).toEqual(Buffer.from('toc one'));

  await writeFile(join(dir, 'file'), 'not a directory');
  const onFile = new TocCache({ dir: join(dir, 'file'), capBytes: 1 << 20 });
  await onFile.open();
  expect((await lstat(join(dir, 'file'))).isDirectory()).toBe(true);
});

it('removes its temporary file when a write fails', async () => {
  const cache = new TocCache({ dir, capBytes: 1 << 20 });
  await cache.open();
  await mkdir(join(dir, digestName(1), 'x'), { recursive: true }); // rename onto it fails
  await expect(cache.put(digest(1), Buffer.from('toc one'))).rejects.toThrow();
  expect(await readdir(dir)).toEqual([digestName(1)]);
  expect(cache.usedBytes).toBe(0);
});
