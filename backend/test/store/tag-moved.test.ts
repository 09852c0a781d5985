// A tag pushed again (a CI's `:latest`) and pulled again soon after: the runtime asks for the new
// image's layers, which the agent's earlier resolution of the tag does not list. It resolves the
// tag again instead of answering "not a layer of this image" for the tag's TTL (two minutes), in
// which every new layer would have been pulled normally.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir } from '../support/tmp.ts';
import { layerDirIn, pushEstargzImage, startFreshAgent, tearDown } from './fixtures.ts';

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
});
