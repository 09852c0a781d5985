// Landmark prefetch: files an optimized image lists before `.prefetch.landmark` are fetched when
// the layer is resolved, so the container's first reads of them need no request.
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { MediaTypes } from '../../src/image/types.ts';
import { unmountBelow } from '../support/containerd.ts';
import { run } from '../support/process.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, removeDir, waitFor } from '../support/tmp.ts';
import { pushTwoLayerImage, startAgentProcess, type AgentProcess } from './fixtures.ts';

jest.setTimeout(300_000);

const bin = new URL('../../bin/slipstream.js', import.meta.url).pathname;

describe('landmark prefetch', () => {
  let dir: string;
  let registry: RegistryFixture;
  let agent: AgentProcess | undefined;

  beforeAll(async () => {
    dir = await makeTempDir('store-prefetch');
    registry = await startRegistry();
    await writeFile(join(dir, 'registries.conf'), '');
    await pushTwoLayerImage(dir, registry.host, 'opt', 'gzip');
    await writeFile(join(dir, 'prioritize.txt'), 'usr/local/bin/hello.sh\netc/passwd\n');
    await run(process.execPath, [
      bin,
      'convert',
      '--insecure',
      '--prioritize',
      join(dir, 'prioritize.txt'),
      `${registry.host}/opt:gzip`,
      `${registry.host}/opt:esgz`,
    ]);
  });

  afterAll(async () => {
    await agent?.stop();
    await registry?.stop();
    if (dir) {
      await unmountBelow(dir);
      await removeDir(dir);
    }
  });

  it('fetches the prioritized files at resolve time, bounded by maxBytes', async () => {
    agent = await startAgentProcess(dir, { prefetch: true });
    const ref = `${registry.host}/opt:esgz`;
    const manifest = (await (
      await fetch(`${registry.url}/v2/opt/manifests/esgz`, {
        headers: { accept: MediaTypes.ociManifest },
      })
    ).json()) as { layers: { digest: string }[] };
    const layer = manifest.layers[0].digest;
    const layerDir = join(agent.mountpoint, Buffer.from(ref).toString('base64'), layer);
    await stat(join(layerDir, 'diff'));
    // The boot files (busybox, /etc/passwd) first, then the landmark region's other files.
    await waitFor('prefetch', async () =>
      (await agent!.log()).includes(`"layer":"${layer}","what":"landmark","chunks":`),
    );
    expect(await agent.log()).toMatch(/"what":"boot files".*"msg":"store: prefetch done"/);
    expect(await agent.log()).toMatch(/"what":"landmark".*"msg":"store: prefetch done"/);
    const gets = async (): Promise<number> =>
      (await registry.accessLog()).filter((l) => l.path.endsWith(layer)).length;
    const before = await gets();
    expect(await readFile(join(layerDir, 'diff/usr/local/bin/hello.sh'), 'utf8')).toContain(
      'hello from script',
    );
    expect(await readFile(join(layerDir, 'diff/etc/passwd'), 'utf8')).toContain('root:x:0:0');
    expect(await gets()).toBe(before);
  });
});
