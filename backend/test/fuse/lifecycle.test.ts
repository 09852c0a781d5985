// Mount lifecycle with real processes: SIGTERM while readers hammer the mount, and recovery from
// a stale mount left by a daemon that was SIGKILLed.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { isStaleMount, mountsAt } from '../../src/fuse/index.ts';
import { cleanupMount, errorCode, startFixtureServer } from './server.ts';

function startReaders(
  file: string,
  count: number,
): { children: ChildProcess[]; exits: Promise<unknown[]> } {
  const children = Array.from({ length: count }, () =>
    // Re-reads the file forever with direct I/O-sized pieces; only unmount stops it.
    spawn(
      'sh',
      ['-c', `while :; do dd if="${file}" of=/dev/null bs=1M count=64 status=none || exit 3; done`],
      {
        stdio: 'ignore',
      },
    ),
  );
  const exits = Promise.all(children.map((c) => new Promise((resolve) => c.once('exit', resolve))));
  return { children, exits };
}

test('SIGTERM under load unmounts (lazily when busy), the server exits and nothing stays mounted', async () => {
  const server = await startFixtureServer();
  const readers = startReaders(join(server.mountpoint, 'huge.bin'), 3);
  // a process with its cwd inside the mount makes a plain umount fail with EBUSY
  const squatter = spawn('sleep', ['600'], {
    cwd: join(server.mountpoint, 'dir'),
    stdio: 'ignore',
  });
  try {
    await new Promise((r) => setTimeout(r, 500));
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(mountsAt(server.mountpoint)).toHaveLength(0);
    // the readers lose their files (ENOTCONN/ENOENT) and stop on their own
    await readers.exits;
  } finally {
    for (const c of [...readers.children, squatter]) c.kill('SIGKILL');
    await server.stop();
  }
}, 60_000);

test('a stale mount left by a killed daemon is detected and replaced at the next start', async () => {
  const mountpoint = fs.mkdtempSync(join(tmpdir(), 'slipstream-fuse-stale-'));
  const first = await startFixtureServer(mountpoint);
  first.child.kill('SIGKILL');
  await first.exited;
  expect(mountsAt(mountpoint)).toHaveLength(1);
  expect(isStaleMount(mountpoint)).toBe(true);
  expect(errorCode(() => fs.statSync(mountpoint))).toBe('ENOTCONN');

  const second = await startFixtureServer(mountpoint);
  try {
    expect(mountsAt(mountpoint)).toHaveLength(1);
    expect(isStaleMount(mountpoint)).toBe(false);
    expect(fs.readFileSync(join(mountpoint, 'dir', 'a.txt'), 'utf8')).toBe('a\n');
  } finally {
    await second.stop();
    cleanupMount(mountpoint);
  }
  expect(mountsAt(mountpoint)).toHaveLength(0);
}, 60_000);

test('refuses to mount over a live FUSE mount (it would hide the running daemon)', async () => {
  const first = await startFixtureServer();
  try {
    await expect(startFixtureServer(first.mountpoint)).rejects.toThrow(/exited with 1/);
    expect(mountsAt(first.mountpoint)).toHaveLength(1);
    expect(fs.readFileSync(join(first.mountpoint, 'dir', 'a.txt'), 'utf8')).toBe('a\n');
  } finally {
    await first.stop();
  }
}, 60_000);
