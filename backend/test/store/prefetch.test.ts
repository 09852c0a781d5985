// Landmark prefetch: files an optimized image lists before `.prefetch.landmark` are fetched when
// the layer is resolved, so the container's first reads of them need no request.
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { openLayerIndex, type ChunkRef } from '../../src/estargz/index.ts';
import { MediaTypes } from '../../src/image/types.ts';
import { bootFileChunks } from '../../src/store/boot-files.ts';
import { startFaultProxy, type FaultProxy } from '../registry/servers.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, waitFor } from '../support/tmp.ts';
import {
  type AgentProcess,
  pushEstargzImage,
  retagWithCommand,
  startAgentProcess,
  startFreshAgent,
  tearDown,
} from './fixtures.ts';

jest.setTimeout(300_000);

describe('landmark prefetch', () => {
  let dir: string;
  let registry: RegistryFixture;
  let agent: AgentProcess | undefined;
  let proxy: FaultProxy | undefined;

  beforeAll(async () => {
    dir = await makeTempDir('store-prefetch');
    registry = await startRegistry();
    await writeFile(join(dir, 'registries.conf'), '');
    await writeFile(join(dir, 'prioritize.txt'), 'usr/local/bin/hello.sh\netc/passwd\n');
    await pushEstargzImage(dir, registry, 'opt', {}, ['--prioritize', join(dir, 'prioritize.txt')]);
    // Without a start profile; its command names a program on the default PATH and a file.
    await pushEstargzImage(dir, registry, 'plain');
    await retagWithCommand(registry, 'plain', 'cmd', {
      Cmd: ['hello.sh', '--verbose', '/data/hard.txt'],
      WorkingDir: '/',
    });
  });

  afterAll(() => tearDown(dir, agent, proxy, registry));

  async function firstLayer(): Promise<string> {
    const manifest = (await (
      await fetch(`${registry.url}/v2/opt/manifests/esgz`, {
        headers: { accept: MediaTypes.ociManifest },
      })
    ).json()) as { layers: { digest: string }[] };
    return manifest.layers[0].digest;
  }

  it('fetches the prioritized files at resolve time, bounded by maxBytes', async () => {
    agent = await startAgentProcess(dir, { prefetch: true });
    const ref = `${registry.host}/opt:esgz`;
    const layer = await firstLayer();
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

  it('asks for the landmark region only after the boot files have arrived', async () => {
    const layer = await firstLayer();
    const blob = Buffer.from(
      await (await fetch(`${registry.url}/v2/opt/blobs/${layer}`)).arrayBuffer(),
    );
    const index = await openLayerIndex({
      blobSize: blob.length,
      readRange: (start, end) => Promise.resolve(blob.subarray(start, end)),
    });
    const boot = bootFileChunks(index);
    const hello = index.chunksOf(index.resolve('usr/local/bin/hello.sh')!);
    expect(boot.length).toBeGreaterThan(0);
    const overlaps = (ranges: [number, number][], chunks: ChunkRef[]): boolean =>
      ranges.some(([a, b]) => chunks.some((c) => a < c.compressedEnd && c.compressedOffset <= b));
    // The first boot-file response is held for a second; every request for the landmark's own
    // file must arrive after it was let go.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let isReleased = false;
    let holding = false;
    void released.then(() => (isReleased = true));
    const landmarkArrivals: boolean[] = [];
    proxy = await startFaultProxy(registry.host);
    proxy.rule = (req) => {
      const m = /^bytes=(\d.*)$/.exec(req.headers.range ?? '');
      if (!req.url?.endsWith(`/blobs/${layer}`) || !m) return undefined; // suffix reads: the TOC
      const ranges = m[1].split(',').map((r) => r.split('-').map(Number) as [number, number]);
      if (overlaps(ranges, hello)) landmarkArrivals.push(isReleased);
      if (!overlaps(ranges, boot) || holding) return undefined;
      // Only the first: the other prefetch lane stays free for a landmark request sent too early.
      holding = true;
      setTimeout(release, 1000);
      return { type: 'hold', until: released };
    };
    const ordered = await startFreshAgent(dir, 'order', {
      prefetch: true,
      backgroundFetch: false,
    });
    try {
      const ref = `${proxy.host}/opt:esgz`;
      await stat(join(ordered.mountpoint, Buffer.from(ref).toString('base64'), layer, 'diff'));
      await waitFor('landmark prefetch', async () =>
        (await ordered.log()).includes(`"layer":"${layer}","what":"landmark","chunks":`),
      );
      expect(landmarkArrivals.length).toBeGreaterThan(0);
      expect(landmarkArrivals.every((afterBoot) => afterBoot)).toBe(true);
    } finally {
      await ordered.stop();
    }
  });

  it('fetches the files of the image’s own command at resolve time, without a start profile', async () => {
    const manifest = (await (
      await fetch(`${registry.url}/v2/plain/manifests/cmd`, {
        headers: { accept: MediaTypes.ociManifest },
      })
    ).json()) as { layers: { digest: string; annotations: Record<string, string> }[] };
    const layer = manifest.layers[0].digest; // the files are in the lower layer
    const agentOf = await startFreshAgent(dir, 'command', {
      prefetch: true,
      backgroundFetch: false,
    });
    try {
      const ref = `${registry.host}/plain:cmd`;
      const diff = join(agentOf.mountpoint, Buffer.from(ref).toString('base64'), layer, 'diff');
      await stat(diff);
      await waitFor('command files prefetched', async () =>
        (await agentOf.log()).includes(`"layer":"${layer}","what":"command files","chunks":`),
      );
      const gets = async (): Promise<number> =>
        (await registry.accessLog()).filter((l) => l.path.endsWith(layer)).length;
      const before = await gets();
      expect(await readFile(join(diff, 'usr/local/bin/hello.sh'), 'utf8')).toContain(
        'hello from script',
      );
      expect(await readFile(join(diff, 'data/hard.txt'), 'utf8')).toBe('linked content\n');
      expect(await gets()).toBe(before);
    } finally {
      await agentOf.stop();
    }
  });
});
