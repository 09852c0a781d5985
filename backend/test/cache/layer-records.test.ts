// The layer records' own contract: found by either digest, references merged, a record that
// does not check out is dropped (never used), names only from digests, a count cap.
import { readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { LayerRecords, type LayerRecord } from '../../src/cache/layer-records.ts';
import { Annotations } from '../../src/image/types.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, '0')}`;
const fileOf = (n: number) => `${digest(n).replace(':', '-')}.json`;

/** Layer n, TOC digest 1000 + n. */
function entry(n: number): Omit<LayerRecord, 'references' | 'savedAt'> {
  return {
    digest: digest(n),
    tocDigest: digest(1000 + n),
    diffId: digest(2000 + n),
    descriptor: {
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: digest(n),
      size: 4096 + n,
      annotations: { [Annotations.estargzTocDigest]: digest(1000 + n) },
    },
    source: { registry: 'mirror.example:5000', repository: 'team/app' },
    image: { manifestDigest: digest(3000), compressedSize: 1 << 20 },
  };
}

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('layer-records');
});
afterEach(async () => {
  await removeDir(dir);
});

async function opened(maxRecords?: number): Promise<LayerRecords> {
  const records = new LayerRecords({ dir, ...(maxRecords ? { maxRecords } : {}) });
  await records.open();
  return records;
}

it('finds a record by the layer digest and by the TOC digest, after a reopen too', async () => {
  const records = await opened();
  expect(records.has(digest(1))).toBe(false);
  await records.note(entry(1), 'registry.example/team/app:v1');
  const reopened = await opened();
  for (const name of [digest(1), digest(1001)]) {
    expect(reopened.has(name)).toBe(true);
    expect(await reopened.get(name)).toMatchObject({
      ...entry(1),
      references: ['registry.example/team/app:v1'],
    });
  }
  expect(reopened.has(digest(2001))).toBe(false); // the DiffID names no record
  expect(await reopened.get(digest(2001))).toBeUndefined();
});

it('keeps each reference the layer is served under once, the most recently used first', async () => {
  const records = await opened();
  await Promise.all([
    records.note(entry(1), 'r.example/a:v1'),
    records.note(entry(1), 'r.example/b:v1'),
    records.note(entry(1), 'r.example/a:v1'),
  ]);
  expect((await records.get(digest(1)))?.references).toEqual(['r.example/a:v1', 'r.example/b:v1']);
});

// The same layer digest under another TOC is other contents (a registry lied about the digest):
// a reference seen with the first TOC must not be answered, offline, with the second.
it('forgets the references of another TOC under the same layer digest', async () => {
  const records = await opened();
  await records.note(entry(1), 'honest.example/app:v1');
  const other = { ...entry(1), tocDigest: digest(1999) };
  other.descriptor = {
    ...other.descriptor,
    annotations: { [Annotations.estargzTocDigest]: digest(1999) },
  };
  await records.note(other, 'liar.example/app:v1');
  expect(await records.get(digest(1))).toMatchObject({
    tocDigest: digest(1999),
    references: ['liar.example/app:v1'],
  });
});

it('drops a record whose bytes changed, and one filed under another name', async () => {
  const records = await opened();
  await records.note(entry(1), 'r.example/a:v1');
  await records.note(entry(2), 'r.example/a:v1');
  const path = join(dir, fileOf(1));
  const text = await readFile(path, 'utf8');
  // One digit of the DiffID changed on disk: the checksum no longer matches.
  await writeFile(path, text.replace(digest(2001).slice(-8), '99999999'));
  // Layer 2's record copied over layer 3's name: well-formed, but not layer 3's.
  await writeFile(join(dir, fileOf(3)), await readFile(join(dir, fileOf(2))));
  const reopened = await opened();
  expect(await reopened.get(digest(1))).toBeUndefined();
  expect(await reopened.get(digest(3))).toBeUndefined();
  expect(reopened.has(digest(1))).toBe(false);
  const left = await readdir(dir);
  expect(left).not.toContain(fileOf(1));
  expect(left).not.toContain(fileOf(3));
  expect(await reopened.get(digest(2))).toMatchObject({ digest: digest(2) });
});

it('drops records that are not JSON, or whose fields are out of bounds', async () => {
  const records = await opened();
  await writeFile(join(dir, fileOf(4)), 'not json');
  const bad = { ...entry(5), references: ['r.example/a:v1'], savedAt: 1 };
  bad.descriptor = { ...bad.descriptor, size: -1 };
  const text = JSON.stringify(bad);
  const { createHash } = await import('node:crypto');
  const checksum = `sha256:${createHash('sha256').update(text).digest('hex')}`;
  await writeFile(join(dir, fileOf(5)), JSON.stringify({ checksum, record: text }));
  const reopened = await opened();
  expect(await reopened.get(digest(4))).toBeUndefined();
  expect(await reopened.get(digest(5))).toBeUndefined();
  expect(records.has(digest(4))).toBe(false); // the first instance never saw them
});

it('drops a file too big to be a record, and a symlink, without reading them', async () => {
  const records = await opened();
  await records.note(entry(1), 'r.example/a:v1');
  await writeFile(join(dir, fileOf(6)), Buffer.alloc(2 * 1024 * 1024, 0x20));
  const target = join(dir, '..', `${basename(dir)}-target.json`);
  await writeFile(target, await readFile(join(dir, fileOf(1))));
  await symlink(target, join(dir, fileOf(7)));
  const reopened = await opened();
  expect(await reopened.get(digest(6))).toBeUndefined();
  expect(await reopened.get(digest(7))).toBeUndefined();
  const left = await readdir(dir);
  expect(left).not.toContain(fileOf(6));
  expect(left).not.toContain(fileOf(7));
  expect(await readFile(target, 'utf8')).toContain('checksum'); // the link's target is left alone
  await rm(target);
});

it('never turns a hostile name into a path, and saves nothing it could not use', async () => {
  const records = await opened();
  for (const name of ['../../etc/passwd', 'sha256:../x', 'sha256:', '', 'md5:abc']) {
    expect(records.has(name)).toBe(false);
    expect(await records.get(name)).toBeUndefined();
  }
  await records.note({ ...entry(1), diffId: '../../x' }, 'r.example/a:v1');
  expect(await readdir(dir)).toEqual([]);
});

it('keeps the most recently saved records within its cap, and ignores strays', async () => {
  await writeFile(join(dir, 'notes.txt'), 'someone else’s');
  await writeFile(join(dir, '.tmp-abc'), 'an interrupted write');
  const records = await opened(2);
  for (const n of [1, 2, 3]) {
    await records.note(entry(n), 'r.example/a:v1');
    await new Promise((resolve) => setTimeout(resolve, 5)); // distinct save times
  }
  const reopened = await opened(2);
  expect(reopened.has(digest(1))).toBe(false);
  expect(reopened.has(digest(1001))).toBe(false);
  expect(await reopened.get(digest(2))).toBeDefined();
  expect(await reopened.get(digest(1003))).toBeDefined();
  expect((await readdir(dir)).sort()).toEqual(
    ['notes.txt', fileOf(2), fileOf(3), fileOf(1002), fileOf(1003)].sort(),
  );
});
