// Starts the fixture FUSE server (fixtures/serve.ts) in a child process and stops it again.

import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { mountsAt } from '../../src/fuse/index.ts';

const SERVE = new URL('./fixtures/serve.ts', import.meta.url).pathname;

export interface FixtureEvents {
  events: {
    create: number;
    rmdir: number;
    forget: number;
    interrupted: number;
    slowReadsPending: number;
    largestRead: number;
  };
  counts: Record<string, number>;
}

export interface FixtureServer {
  mountpoint: string;
  child: ChildProcess;
  protocol: { minor: number; kernelMinor: number; flags: string; maxPages: number };
  events(): Promise<FixtureEvents>;
  /** Resolves with the exit code once the server process has exited. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

export async function startFixtureServer(
  mountpoint?: string,
  reader: 'epoll' | 'threadpool' = 'epoll',
): Promise<FixtureServer> {
  const dir = mountpoint ?? mkdtempSync(join(tmpdir(), 'slipstream-fuse-'));
  const child = fork(SERVE, [dir], {
    execArgv: [],
    env: { ...process.env, UV_THREADPOOL_SIZE: '16', SLIPSTREAM_FUSE_READER: reader },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const ready = await new Promise<FixtureServer['protocol']>((resolve, reject) => {
    child.once('message', (msg: { type: string; protocol: FixtureServer['protocol'] }) =>
      resolve(msg.protocol),
    );
    child.once('exit', (code) =>
      reject(new Error(`fixture server exited with ${code} before ready`)),
    );
  });
  return {
    mountpoint: dir,
    child,
    protocol: ready,
    exited,
    events: () =>
      new Promise((resolve) => {
        child.once('message', (msg: FixtureEvents) => resolve(msg));
        child.send({ type: 'events' });
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      cleanupMount(dir);
    },
  };
}

/** Make sure nothing is left mounted at `dir`, then remove the (empty) directory. */
export function cleanupMount(dir: string): void {
  for (let i = 0; i < 5 && mountsAt(dir).length > 0; i++) {
    execFileSync('umount', ['-l', dir]);
  }
  try {
    rmdirSync(dir); // not recursive: never walk into a mount
  } catch {
    // already gone, or still a mountpoint we failed to remove (the assertion above reports it)
  }
}

/** The errno code a synchronous fs call fails with, or undefined when it succeeds. */
export function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}
