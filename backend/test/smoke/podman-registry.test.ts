// Smoke test of the real-services chain every later test builds on: a busybox image is built from
// a rootfs, pushed to a real registry (docker-registry), pulled back by podman and run.
import { jest } from '@jest/globals';

import { importBusyboxImage, pushImage } from '../support/images.ts';
import { createPodman, type PodmanFixture } from '../support/podman.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';

jest.setTimeout(180_000);

describe('real services: registry + podman', () => {
  let registry: RegistryFixture;
  let builder: PodmanFixture;
  let puller: PodmanFixture;

  beforeAll(async () => {
    registry = await startRegistry();
    builder = await createPodman({ insecureRegistries: [registry.host] });
    puller = await createPodman({ insecureRegistries: [registry.host] });
  });

  afterAll(async () => {
    await puller?.stop();
    await builder?.stop();
    await registry?.stop();
  });

  it('pushes a busybox image to the registry, pulls it with a fresh podman and runs it', async () => {
    const local = await importBusyboxImage(builder, 'localhost/smoke:latest', {
      'srv/hello.txt': 'hello from the smoke test\n',
    });
    const remote = `${registry.host}/smoke:latest`;
    await pushImage(builder, local, remote);

    await puller.run(['pull', remote]);
    const { stdout } = await puller.run(['run', '--rm', remote, 'cat', '/srv/hello.txt']);
    expect(stdout).toBe('hello from the smoke test\n');

    const log = await registry.accessLog();
    const blobGets = log.filter((l) => l.method === 'GET' && l.path.includes('/blobs/'));
    // The puller really fetched the layer and the config from the registry.
    expect(blobGets.filter((l) => l.status === 200).length).toBeGreaterThanOrEqual(2);
  });
});
