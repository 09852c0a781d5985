// Small images built locally, without internet: a busybox-static rootfs, imported by podman.
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import type { PodmanFixture } from './podman.ts';
import { run } from './process.ts';

const APPLETS = [
  'sh',
  'ls',
  'cat',
  'echo',
  'sha256sum',
  'find',
  'stat',
  'wc',
  'head',
  'sleep',
  'true',
];

/** Extra files for a rootfs: path (relative) → content, or `{ link }` for a symlink. */
export type RootfsFiles = Record<string, string | Buffer | { link: string }>;

/** Writes a minimal busybox root filesystem into `dir`, plus `files`. */
export async function writeBusyboxRootfs(dir: string, files: RootfsFiles = {}): Promise<void> {
  for (const sub of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev']) {
    await mkdir(join(dir, sub), { recursive: true });
  }
  await copyFile('/bin/busybox', join(dir, 'bin/busybox'));
  await chmod(join(dir, 'bin/busybox'), 0o755);
  for (const applet of APPLETS) await symlink('busybox', join(dir, 'bin', applet));
  await writeFile(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  for (const [path, content] of Object.entries(files)) {
    const target = join(dir, path);
    await mkdir(dirname(target), { recursive: true });
    if (typeof content === 'object' && !Buffer.isBuffer(content))
      await symlink(content.link, target);
    else await writeFile(target, content);
  }
}

/** Builds a one-layer image from a busybox rootfs with `podman import` and returns its name. */
export async function importBusyboxImage(
  podman: PodmanFixture,
  name: string,
  files: RootfsFiles = {},
): Promise<string> {
  const root = join(podman.dir, `rootfs-${name.replace(/[^a-z0-9]/gi, '_')}`);
  await writeBusyboxRootfs(root, files);
  const tarPath = `${root}.tar`;
  await run('tar', ['-C', root, '-cf', tarPath, '.']);
  await podman.run(['import', '--change', 'CMD ["/bin/sh"]', tarPath, name]);
  return name;
}

/** Pushes a local image to a plain-http registry. */
export async function pushImage(
  podman: PodmanFixture,
  local: string,
  remote: string,
): Promise<void> {
  await podman.run(['push', '--tls-verify=false', local, `docker://${remote}`]);
}
