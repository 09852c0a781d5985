// The FUSE server mounted for real (/dev/fuse, mount(8)), serving the MemFs fixture from a child
// process, exercised with real syscalls from this process and from separate programs.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';

import { mountsAt } from '../../src/fuse/index.ts';
import { generatedBytes } from './fixtures/pattern.ts';
import { BIG_DIR_ENTRIES, HELLO, HUGE_SIZE } from './fixtures/tree.ts';
import { errorCode, startFixtureServer, type FixtureServer } from './server.ts';

const VERIFY = new URL('./fixtures/verify-range.ts', import.meta.url).pathname;
const LONG = 180_000;

let server: FixtureServer;
const at = (path: string): string => join(server.mountpoint, path);

beforeAll(async () => {
  server = await startFixtureServer();
}, 30_000);

afterAll(async () => {
  await server?.stop();
  expect(mountsAt(server.mountpoint)).toHaveLength(0);
}, 30_000);

test('negotiates the kernel protocol: readdirplus, parallel dirops, max pages, no writeback', () => {
  const flags = BigInt(server.protocol.flags);
  expect(server.protocol.minor).toBeGreaterThanOrEqual(31);
  expect(server.protocol.maxPages).toBe(256);
  for (const bit of [0n, 13n, 18n, 22n, 23n]) expect((flags >> bit) & 1n).toBe(1n);
  expect((flags >> 16n) & 1n).toBe(0n); // FUSE_WRITEBACK_CACHE
  const mount = mountsAt(server.mountpoint)[0];
  expect(mount?.fstype).toBe('fuse.slipstream');
  expect(mount?.source).toBe('slipstream-test');
});

test('stat reports type, size, mode, times and nlink', () => {
  const st = fs.statSync(at('hello.txt'));
  expect(st.isFile()).toBe(true);
  expect(st.size).toBe(HELLO.length);
  expect(st.mode & 0o777).toBe(0o644);
  expect(st.mtimeMs).toBeCloseTo(1_700_000_000_123.5, 1);
  expect(st.nlink).toBe(1);
  const dir = fs.statSync(at('dir'));
  expect(dir.isDirectory()).toBe(true);
  expect(dir.nlink).toBe(3); // ".", its entry in the root, and sub/..
  expect(errorCode(() => fs.statSync(at('missing')))).toBe('ENOENT');
});

test('readdir lists every entry; ls -l shows the types readdir reported', () => {
  expect(fs.readdirSync(at('dir')).sort()).toEqual(['a.txt', 'sub']);
  const listing = execFileSync('ls', ['-la', server.mountpoint], { encoding: 'utf8' });
  expect(listing).toMatch(/^l.* link -> hello\.txt$/m);
  expect(listing).toMatch(/^c.* 0, +0 .* whiteout$/m);
  expect(listing).toMatch(/^d.* dir$/m);
  // find -printf %y prints the d_type from getdents without stat()ing when the type is known
  const types = execFileSync('find', [server.mountpoint, '-maxdepth', '1', '-printf', '%y %f\n'], {
    encoding: 'utf8',
  });
  expect(types).toContain('l link\n');
  expect(types).toContain('c whiteout\n');
  expect(types).toContain('d dir\n');
  expect(types).toContain('f hello.txt\n');
});

test('after the first touch, names, attributes, listings and data come from the kernel caches', async () => {
  const touch = (): void => {
    execFileSync('ls', ['-l', at('dir')]);
    expect(fs.readFileSync(at('dir/a.txt'), 'utf8')).toBe('a\n');
    fs.statSync(at('dir/sub'));
  };
  touch();
  const before = (await server.events()).counts;
  touch();
  touch();
  const after = (await server.events()).counts;
  for (const kind of ['lookup', 'getattr', 'readdir', 'read']) {
    expect([kind, after[kind] ?? 0]).toEqual([kind, before[kind] ?? 0]);
  }
  expect(before.readdir).toBeGreaterThan(0);
});

