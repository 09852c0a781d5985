// The access-profile recorder of the startup benchmark (bench/images/profile.ts) lists exactly the
// files an image's start command reads, in first-read order, and not the files it leaves alone or
// the ones podman writes into the rootfs.
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { profileToText, recordAccessProfile } from '../../../bench/images/profile.ts';
import { writeBusyboxRootfs } from '../support/images.ts';
import { createPodman, type PodmanFixture } from '../support/podman.ts';
import { run } from '../support/process.ts';

jest.setTimeout(180_000);

let podman: PodmanFixture | undefined;

afterAll(async () => {
  await podman?.stop();
});

test('records the files the start command reads, first read first', async () => {
  podman = await createPodman();
  const root = join(podman.dir, 'rootfs');
  await writeBusyboxRootfs(root, {
    'data/second.txt': 'read second\n',
    'data/first.txt': 'read first\n',
    'data/unread.txt': 'never read\n',
  });
  await run('tar', ['-C', root, '-cf', `${root}.tar`, '.']);
  const start = 'cat /data/first.txt; sleep 0.1; cat /data/second.txt; echo ready';
  await podman.run([
    'import',
    '--change',
    `CMD ["/bin/sh", "-c", "${start}"]`,
    `${root}.tar`,
    'localhost/profile-test',
  ]);

  const profile = await recordAccessProfile(podman, 'localhost/profile-test');

  const paths = profile.files.map((f) => f.path);
  expect(paths).toContain('/bin/busybox');
  expect(paths).not.toContain('/data/unread.txt');
  const first = paths.indexOf('/data/first.txt');
  const second = paths.indexOf('/data/second.txt');
  expect(first).toBeGreaterThanOrEqual(0);
  expect(second).toBeGreaterThan(first);
  expect(profile.command).toEqual(['/bin/sh', '-c', start]);
  expect(profileToText(profile).split('\n')).toContain('/data/second.txt');
});
