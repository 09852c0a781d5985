// The base root filesystem of every benchmark image: Debian bookworm minbase with python3, made by
// debootstrap from the configured Debian mirror (no other network), cached as a tarball under
// bench/.cache so reruns skip the ~30 s bootstrap.
import { access, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { run } from '../../backend/test/support/process.ts';

const SUITE = 'bookworm';
const PACKAGES = ['python3'];

/** Debian's mirror as apt on this machine knows it (deb822 or one-line sources). */
export const DEBIAN_MIRROR = process.env.SLIPSTREAM_BENCH_MIRROR ?? 'http://deb.debian.org/debian';

/** Returns the path of the cached base rootfs tarball, bootstrapping it first if needed. */
export async function baseRootfsTar(cacheDir: string): Promise<string> {
  const tar = join(cacheDir, 'rootfs', `debian-${SUITE}-minbase-${PACKAGES.join('-')}.tar`);
  if (await exists(tar)) return tar;
  const work = `${tar}.work`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const root = join(work, 'root');
  try {
    await run(
      'debootstrap',
      ['--variant=minbase', `--include=${PACKAGES.join(',')}`, SUITE, root, DEBIAN_MIRROR],
      { timeoutMs: 900_000 },
    );
    // apt lists and caches are not part of a runtime image.
    await run('sh', ['-c', `rm -rf ${root}/var/lib/apt/lists/* ${root}/var/cache/apt/*.bin`]);
    await run('tar', ['--numeric-owner', '--xattrs', '-C', root, '-cf', `${tar}.partial`, '.']);
    await rename(`${tar}.partial`, tar);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return tar;
}

export async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