test('reads at offsets, across a short tail and at EOF', () => {
  const fd = fs.openSync(at('hello.txt'), 'r');
  try {
    const buf = Buffer.alloc(64);
    expect(fs.readSync(fd, buf, 0, 5, 7)).toBe(5);
    expect(buf.subarray(0, 5).toString()).toBe(HELLO.slice(7, 12));
    expect(fs.readSync(fd, buf, 0, 64, 10)).toBe(HELLO.length - 10);
    expect(fs.readSync(fd, buf, 0, 64, HELLO.length)).toBe(0);
    expect(fs.readSync(fd, buf, 0, 64, 1_000_000)).toBe(0);
  } finally {
    fs.closeSync(fd);
  }
  expect(fs.readFileSync(at('hello.txt'), 'utf8')).toBe(HELLO);
});

test('symlinks: readlink, following, and a dangling link', () => {
  expect(fs.readlinkSync(at('link'))).toBe('hello.txt');
  expect(fs.lstatSync(at('link')).isSymbolicLink()).toBe(true);
  expect(fs.readFileSync(at('link'), 'utf8')).toBe(HELLO);
  expect(fs.readlinkSync(at('dangling'))).toBe('/nonexistent/target');
  expect(errorCode(() => fs.statSync(at('dangling')))).toBe('ENOENT');
  expect(errorCode(() => fs.readlinkSync(at('hello.txt')))).toBe('EINVAL');
});

test('xattrs: get, list, size probe, ERANGE for a short buffer, ENODATA when absent', () => {
  const script = `
import ctypes, errno, os, sys, json
p = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
def raw(name, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    n = libc.getxattr(p.encode(), name.encode(), buf if size else None, size)
    return n if n >= 0 else -ctypes.get_errno()
def rawlist(size):
    buf = ctypes.create_string_buffer(max(size, 1))
    n = libc.listxattr(p.encode(), buf if size else None, size)
    return n if n >= 0 else -ctypes.get_errno()
print(json.dumps({
  "value": os.getxattr(p, "user.greeting").decode(),
  "long": len(os.getxattr(p, "user.long")),
  "names": sorted(os.listxattr(p)),
  "probe": raw("user.long", 0),
  "short": raw("user.long", 10),
  "exact": raw("user.long", 300),
  "absent": raw("user.nope", 100),
  "listProbe": rawlist(0),
  "listShort": rawlist(3),
}))`;
  const out = JSON.parse(
    execFileSync('python3', ['-c', script, at('xattrs')], { encoding: 'utf8' }),
  ) as Record<string, unknown>;
  expect(out).toEqual({
    value: 'hello',
    long: 300,
    names: ['user.greeting', 'user.long'],
    probe: 300,
    short: -34, // ERANGE
    exact: 300,
    absent: -61, // ENODATA
    listProbe: 'user.greeting\0user.long\0'.length,
    listShort: -34,
  });
});

test('character devices, including the 0:0 whiteout', () => {
  const whiteout = fs.statSync(at('whiteout'));
  expect(whiteout.isCharacterDevice()).toBe(true);
  expect(whiteout.rdev).toBe(0);
  const nul = fs.statSync(at('null'));
  expect(nul.isCharacterDevice()).toBe(true);
  expect([Math.floor(nul.rdev / 256), nul.rdev % 256]).toEqual([1, 3]);
});

test('hardlinks share one inode', () => {
  const a = fs.statSync(at('hard1'));
  const b = fs.statSync(at('hard2'));
  expect(a.ino).toBe(b.ino);
  expect(a.nlink).toBe(2);
  expect(fs.readFileSync(at('hard2'), 'utf8')).toBe('shared inode\n');
});

