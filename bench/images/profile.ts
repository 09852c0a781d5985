// Recording which files an image's start command reads, in the order it first reads them: the
// input of `slipstream convert --prioritize FILE` (one path per line, first read first).
//
// How: the image's root filesystem is exported into a directory on an atime-capable file system
// (ext4 here, mounted relatime), every file's atime is set to the epoch, and the start command runs
// with `podman run --rootfs <dir>` (no overlay, so reads hit these inodes). Under relatime the
// first read of a file after its atime was reset updates the atime (atime < ctime); later reads do
// not. So "atime changed" = read at start, and sorting by atime = order of first read. This needs
// neither strace inside the image nor fanotify privileges beyond what podman already uses, and it
// sees reads made by the dynamic loader and interpreters too. It does not see which *ranges* were
// read (a whole file is listed even when start reads 8 slices of it); stat-only accesses are not
// listed (they need no file data).
import { lstat, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';

import type { PodmanFixture } from '../../backend/test/support/podman.ts';
import { run } from '../../backend/test/support/process.ts';
import { READY_LINE } from './catalog.ts';

export interface AccessProfile {
  method: string;
  command: string[];
  /** Files read by the start command, in order of first read (absolute paths in the image). */
  files: { path: string; size: number }[];
  totalBytes: number;
}

export async function recordAccessProfile(
  podman: PodmanFixture,
  image: string,
): Promise<AccessProfile> {
  const work = join(podman.dir, 'profile');
  const root = join(work, 'rootfs');
  await mkdir(root, { recursive: true });
  const command = await startCommand(podman, image);
  const container = (await podman.run(['create', image])).stdout.trim();
  try {
    await podman.run(['export', '-o', join(work, 'rootfs.tar'), container]);
  } finally {
    await podman.run(['rm', container], { allowFailure: true });
  }
  await run('tar', ['--numeric-owner', '-xpf', join(work, 'rootfs.tar'), '-C', root]);
  await run('rm', ['-f', join(work, 'rootfs.tar')]);
  await run('sh', ['-c', 'find "$0" -type f -print0 | xargs -0 -r touch -a -d @0', root]);

  const { workdir, argv } = command;
  const runStart = BigInt(Date.now()) * 1_000_000n;
  const out = await podman.run(['run', '--rm', '--workdir', workdir, '--rootfs', root, ...argv]);
  if (!out.stdout.split('\n').some((line) => line.startsWith(READY_LINE))) {
    throw new Error(
      `start command of ${image} did not print "${READY_LINE}": ${out.stdout}${out.stderr}`,
    );
  }
  const read = await filesReadSinceEpoch(root, runStart);
  await run('rm', ['-rf', work]);
  return {
    method:
      'atime of an exported rootfs (relatime, atimes reset to the epoch) under podman run --rootfs',
    command: argv,
    files: read.map(({ path, size }) => ({ path, size })),
    totalBytes: read.reduce((sum, f) => sum + f.size, 0),
  };
}

/** The profile as `slipstream convert --prioritize` reads it: one absolute path per line. */
export function profileToText(profile: AccessProfile): string {
  return profile.files.map((f) => f.path).join('\n') + '\n';
}

async function startCommand(
  podman: PodmanFixture,
  image: string,
): Promise<{ workdir: string; argv: string[] }> {
  const { stdout } = await podman.run(['image', 'inspect', '--format', '{{json .Config}}', image]);
  const config = JSON.parse(stdout) as {
    Cmd?: string[];
    Entrypoint?: string[];
    WorkingDir?: string;
  };
  const argv = [...(config.Entrypoint ?? []), ...(config.Cmd ?? [])];
  if (argv.length === 0) throw new Error(`${image} has no start command`);
  return { workdir: config.WorkingDir || '/', argv };
}

interface ReadFile {
  path: string;
  size: number;
  atimeNs: bigint;
}

/** Files read (atime set) but not written (mtime before `runStart`: podman writes /etc/hosts etc.). */
async function filesReadSinceEpoch(root: string, runStart: bigint): Promise<ReadFile[]> {
  const found: ReadFile[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) {
        const st = await lstat(full, { bigint: true });
        if (st.atimeNs > 0n && st.mtimeNs < runStart)
          found.push({ path: full.slice(root.length), size: Number(st.size), atimeNs: st.atimeNs });
      }
    }
  };
  await walk(root);
  return found.sort((a, b) => (a.atimeNs < b.atimeNs ? -1 : a.atimeNs > b.atimeNs ? 1 : 0));
}
