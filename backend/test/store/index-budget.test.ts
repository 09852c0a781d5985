// The agent bounds the TOC entries its open layers hold together (maxIndexEntries): a TOC that
// would pass the bound misses (the runtime pulls that layer normally) while the layers already
// open keep being served, and a released layer's entries are free again. Real agent, real
// registry, layers made by `slipstream convert`.
import { rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { openLayerIndex } from '../../src/estargz/index.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, waitFor } from '../support/tmp.ts';
import {
  type AgentProcess,
  type EstargzManifest,
  layerDirIn,
  pushEstargzImage,
  startFreshAgent,
  tearDown,
} from './fixtures.ts';

jest.setTimeout(300_000);

/** Many small files: a layer whose TOC has thousands of entries. */
function manyFiles(count: number): Record<string, string> {
  const tree: Record<string, string> = {};
  for (let i = 0; i < count; i++) tree[`many/f${i}.txt`] = `file ${i}\n`;
  return tree;
}

describe('the TOC entries of all open layers are bounded', () => {
  let dir: string;
  let registry: RegistryFixture;
  let small: EstargzManifest;
  let large: EstargzManifest;
  let agent: AgentProcess | undefined;

  async function entriesOf(repo: string, layer: { digest: string; size: number }) {
    const index = await openLayerIndex({
      blobSize: layer.size,
      readRange: async (start, end) => {
        const res = await fetch(`${registry.url}/v2/${repo}/blobs/${layer.digest}`, {
          headers: { range: `bytes=${start}-${end - 1}` },
        });
        return Buffer.from(await res.arrayBuffer());
      },
    });
    return index.entryCount;
  }

  const info = (ref: string, digest: string) =>
    stat(join(layerDirIn(agent!.mountpoint, ref, digest), 'info'));

  beforeAll(async () => {
    dir = await makeTempDir('index-budget');
    registry = await startRegistry();
    small = await pushEstargzImage(dir, registry, 'small');
    large = await pushEstargzImage(dir, registry, 'large', manyFiles(3000));
  });

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });

  afterAll(() => tearDown(dir, registry));

  it('a layer past the bound misses, the open ones stay, and a release frees its entries', async () => {
    const [s1, s2, l1] = await Promise.all([
      entriesOf('small', small.layers[0]),
      entriesOf('small', small.layers[1]),
      entriesOf('large', large.layers[0]),
    ]);
    expect(l1).toBeGreaterThan(3000);
    // Room for the small image and for the large image's first layer, not for both.
    const maxIndexEntries = l1 + Math.floor(s1 / 2);
    expect(s1 + s2).toBeLessThan(maxIndexEntries);
    agent = await startFreshAgent(dir, 'agent', {
      backgroundFetch: false,
      prefetch: false,
      maxIndexEntries,
    });
    const smallRef = `${registry.host}/small:esgz`;
    const largeRef = `${registry.host}/large:esgz`;

    await info(smallRef, small.layers[0].digest);
    await info(smallRef, small.layers[1].digest);
    await expect(info(largeRef, large.layers[0].digest)).rejects.toMatchObject({
      code: 'ENOENT',
    });
    await waitFor('the miss logged with its reason', async () =>
      (await agent!.log()).includes('(maxIndexEntries)'),
    );
    // The layers already open are still served.
    await info(smallRef, small.layers[0].digest);

    // The small image removed (the runtime's rmdir of its layer directories): once the failed
    // lookup has been forgotten, the large layer fits.
    for (const layer of small.layers) {
      await expect(rmdir(layerDirIn(agent.mountpoint, smallRef, layer.digest))).rejects.toThrow();
    }
    await waitFor(
      'the large layer served',
      () =>
        info(largeRef, large.layers[0].digest).then(
          () => true,
          () => false,
        ),
      60_000,
    );
  });
});
