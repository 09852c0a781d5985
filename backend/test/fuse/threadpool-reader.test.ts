// The fallback device reader (blocking reads in the libuv threadpool) serves the same mount:
// metadata, a big directory, reads past 4 GiB, a READ that waits without blocking the others, and
// a clean exit on SIGTERM (which needs the connection to end so the pool's reads return).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';

import { mountsAt } from '../../src/fuse/index.ts';
import { generatedBytes } from './fixtures/pattern.ts';
import { BIG_DIR_ENTRIES, HELLO, HUGE_SIZE } from './fixtures/tree.ts';
import { startFixtureServer, type FixtureServer } from './server.ts';

let server: FixtureServer;
const at = (path: string): string => join(server.mountpoint, path);

beforeAll(async () => {
  server = await startFixtureServer(undefined, 'threadpool');
}, 30_000);

afterAll(async () => {
  await server?.stop();
}, 30_000);

test('serves metadata, a 100k-entry directory and reads beyond 4 GiB', () => {
  expect(fs.readFileSync(at('link'), 'utf8')).toBe(HELLO);
  expect(fs.statSync(at('whiteout')).isCharacterDevice()).toBe(true);
  expect(fs.readdirSync(at('big'))).toHaveLength(BIG_DIR_ENTRIES);
  const fd = fs.openSync(at('huge.bin'), 'r');
  try {
    const offset = HUGE_SIZE - 70_000;
    const buf = Buffer.alloc(100_000);
    const n = fs.readSync(fd, buf, 0, buf.length, offset);
    expect(n).toBe(70_000);
    expect(buf.subarray(0, n).equals(generatedBytes(offset, n))).toBe(true);
  } finally {
    fs.closeSync(fd);
  }
}, 60_000);

test('a pending READ does not block others; the interrupt frees it', async () => {
  const reader = spawn('dd', [`if=${at('slow')}`, 'of=/dev/null', 'bs=4096', 'count=1'], {
    stdio: 'ignore',
  });
  const exited = new Promise((resolve) => reader.once('exit', resolve));
  for (let i = 0; i < 300 && (await server.events()).events.slowReadsPending !== 1; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(fs.readFileSync(at('dir/a.txt'), 'utf8')).toBe('a\n');
  reader.kill('SIGINT');
  await exited;
  for (let i = 0; i < 300 && (await server.events()).events.interrupted !== 1; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  expect((await server.events()).events.interrupted).toBe(1);
}, 30_000);

test('SIGTERM unmounts and the process exits although reads were blocked in its threadpool', async () => {
  server.child.kill('SIGTERM');
  expect(await server.exited).toBe(0);
  expect(mountsAt(server.mountpoint)).toHaveLength(0);
}, 30_000);
