// Layers are shared between images by compressed digest, and a lazy pull never checks that
// digest: only the TOC (against the manifest's annotation) and each chunk (against the TOC). A
// registry can therefore serve other bytes under a well-known layer's digest, with a TOC of its
// own. Here one does, through a lying proxy in front of a real registry: its image is served what
// its own TOC says (a normal pull would refuse the digest; the store cannot tell), but an honest
// image that names the same digest with the real TOC must never get those bytes. While the lying
// layer is open, the honest lookup misses (the runtime then pulls and checks the layer itself);
// once it is released, the honest image is served lazily, with its own bytes.
import { readFile, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { MediaTypes } from '../../src/image/types.ts';
import { openRegistryRepository } from '../../src/registry/index.ts';
import { startFaultProxy, type FaultProxy } from '../registry/servers.ts';
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

describe('a layer digest named by two images with different TOCs', () => {
  let dir: string;
  let registry: RegistryFixture;
  let proxy: FaultProxy;
  let honest: EstargzManifest;
  let agent: AgentProcess | undefined;

  /** Both images' top layers hold data/second.bin, random bytes of their own. */
  const secondBin = (repo: string) => readFile(join(dir, `${repo}-l2`, 'data/second.bin'));

  beforeAll(async () => {
    dir = await makeTempDir('shared-layer');
    registry = await startRegistry();
    honest = await pushEstargzImage(dir, registry, 'honest');
    const other = await pushEstargzImage(dir, registry, 'liar');
    // The liar's manifest names the honest top layer's digest, with its own layer's size and TOC
    // annotation; the registry holds the honest blob under that digest in the liar's repository
    // (it checks that a manifest's blobs exist), and the proxy serves the liar's own blob for it.
    const liar = openRegistryRepository(`${registry.host}/liar`, { insecure: true });
    const honestTop = honest.layers[1];
    const blob = await fetch(`${registry.url}/v2/honest/blobs/${honestTop.digest}`);
    await liar.putBlob(Buffer.from(await blob.arrayBuffer()));
    const lying = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { ...other.config, mediaType: MediaTypes.ociConfig, size: 0 },
      layers: [other.layers[0], { ...other.layers[1], digest: honestTop.digest }],
    };
    const config = await fetch(`${registry.url}/v2/liar/blobs/${other.config.digest}`);
    lying.config.size = Number(config.headers.get('content-length'));
    for (const layer of lying.layers) Object.assign(layer, { mediaType: MediaTypes.ociLayerGzip });
    await liar.putManifest('lie', MediaTypes.ociManifest, Buffer.from(JSON.stringify(lying)));
    proxy = await startFaultProxy(registry.host);
    proxy.rule = (req) =>
      req.url === `/v2/liar/blobs/${honestTop.digest}`
        ? { type: 'other-path', path: `/v2/liar/blobs/${other.layers[1].digest}` }
        : undefined;
  });

  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });

  afterAll(() => tearDown(dir, proxy, registry));

  it("never serves one image's bytes to another that names the digest with another TOC", async () => {
    agent = await startFreshAgent(dir, 'agent', { backgroundFetch: false, prefetch: false });
    const top = honest.layers[1].digest;
    const liarDir = layerDirIn(agent.mountpoint, `${proxy.host}/liar:lie`, top);
    const honestDir = layerDirIn(agent.mountpoint, `${proxy.host}/honest:esgz`, top);

    // The lie itself cannot be seen from its own image: its bytes match its own TOC.
    expect(
      (await readFile(join(liarDir, 'diff/data/second.bin'))).equals(await secondBin('liar')),
    ).toBe(true);

    // The honest image, while the liar's layer is open: a miss, said and counted.
    await expect(stat(join(honestDir, 'info'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(readFile(join(honestDir, 'diff/data/second.bin'))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    // The log is written asynchronously: the line may follow the reply by a moment.
    await waitFor('the miss logged', async () => (await agent!.log()).includes('is open with TOC'));
    expect(await agent.metrics()).toMatch(
      /slipstream_lookups_total\{result="fallback",reason="verification"\} [1-9]/,
    );

    // The liar's layer released (rmdir, as the runtime does when the image goes): the honest
    // image is served lazily, with its own bytes.
    await expect(rmdir(liarDir)).rejects.toMatchObject({ code: 'ENOENT' });
    await waitFor('the lying layer released', async () =>
      (await agent!.log()).includes('store: layer released'),
    );
    const served = await readFile(join(honestDir, 'diff/data/second.bin'));
    expect(served.equals(await secondBin('honest'))).toBe(true);
  });
});
