// The `blob` file (what containers/storage copies when an image from the store is pushed or saved)
// serves only bytes that matched the layer digest: through a proxy that flips a byte of the blob,
// reads fail with EIO, the refusal is logged and counted, and once the proxy is honest again the
// same reads return the registry's blob. Copies leave the state directory with their layer and
// at the agent's start.
import { createHash } from 'node:crypto';
import { open, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

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

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('the blob file', () => {
  let dir: string;
  let registry: RegistryFixture;
  let proxy: FaultProxy;
  let manifest: EstargzManifest;
  let agent: AgentProcess | undefined;

  beforeAll(async () => {
    dir = await makeTempDir('blob-verify');
    registry = await startRegistry();
    manifest = await pushEstargzImage(dir, registry, 'blobs');
    proxy = await startFaultProxy(registry.host);
  });

  afterEach(async () => {
    if (proxy) proxy.rule = () => undefined;
    await agent?.stop();
    agent = undefined;
  });

  afterAll(() => tearDown(dir, proxy, registry));

  /** The layer's blob as the registry has it. */
  async function registryBlob(digest: string): Promise<Buffer> {
    const res = await fetch(`${registry.url}/v2/blobs/blobs/${digest}`);
    return Buffer.from(await res.arrayBuffer());
  }

  const copiesIn = async (a: AgentProcess): Promise<string[]> =>
    readdir(join(a.stateDir, 'blobs')).catch(() => []);

  it('serves the registry blob, refuses a corrupted one with EIO, and recovers', async () => {
    agent = await startFreshAgent(dir, 'agent', { backgroundFetch: false, prefetch: false });
    const ref = `${proxy.host}/blobs:esgz`;
    const [base, top] = manifest.layers;

    // A healthy registry: exactly its bytes.
    const baseBlob = join(layerDirIn(agent.mountpoint, ref, base.digest), 'blob');
    const expected = await registryBlob(base.digest);
    expect(digestOf(expected)).toBe(base.digest);
    expect((await readFile(baseBlob)).equals(expected)).toBe(true);

    // The other layer, resolved while the proxy is honest, then read through one that lies.
    const topDir = layerDirIn(agent.mountpoint, ref, top.digest);
    await readFile(join(topDir, 'info'));
    proxy.rule = (req) =>
      req.url?.includes(`/blobs/${top.digest}`) ? { type: 'corrupt-body' } : undefined;
    await expect(readFile(join(topDir, 'blob'))).rejects.toMatchObject({ code: 'EIO' });
    const file = await open(join(topDir, 'blob'));
    try {
      const middle = Math.floor(top.size / 2);
      await expect(file.read(Buffer.alloc(4096), 0, 4096, middle)).rejects.toMatchObject({
        code: 'EIO',
      });
    } finally {
      await file.close();
    }
    expect(proxy.log.some((l) => l.fault === 'corrupt-body')).toBe(true);
    await waitFor('the refusal in the log', async () =>
      (await agent!.log()).includes('store: blob failed verification twice; refusing to serve it'),
    );
    expect(await agent.metrics()).toMatch(
      /slipstream_verification_failures_total\{kind="blob"\} [1-9]/,
    );
    // Nothing of the corrupted download stays on disk.
    expect((await copiesIn(agent)).filter((name) => name.includes(top.digest.slice(7)))).toEqual(
      [],
    );

    // Honest again: the next read downloads again and is right.
    proxy.rule = () => undefined;
    const topBlob = await readFile(join(topDir, 'blob'));
    expect(digestOf(topBlob)).toBe(top.digest);
    expect(topBlob.equals(await registryBlob(top.digest))).toBe(true);

    // Released (rmdir of the layer dir): its copy leaves the disk.
    expect(await copiesIn(agent)).toContain(top.digest.replace(':', '-'));
    await expect(rmdir(topDir)).rejects.toMatchObject({ code: 'ENOENT' });
    await waitFor('the released copy removed', async () =>
      (await copiesIn(agent!)).every((name) => !name.includes(top.digest.slice(7))),
    );
  });

  it('removes the copies an earlier agent left', async () => {
    agent = await startFreshAgent(dir, 'restart', { backgroundFetch: false, prefetch: false });
    const base = manifest.layers[0];
    await readFile(
      join(layerDirIn(agent.mountpoint, `${proxy.host}/blobs:esgz`, base.digest), 'blob'),
    );
    await writeFile(join(agent.stateDir, 'blobs', 'sha256-stale.0123.partial'), 'interrupted');
    expect(await copiesIn(agent)).toHaveLength(2);
    await agent.stop();
    agent = await startFreshAgent(dir, 'restart', { backgroundFetch: false, prefetch: false });
    expect(await copiesIn(agent)).toEqual([]);
  });
});
