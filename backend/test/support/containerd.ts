// containerd + ctr-remote (Debian `stargz-snapshotter`) as a peer producer of eStargz images.
// containerd runs with its own root, state and socket in a temp dir; the CRI plugin is off.
import type { ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { run, startDaemon, stopProcess, type RunResult } from './process.ts';
import { makeTempDir, removeDir, waitFor } from './tmp.ts';

export interface ContainerdFixture {
  address: string;
  /** Runs `ctr-remote --address <sock> ...args`. */
  ctrRemote(args: string[]): Promise<RunResult>;
  stop(): Promise<void>;
}

export async function startContainerd(): Promise<ContainerdFixture> {
  const dir = await makeTempDir('containerd');
  const address = join(dir, 'containerd.sock');
  const config =
    `version = 2\nroot = "${join(dir, 'root')}"\nstate = "${join(dir, 'state')}"\n` +
    `disabled_plugins = ["io.containerd.grpc.v1.cri"]\n` +
    `[grpc]\n  address = "${address}"\n[ttrpc]\n  address = "${address}.ttrpc"\n`;
  await writeFile(join(dir, 'containerd.toml'), config);
  const logFile = join(dir, 'containerd.log');
  const child: ChildProcess = startDaemon(
    'containerd',
    ['--config', join(dir, 'containerd.toml')],
    logFile,
  );
  const ctrRemote = (args: string[]) => run('ctr-remote', ['--address', address, ...args]);
  await waitFor('containerd socket', async () => {
    if (child.exitCode !== null) {
      throw new Error(`containerd exited: ${await readFile(logFile, 'utf8').catch(() => '')}`);
    }
    return (
      (await run('ctr-remote', ['--address', address, 'version'], { allowFailure: true })).code ===
      0
    );
  });
  return {
    address,
    ctrRemote,
    stop: async () => {
      await stopProcess(child);
      await unmountBelow(dir);
      await removeDir(dir);
    },
  };
}

/** Unmounts anything containerd left mounted under `dir` (deepest first). */
export async function unmountBelow(dir: string): Promise<void> {
  const mounts = (await readFile('/proc/self/mounts', 'utf8'))
    .split('\n')
    .map((line) => line.split(' ')[1])
    .filter((target): target is string => !!target && target.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
  for (const target of mounts) {
    await run('umount', ['-l', target], { allowFailure: true });
  }
}
