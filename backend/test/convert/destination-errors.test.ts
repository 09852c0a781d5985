// A destination that cannot be written (full, read-only, not a directory, not ours) and a
// temporary directory that cannot be either: `slipstream convert` says in one line what it was
// writing where and why, exits 1, and leaves no temporary file and no tag behind. What can be
// known before converting (read-only, not a directory, not ours) is said before any layer is.
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { buildTar } from '../../src/tar/index.ts';
import { prng, randomBytes } from '../estargz/helpers.ts';
import { run } from '../support/process.ts';
import { mountTmpfs, type Tmpfs } from '../support/tmpfs.ts';
import { writeSourceImage } from './layout-helpers.ts';
import { runCli, type CliUser } from './run-cli.ts';

jest.setTimeout(120_000);

const NOBODY: CliUser = { uid: 65534, gid: 65534 };
const TMPDIR_ADVICE =
  'set TMPDIR to a writable directory with room for the largest converted layer';
const LAYER = String.raw`image layer 1/1 \(sha256:[0-9a-f]{64}\)`;
/** A destination that cannot be written to is found before the layer is converted. */
const NO_LAYER_CONVERTED = /image layer/;

let dir: string;
let src: string;
/** What each test mounted, unmounted after it. */
let mounts: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'convert-dst-errors-'));
  await chmod(dir, 0o755); // the EACCES test runs the CLI as nobody, who must read the source
  src = join(dir, 'src');
  // Incompressible, 3 MiB: the converted layer does not fit a 1 MiB file system.
  const tar = buildTar([{ name: 'big', type: 'file', data: randomBytes(prng(3), 3 << 20) }]);
  await writeSourceImage(src, 'v1', [tar]);
});