test(
  'a directory of 100k entries lists completely and in order',
  () => {
    const names = fs.readdirSync(at('big'));
    expect(names).toHaveLength(BIG_DIR_ENTRIES);
    expect(new Set(names).size).toBe(BIG_DIR_ENTRIES);
    expect(names[0]).toBe('f000000');
    expect(names[BIG_DIR_ENTRIES - 1]).toBe('f099999');
    const lsCount = execFileSync('sh', ['-c', `ls -f "${at('big')}" | wc -l`], {
      encoding: 'utf8',
    });
    expect(Number(lsCount.trim())).toBe(BIG_DIR_ENTRIES + 2);
    expect(fs.readFileSync(at('big/f054321'), 'utf8')).toBe('f054321\n');
    expect(errorCode(() => fs.statSync(at('big/f100000')))).toBe('ENOENT');
  },
  LONG,
);

test('the readahead window asked for holds after FUSE_INIT: sequential READs exceed 128 KiB', async () => {
  // The kernel lowers the window to INIT's max_readahead (its 128 KiB default) when it processes
  // the INIT reply, so the window must be set afterwards for the 4096 KiB to stick.
  const device = mountsAt(server.mountpoint).at(-1)?.device;
  const window = fs.readFileSync(`/sys/class/bdi/${device}/read_ahead_kb`, 'utf8').trim();
  expect(window).toBe('4096');
  const fd = fs.openSync(at('huge.bin'), 'r'); // opened now: the file takes the 4 MiB window
  try {
    const buf = Buffer.alloc(64 * 1024);
    const start = 3 * 1024 ** 3; // a region no other test reads: nothing in the page cache
    for (let offset = start; offset < start + 32 * 1024 ** 2; offset += buf.length) {
      expect(fs.readSync(fd, buf, 0, buf.length, offset)).toBe(buf.length);
    }
    expect(buf.equals(generatedBytes(start + 32 * 1024 ** 2 - buf.length, buf.length))).toBe(true);
  } finally {
    fs.closeSync(fd);
  }
  const { largestRead } = (await server.events()).events;
  expect(largestRead).toBeGreaterThan(128 * 1024);
  expect(largestRead).toBeLessThanOrEqual(server.protocol.maxPages * 4096);
});

test('a 5 GiB generated file reads correctly at offsets beyond 4 GiB and at EOF', () => {
  expect(fs.statSync(at('huge.bin')).size).toBe(HUGE_SIZE);
  const fd = fs.openSync(at('huge.bin'), 'r');
  try {
    for (const offset of [
      0,
      4093,
      2 ** 31 - 3,
      2 ** 32 - 5,
      2 ** 32 + 4096 * 7 + 1,
      HUGE_SIZE - 100,
    ]) {
      const buf = Buffer.alloc(10_000);
      const n = fs.readSync(fd, buf, 0, buf.length, offset);
      expect(n).toBe(Math.min(buf.length, HUGE_SIZE - offset));
      expect(buf.subarray(0, n).equals(generatedBytes(offset, n))).toBe(true);
    }
    expect(fs.readSync(fd, Buffer.alloc(10), 0, 10, HUGE_SIZE)).toBe(0);
  } finally {
    fs.closeSync(fd);
  }
});

test(
  'concurrent readers in several processes all read the right bytes (whole 5 GiB file)',
  async () => {
    const readers = 4;
    const slice = Math.ceil(HUGE_SIZE / readers / 4096) * 4096;
    const results = await Promise.all(
      Array.from({ length: readers }, (_, i) =>
        runNode(VERIFY, [
          at('huge.bin'),
          String(i * slice),
          String(Math.min(slice, HUGE_SIZE - i * slice)),
        ]),
      ),
    );
    for (const r of results)
      expect(r).toEqual({ code: 0, out: expect.stringMatching(/^ok \d+\n$/) as string });
    const total = results.reduce((sum, r) => sum + Number(r.out.split(' ')[1]), 0);
    expect(total).toBe(HUGE_SIZE);
  },
  LONG,
);

