// A tag pushed again (a CI's `:latest`) and pulled again soon after. The runtime asks for the new
// image's layers, which the agent's earlier resolution of the tag does not list: it resolves the
// tag again instead of answering "not a layer of this image" for the tag's TTL (two minutes), in
// which every new layer would have been pulled normally. And the new image may list a layer the
// old one had twice: a pull then resolves a tag older than 10 s again before it may take a layer,
// so that the repeated layer is pulled normally (the store cannot serve it twice).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { createPodman } from '../support/podman.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir } from '../support/tmp.ts';
import {
  layerDirIn,
  pushEstargzImage,
  pushWithTopLayerTwice,
  startFreshAgent,
  tearDown,
} from './fixtures.ts';

jest.setTimeout(300_000);

describe('a tag pushed again', () => {
  let dir: string;
  let registry: RegistryFixture;

  beforeAll(async () => {
    dir = await makeTempDir('tag-moved');
    registry = await startRegistry();
  });

  afterAll(() => tearDown(dir, registry));

  it('serves the new image’s layers lazily, resolving the tag again', async () => {
    const before = await pushEstargzImage(join(dir, 'v1'), registry, 'moving');
    const agent = await startFreshAgent(dir, 'agent');
    try {
      const ref = `${registry.host}/moving:esgz`;
      const info = async (digest: string) =>
        JSON.parse(
          await readFile(join(layerDirIn(agent.mountpoint, ref, digest), 'info'), 'utf8'),
        ) as Record<string, unknown>;
      expect((await info(before.layers[0].digest))['compressed-diff-digest']).toBe(
        before.layers[0].digest,
      );
      const after = await pushEstargzImage(join(dir, 'v2'), registry, 'moving', {
        'etc/release': 'v2\n',
      });
      const fresh = after.layers.filter((l) => !before.layers.some((b) => b.digest === l.digest));
      expect(fresh.length).toBeGreaterThan(0);
      await new Promise((resolve) => setTimeout(resolve, 1100)); // past a pull's pace
      for (const layer of fresh) {
        expect((await info(layer.digest))['compressed-diff-digest']).toBe(layer.digest);
      }
      expect(await agent.log()).not.toContain('is not a layer of');
    } finally {
      await agent.stop();
    }
  });

  it('pulls normally a layer the re-pushed image lists twice, resolving the tag again', async () => {
    await pushEstargzImage(join(dir, 'v3'), registry, 'twice');
    const agent = await startFreshAgent(dir, 'agent-twice');
    const image = `${registry.host}/twice:esgz`;
    const podman = await createPodman({
      additionalLayerStore: agent.mountpoint,
      insecureRegistries: [registry.host],
    });
    const again = await createPodman({
      additionalLayerStore: agent.mountpoint,
      insecureRegistries: [registry.host],
    });
    try {
      await podman.run(['pull', '-q', image]);
      const repeated = await pushWithTopLayerTwice(registry, 'twice', 'esgz', 'esgz');
      await new Promise((resolve) => setTimeout(resolve, 10_500)); // the tag's answer ages
      await again.run(['pull', '-q', image]); // another storage: the runtime asks for every layer
      const { stdout } = await again.run(['run', '--rm', image, 'cat', '/opt/app/hello.txt']);
      expect(stdout).toBe('hello from layer2\n');
      const log = await agent.log();
      expect(log).toContain('"msg":"store: layer not offered to a pull"');
      expect(log).toContain(`the manifest lists layer ${repeated} more than once`);
    } finally {
      await again.stop();
      await podman.stop();
      await agent.stop();
    }
  });

  it('saves and pushes an image pulled lazily after its tag moved on', async () => {
    await pushEstargzImage(join(dir, 'v5'), registry, 'saved');
    const agent = await startFreshAgent(dir, 'agent-saved');
    const image = `${registry.host}/saved:esgz`;
    const lazy = await createPodman({
      additionalLayerStore: agent.mountpoint,
      insecureRegistries: [registry.host],
    });
    const plain = await createPodman({ insecureRegistries: [registry.host] });
    try {
      await lazy.run(['pull', '-q', image]);
      await pushEstargzImage(join(dir, 'v6'), registry, 'saved', { 'etc/release': 'v6\n' });
      await new Promise((resolve) => setTimeout(resolve, 10_500)); // the tag's answer ages
      // Saving and pushing read `info` and `blob` of layers the tag no longer lists.
      const archive = join(dir, 'saved.tar');
      await lazy.run(['save', '-q', '-o', archive, image]);
      const copy = `${registry.host}/saved-copy:1`;
      await lazy.run(['push', '-q', '--tls-verify=false', image, copy]);
      await plain.run(['pull', '-q', copy]);
      const { stdout } = await plain.run(['run', '--rm', copy, 'cat', '/opt/app/hello.txt']);
      expect(stdout).toBe('hello from layer2\n');
      await plain.run(['load', '-q', '-i', archive]);
    } finally {
      await plain.stop();
      await lazy.stop();
      await agent.stop();
    }
  });
});
