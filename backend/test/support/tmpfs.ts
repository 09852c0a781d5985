// A size-limited tmpfs: a real file system that runs out of room (ENOSPC) where a test wants it.
import { mkdir } from 'node:fs/promises';

import { run } from './process.ts';

export interface Tmpfs {
  path: string;
  unmount(): Promise<void>;
}

/** Mounts a tmpfs of `bytes` (rounded up to pages) at `path`, creating the directory. Needs root. */
export async function mountTmpfs(path: string, bytes: number): Promise<Tmpfs> {
  await mkdir(path, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'slipstream-test', path]);
  return {
    path,
    unmount: async () => {
      await run('umount', ['-l', path]);
    },
  };
}