test('a READ stuck in the filesystem does not block other requests, and INTERRUPT cancels it', async () => {
  const reader = spawn('dd', [`if=${at('slow')}`, 'of=/dev/null', 'bs=4096', 'count=1'], {
    stdio: 'ignore',
  });
  const readerExit = new Promise<number | null>((resolve) =>
    reader.once('exit', (_code, signal) => resolve(signal ? 1 : _code)),
  );
  await waitUntil(async () => (await server.events()).events.slowReadsPending === 1);
  // the READ is pending; metadata and data of other files are still served
  expect(fs.readFileSync(at('dir/a.txt'), 'utf8')).toBe('a\n');
  expect(spawnSync('stat', [at('hard1')]).status).toBe(0);
  reader.kill('SIGINT'); // the kernel turns the signal into FUSE_INTERRUPT
  await readerExit;
  await waitUntil(async () => (await server.events()).events.interrupted === 1);
  const { events, counts } = await server.events();
  expect(events.slowReadsPending).toBe(0);
  expect(counts.interrupt).toBeGreaterThanOrEqual(1);
}, 30_000);

test('create and rmdir reach the filesystem (reference counting) and answer its ENOENT', async () => {
  expect(errorCode(() => fs.writeFileSync(at('layer/use'), ''))).toBe('ENOENT');
  expect(errorCode(() => fs.rmdirSync(at('layer')))).toBe('ENOENT');
  const { events } = await server.events();
  expect(events.create).toBe(1);
  expect(events.rmdir).toBe(1);
});

test('modifications are refused with EROFS', () => {
  expect(errorCode(() => fs.mkdirSync(at('newdir')))).toBe('EROFS');
  expect(errorCode(() => fs.unlinkSync(at('hello.txt')))).toBe('EROFS');
  expect(errorCode(() => fs.renameSync(at('hello.txt'), at('renamed')))).toBe('EROFS');
  expect(errorCode(() => fs.symlinkSync('x', at('newlink')))).toBe('EROFS');
  expect(errorCode(() => fs.linkSync(at('hello.txt'), at('newhard')))).toBe('EROFS');
  expect(errorCode(() => fs.openSync(at('hello.txt'), 'r+'))).toBe('EROFS');
  expect(errorCode(() => fs.chmodSync(at('hello.txt'), 0o600))).toBe('EROFS');
  expect(fs.readFileSync(at('hello.txt'), 'utf8')).toBe(HELLO);
});

test('statfs answers', () => {
  const st = fs.statfsSync(server.mountpoint);
  expect(st.bsize).toBe(4096);
  expect(st.bavail).toBe(0);
});

test('kernel overlayfs with the mount as a lower layer honours the 0:0 whiteout and the opaque dir', () => {
  const work = fs.mkdtempSync('/tmp/slipstream-ovl-');
  const lower = join(work, 'lower');
  const merged = join(work, 'merged');
  fs.mkdirSync(join(lower, 'opq'), { recursive: true });
  fs.mkdirSync(merged);
  fs.writeFileSync(join(lower, 'gone.txt'), 'hidden by the whiteout\n');
  fs.writeFileSync(join(lower, 'keep.txt'), 'kept\n');
  fs.writeFileSync(join(lower, 'opq', 'old.txt'), 'hidden by the opaque dir\n');
  execFileSync('mount', [
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${at('ovl')}:${lower}`,
    merged,
  ]);
  try {
    expect(fs.readdirSync(merged).sort()).toEqual(['added.txt', 'keep.txt', 'opq']);
    expect(errorCode(() => fs.statSync(join(merged, 'gone.txt')))).toBe('ENOENT');
    expect(fs.readdirSync(join(merged, 'opq'))).toEqual(['new.txt']);
    expect(fs.existsSync(join(merged, 'opq', 'old.txt'))).toBe(false);
    expect(fs.readFileSync(join(merged, 'opq', 'new.txt'), 'utf8')).toBe('new\n');
    expect(fs.readFileSync(join(merged, 'keep.txt'), 'utf8')).toBe('kept\n');
    expect(fs.readFileSync(join(merged, 'added.txt'), 'utf8')).toBe('added\n');
  } finally {
    execFileSync('umount', [merged]);
    fs.rmSync(work, { recursive: true, force: true });
  }
});

async function runNode(
  script: string,
  args: string[],
): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.once('close', (code) => resolve({ code, out }));
  });
}

async function waitUntil(probe: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
