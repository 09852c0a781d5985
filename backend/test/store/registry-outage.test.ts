// A registry that breaks after the pull, while containers read: reads of what is not cached fail
// with EIO (never with wrong bytes), what is cached keeps being served, the agent's worker stays
// up, and once the registry answers again the same reads succeed with the right bytes.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { startFaultProxy, type FaultProxy } from '../registry/servers.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, waitFor } from '../support/tmp.ts';
import {
  type EstargzManifest,
  layerDirIn,
  pushEstargzImage,
  startFreshAgent,
  tearDown,
  workerPid,
} from './fixtures.ts';

jest.setTimeout(300_000);

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('a registry that breaks while containers read', () => {
  let dir: string;
  let registry: RegistryFixture;
  let proxy: FaultProxy;
  let manifest: EstargzManifest;
  /** data/big.bin as the source image has it. */
  let big: Buffer;

  beforeAll(async () => {
    dir = await makeTempDir('outage');
    registry = await startRegistry();
    manifest = await pushEstargzImage(dir, registry, 'outage');
    // pushTwoLayerImage wrote the source tree here before packing it.
    big = await readFile(join(dir, 'outage-l1/data/big.bin'));
    proxy = await startFaultProxy(registry.host);
  });

  afterAll(() => tearDown(dir, proxy, registry));

  it('fails uncached reads with EIO, serves cached ones, and recovers when it answers again', async () => {
    expect(big.length).toBeGreaterThan(8 << 20);
    const agent = await startFreshAgent(dir, 'agent', { backgroundFetch: false, prefetch: false });
    try {
      const base = manifest.layers[0].digest;
      const diff = join(layerDirIn(agent.mountpoint, `${proxy.host}/outage:esgz`, base), 'diff');
      await readFile(join(diff, '../info'));
      const passwd = await readFile(join(diff, 'etc/passwd'), 'utf8'); // cached from now on
      const worker = await workerPid(agent.pid);

      // The registry now breaks every blob response in the middle of its body.
      proxy.rule = (req) => (req.url?.includes('/blobs/') ? { type: 'drop-mid-body' } : undefined);
      await expect(readFile(join(diff, 'data/big.bin'))).rejects.toMatchObject({ code: 'EIO' });
      expect(await readFile(join(diff, 'etc/passwd'), 'utf8')).toBe(passwd);
      expect(await workerPid(agent.pid)).toBe(worker);
      expect(await agent.log()).toContain('store: read failed (EIO)');

      // It answers again: the same file reads whole and right, from the same worker.
      proxy.rule = () => undefined;
      expect(sha(await readFile(join(diff, 'data/big.bin')))).toBe(sha(big));
      expect(await workerPid(agent.pid)).toBe(worker);
    } finally {
      proxy.rule = () => undefined;
      await agent.stop();
    }
  });

  it('rides out an outage of a few seconds instead of failing the read', async () => {
    const agent = await startFreshAgent(dir, 'agent-blip', {
      backgroundFetch: false,
      prefetch: false,
    });
    try {
      const base = manifest.layers[0].digest;
      const diff = join(layerDirIn(agent.mountpoint, `${proxy.host}/outage:esgz`, base), 'diff');
      await readFile(join(diff, '../info'));
      // A registry restarting behind its load balancer: every blob request answers 503 for 3 s.
      const until = Date.now() + 3_000;
      proxy.rule = (req) =>
        req.url?.includes('/blobs/') && Date.now() < until
          ? { type: 'status', status: 503 }
          : undefined;
      const before = proxy.log.length;
      expect(sha(await readFile(join(diff, 'data/big.bin')))).toBe(sha(big));
      // The client's default retries give up at their 4th failure; this read went on past it.
      expect(
        proxy.log.slice(before).filter((l) => l.fault === 'status').length,
      ).toBeGreaterThanOrEqual(4);
    } finally {
      proxy.rule = () => undefined;
      await agent.stop();
    }
  });

  it('tries a layer again once its failure is forgotten, for an image pulled by digest too', async () => {
    const agent = await startFreshAgent(dir, 'agent-retry', {
      backgroundFetch: false,
      prefetch: false,
    });
    try {
      const answer = await fetch(`${registry.url}/v2/outage/manifests/esgz`, {
        method: 'HEAD',
        headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
      const pinned = `${proxy.host}/outage@${answer.headers.get('docker-content-digest')}`;
      const base = manifest.layers[0].digest;
      const info = join(layerDirIn(agent.mountpoint, pinned, base), 'info');
      // Every range read of the layer (its footer and TOC) fails while the image is resolved.
      proxy.rule = (req) =>
        req.url?.includes(base) && req.headers.range
          ? { type: 'status', status: 404, body: '{"errors":[{"code":"BLOB_UNKNOWN"}]}' }
          : undefined;
      await expect(readFile(info)).rejects.toMatchObject({ code: 'ENOENT' });
      proxy.rule = () => undefined;
      // Remembered for the negative TTL (10 s), then tried again: the image's resolution, kept
      // for ever under a digest reference, does not keep the failure.
      await waitFor(
        'the layer to be served lazily again',
        () => readFile(info).then(() => true),
        40_000,
        1_000,
      );
      expect(await agent.log()).toContain('store: layer not lazy');
    } finally {
      proxy.rule = () => undefined;
      await agent.stop();
    }
  });
});
