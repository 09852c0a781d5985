// The mount survives a change of serving process: the first server hands its /dev/fuse fd to a
// new process and exits; the new one asks the kernel to resend the request the first left
// unanswered (FUSE_NOTIFY_RESEND), so even a reader blocked mid-READ carries on.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { join } from 'node:path';

import { isStaleMount, mountsAt } from '../../src/fuse/index.ts';
import { HELLO } from './fixtures/tree.ts';
import { cleanupMount, startFixtureServer } from './server.ts';

interface Events {
  slowReadsPending: number;
  interrupted: number;
}

async function until(probe: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (probe()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('a new process takes over the mount, including a READ the old one left unanswered', async () => {
  const first = await startFixtureServer();
  const mountpoint = first.mountpoint;
  const events = (): Events =>
    JSON.parse(fs.readFileSync(join(mountpoint, '.events'), 'utf8')) as Events;
  const reader = spawn(
    'dd',
    [`if=${join(mountpoint, 'slow')}`, 'of=/dev/null', 'bs=4096', 'count=1'],
    {
      stdio: 'ignore',
    },
  );
  const readerExited = new Promise((resolve) => reader.once('exit', resolve));
  let secondPid: number | undefined;
  try {
    await until(() => events().slowReadsPending === 1, 'the READ to block in the first server');
    const handedOver = new Promise<number>((resolve) =>
      first.child.on('message', (msg: { type: string; pid: number }) => {
        if (msg.type === 'handed-over') resolve(msg.pid);
      }),
    );
    first.child.send({ type: 'handover' });
    secondPid = await handedOver;
    expect(await first.exited).toBe(0);

    // same mount, now served by the second process (a fresh MemFs: its counters start at 0)
    expect(mountsAt(mountpoint)).toHaveLength(1);
    expect(isStaleMount(mountpoint)).toBe(false);
    expect(fs.readFileSync(join(mountpoint, 'link'), 'utf8')).toBe(HELLO);
    await until(
      () => events().slowReadsPending === 1,
      'the resent READ to reach the second server',
    );
    reader.kill('SIGINT');
    await readerExited;
    await until(() => events().interrupted === 1, 'the interrupt to reach the second server');

    process.kill(secondPid, 'SIGTERM');
    await until(() => mountsAt(mountpoint).length === 0, 'the second server to unmount');
  } finally {
    reader.kill('SIGKILL');
    if (secondPid !== undefined && mountsAt(mountpoint).length > 0)
      process.kill(secondPid, 'SIGKILL');
    await first.stop();
    cleanupMount(mountpoint);
  }
}, 60_000);