afterEach(async () => {
  for (const path of mounts.reverse()) await run('umount', ['-l', path]);
  mounts = [];
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function tmpfs(name: string, bytes: number): Promise<Tmpfs> {
  const fs = await mountTmpfs(join(dir, name), bytes);
  mounts.push(fs.path);
  return fs;
}

/** A read-only view of `source` (a bind mount remounted read-only). */
async function readOnlyView(source: string, name: string): Promise<string> {
  const view = join(dir, name);
  await mkdir(view, { recursive: true });
  await run('mount', ['--bind', source, view]);
  mounts.push(view);
  await run('mount', ['-o', 'remount,bind,ro', view]);
  return view;
}

/** Converts the source into `dst` with its own TMPDIR; returns the result and that TMPDIR. */
async function convert(dst: string, opts: { tmp?: string; user?: CliUser } = {}) {
  const tmp = opts.tmp ?? (await mkdtemp(join(dir, 'tmp-')));
  if (opts.user) await chmod(tmp, 0o777);
  const env = { ...process.env, TMPDIR: tmp };
  // Another user reads no auth file of root's (an unreadable one is an error).
  if (opts.user) Object.assign(env, { HOME: tmp, XDG_RUNTIME_DIR: tmp });
  const result = await runCli(['convert', `oci:${src}:v1`, `oci:${dst}`], env, opts.user);
  return { ...result, tmp, lastLine: result.stderr.trim().split('\n').pop() ?? '' };
}

/** Files whose names say they were half written (blob and index.json temporaries, the lock). */
async function leftovers(root: string): Promise<string[]> {
  const names = await readdir(root, { recursive: true }).catch(() => [] as string[]);
  return names.filter((n) => /(^|\/)\.(tmp-|index\.json\.)|index\.json\.lock$/.test(n));
}

it('a full temporary directory: names the converted layer and the directory', async () => {
  const fs = await tmpfs('small-tmp', 1 << 20);
  const out = await convert(join(dir, 'dst-tmp-full'), { tmp: fs.path });
  expect(out.code).toBe(1);
  expect(out.lastLine).toMatch(
    new RegExp(
      `^slipstream convert: ${LAYER}: cannot write the converted layer to ${fs.path}/slipstream-convert-\\w+: no space left on device \\(ENOSPC\\); ${TMPDIR_ADVICE}$`,
    ),
  );
  expect(await readdir(fs.path)).toEqual([]);
  expect(await readdir(join(dir, 'dst-tmp-full')).catch(() => [])).not.toContain('index.json');
});

it('a full destination: names the layout directory, keeps no partial blob and no tag', async () => {
  const fs = await tmpfs('small-dst', 1 << 20);
  const dst = join(fs.path, 'dst');
  const out = await convert(dst);
  expect(out.code).toBe(1);
  expect(out.lastLine).toMatch(
    new RegExp(
      `^slipstream convert: ${LAYER}: cannot write the converted layer to ${dst}/blobs/sha256: no space left on device \\(ENOSPC\\)$`,
    ),
  );
  expect(await readdir(join(dst, 'blobs', 'sha256'))).toEqual([]);
  expect(await readdir(dst)).not.toContain('index.json');
  expect(await readdir(out.tmp)).toEqual([]);
});

it('a destination full just before the tag is written: says so, and tags nothing', async () => {
  // The same conversion elsewhere says how many pages its files take on a tmpfs.
  const plain = join(dir, 'plain');
  expect((await convert(plain)).code).toBe(0);
  const names = await readdir(plain, { recursive: true, withFileTypes: true });
  let pages = 0;
  for (const f of names.filter((n) => n.isFile() && n.name !== 'index.json')) {
    pages += Math.ceil((await readFile(join(f.parentPath, f.name))).length / 4096);
  }
  const fs = await tmpfs('exact-dst', 8 << 20);
  const { bavail, bsize } = await statfs(fs.path);
  expect(bsize).toBe(4096);
  await writeFile(join(fs.path, 'someone-else'), Buffer.alloc((bavail - pages) * bsize));
  const dst = join(fs.path, 'dst');
  const out = await convert(`${dst}:v1`);
  expect(out.code).toBe(1);
  expect(out.lastLine).toBe(
    `slipstream convert: cannot tag "v1" in ${dst}/index.json: no space left on device (ENOSPC)`,
  );
  expect(await readdir(dst)).not.toContain('index.json');
  expect(await leftovers(dst)).toEqual([]);
});

it('a read-only destination, new or an existing layout: the tags it had stay as they were', async () => {
  const ro = await tmpfs('ro-empty', 1 << 20);
  await run('mount', ['-o', 'remount,ro', ro.path]);
  const fresh = await convert(join(ro.path, 'dst'));
  expect(fresh.code).toBe(1);
  expect(fresh.lastLine).toBe(
    `slipstream convert: cannot write the OCI image layout ${ro.path}/dst: read-only file system (EROFS)`,
  );
  expect(fresh.stderr).not.toMatch(NO_LAYER_CONVERTED);

  const rw = join(dir, 'rw');
  expect((await convert(join(rw, 'dst:old'))).code).toBe(0);
  await rm(join(rw, 'dst', 'blobs'), { recursive: true }); // so that the layer is written again
  await mkdir(join(rw, 'dst', 'blobs'));
  const index = await readFile(join(rw, 'dst', 'index.json'), 'utf8');
  const view = await readOnlyView(rw, 'ro-view');
  const existing = await convert(join(view, 'dst:new'));
  expect(existing.code).toBe(1);
  expect(existing.lastLine).toBe(
    `slipstream convert: cannot write the OCI image layout ${view}/dst: read-only file system (EROFS)`,
  );
  expect(existing.stderr).not.toMatch(NO_LAYER_CONVERTED);
  expect(await readFile(join(rw, 'dst', 'index.json'), 'utf8')).toBe(index);
  expect(await leftovers(join(rw, 'dst'))).toEqual([]);
  expect(await readdir(existing.tmp)).toEqual([]);
});

it('a read-only temporary directory: says where, and what to do', async () => {
  const ro = await tmpfs('ro-tmp', 1 << 20);
  await run('mount', ['-o', 'remount,ro', ro.path]);
  const out = await convert(join(dir, 'dst-ro-tmp'), { tmp: ro.path });
  expect(out.code).toBe(1);
  expect(out.lastLine).toBe(
    `slipstream convert: cannot create a temporary directory in ${ro.path}: read-only file system (EROFS); ${TMPDIR_ADVICE}`,
  );
});

it('a destination path that is a file, or inside one', async () => {
  const file = join(dir, 'a-file');
  await writeFile(file, 'not a layout\n');
  for (const [dst, why] of [
    [file, 'a file that is not a directory is in the way (EEXIST)'],
    [join(file, 'dst'), 'a part of the path is a file, not a directory (ENOTDIR)'],
  ]) {
    const out = await convert(dst);
    expect(out.code).toBe(1);
    expect(out.lastLine).toBe(
      `slipstream convert: cannot write the OCI image layout ${dst}: ${why}`,
    );
    expect(out.stderr).not.toMatch(NO_LAYER_CONVERTED);
    expect(await readdir(out.tmp)).toEqual([]);
  }
  expect(await readFile(file, 'utf8')).toBe('not a layout\n');
});

it('a destination the user may not write to (run as nobody)', async () => {
  const owned = join(dir, 'root-owned');
  await mkdir(owned, { mode: 0o755 });
  const out = await convert(join(owned, 'dst'), { user: NOBODY });
  expect(out.code).toBe(1);
  expect(out.lastLine).toBe(
    `slipstream convert: cannot write the OCI image layout ${owned}/dst: permission denied (EACCES)`,
  );
  expect(out.stderr).not.toMatch(NO_LAYER_CONVERTED);
  expect(await readdir(owned)).toEqual([]);
  expect(await readdir(out.tmp)).toEqual([]);
});
