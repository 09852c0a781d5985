// A layer converted by `slipstream convert` says where its boot files lie: a lookup reads them
// beside the TOC, and their prefetch then needs nothing more from the registry. The annotation
// is only a hint: whatever it says, every file reads as in the source.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { Annotations, MediaTypes } from '../../src/image/types.ts';
import { openRegistryRepository } from '../../src/registry/index.ts';
import { parseBootRanges } from '../../src/store/boot-files.ts';
import { startFaultProxy, type FaultProxy } from '../registry/servers.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, waitFor } from '../support/tmp.ts';
import {
  type EstargzManifest,
  layerDirIn,
  pushEstargzImage,
  retagWithLayerAnnotation,
  startFreshAgent,
  tearDown,
} from './fixtures.ts';

jest.setTimeout(180_000);

/** [start, end) of each range in a Range header (`bytes=a-b` or `bytes=a-b,c-d`). */
function rangesOf(header: string): [number, number][] {
  return header
    .replace(/^bytes=/, '')
    .split(',')
    .filter((r) => /^\d+-\d+$/.test(r.trim()))
    .map((r) => {
      const [a, b] = r.trim().split('-').map(Number);
      return [a, b + 1];
    });
}

/** Whether the union of `ranges` covers [start, end). */
function covered(ranges: [number, number][], start: number, end: number): boolean {
  let at = start;
  for (const [s, e] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (s <= at && e > at) at = e;
  }
  return at >= end;
}

const LIBC = Buffer.alloc(300_000);
for (let i = 0; i < LIBC.length; i++) LIBC[i] = (i * 2654435761) >>> 24; // poorly compressible

const BOOT_FILES = {
  'etc/group': 'root:x:0:\n',
  'usr/lib/x86_64-linux-gnu/libc.so.6': LIBC,
  // Files between the boot files: their bytes are not what the early read is for.
  ...Object.fromEntries(
    Array.from({ length: 200 }, (_, i) => [`srv/d${i % 10}/file-${i}.txt`, `file ${i}\n`]),
  ),
};

describe('boot files read beside the TOC', () => {
  let dir: string;
  let registry: RegistryFixture;
  let proxy: FaultProxy;
  let manifest: EstargzManifest;
  let base: EstargzManifest['layers'][number];

  beforeAll(async () => {
    dir = await makeTempDir('boot-early');
    registry = await startRegistry();
    manifest = await pushEstargzImage(dir, registry, 'boot', BOOT_FILES);
    base = manifest.layers.find((l) => l.annotations[Annotations.estargzBootRanges])!;
    proxy = await startFaultProxy(registry.host);
  });

  afterAll(() => tearDown(dir, proxy, registry));

  async function bootPrefetchDone(log: () => Promise<string>): Promise<void> {
    await waitFor('the boot files prefetched', async () =>
      (await log())
        .split('\n')
        .some((line) => line.includes('store: prefetch done') && line.includes(base.digest)),
    );
  }

  it('the converter annotates the layer that holds them', () => {
    const ranges = parseBootRanges(base.annotations[Annotations.estargzBootRanges], base.size);
    expect(ranges?.length).toBeGreaterThan(0);
    // The TOC is not among them.
    const tocOffset = Number(base.annotations[Annotations.estargzTocOffset]);
    expect(ranges!.every(([, end]) => end <= tocOffset)).toBe(true);
  });

  it('reads them during the lookup; their prefetch then asks the registry for nothing; not again once seen', async () => {
    const ranges = parseBootRanges(base.annotations[Annotations.estargzBootRanges], base.size)!;
    const asked: { ranges: [number, number][]; afterLookup: boolean }[] = [];
    let lookedUp = false;
    proxy.rule = (req) => {
      if (req.url?.endsWith(`/blobs/${base.digest}`) && req.headers.range) {
        asked.push({ ranges: rangesOf(req.headers.range), afterLookup: lookedUp });
      }
      return undefined;
    };
    const agent = await startFreshAgent(dir, 'agent', { backgroundFetch: false, prefetch: true });
    try {
      const layerDir = layerDirIn(agent.mountpoint, `${proxy.host}/boot:esgz`, base.digest);
      await readFile(join(layerDir, 'info'));
      lookedUp = true;
      await bootPrefetchDone(agent.log);
      // Every annotated range was asked for before the lookup answered…
      const before = asked.filter((a) => !a.afterLookup).flatMap((a) => a.ranges);
      for (const [start, end] of ranges) expect(covered(before, start, end)).toBe(true);
      // …and nothing of this layer after it: the prefetch found the bytes in memory.
      expect(asked.filter((a) => a.afterLookup)).toEqual([]);
      expect(await readFile(join(layerDir, 'diff/usr/lib/x86_64-linux-gnu/libc.so.6'))).toEqual(
        LIBC,
      );
      expect(await readFile(join(layerDir, 'diff/etc/passwd'), 'utf8')).toBe(
        'root:x:0:0:root:/root:/bin/sh\n',
      );
      expect(await readFile(join(layerDir, 'diff/bin/busybox'))).toEqual(
        await readFile('/bin/busybox'),
      );
    } finally {
      await agent.stop();
    }
    // Started again on the same state: the layer was seen before (its TOC and chunks are
    // cached), so nothing is read early.
    asked.length = 0;
    lookedUp = false;
    const again = await startFreshAgent(dir, 'agent', { backgroundFetch: false, prefetch: true });
    try {
      const layerDir = layerDirIn(again.mountpoint, `${proxy.host}/boot:esgz`, base.digest);
      await readFile(join(layerDir, 'info'));
      await bootPrefetchDone(again.log);
      expect(asked).toEqual([]);
      expect(await readFile(join(layerDir, 'diff/etc/passwd'), 'utf8')).toBe(
        'root:x:0:0:root:/root:/bin/sh\n',
      );
    } finally {
      proxy.rule = () => undefined;
      await again.stop();
    }
  });

  it("reads at most 16 MiB early for a whole image, whatever its layers' annotations say", async () => {
    // Three base layers (the same files, other random bytes: three digests; an image listing
    // one layer twice is not served lazily at all), each naming nearly all of itself as boot
    // ranges: 3 × 6–7 MB asked, more than 16 MiB.
    const raw = (await (
      await fetch(`${registry.url}/v2/boot/manifests/esgz`, {
        headers: { accept: MediaTypes.ociManifest },
      })
    ).json()) as { layers: { digest: string; annotations: Record<string, string> }[] };
    const repository = openRegistryRepository(`${registry.host}/boot`, { insecure: true });
    const bases = [base];
    for (const copy of ['boot-2', 'boot-3']) {
      const other = await pushEstargzImage(dir, registry, copy, BOOT_FILES);
      const layer = other.layers.find((l) => l.annotations[Annotations.estargzBootRanges])!;
      const blob = await fetch(`${registry.url}/v2/${copy}/blobs/${layer.digest}`);
      await repository.putBlob(Buffer.from(await blob.arrayBuffer()));
      bases.push(layer);
    }
    const tocOffsets = new Map(
      bases.map((l) => [l.digest, Number(l.annotations[Annotations.estargzTocOffset])]),
    );
    raw.layers = bases.map((layer, shift) => ({
      ...layer,
      annotations: {
        ...layer.annotations,
        [Annotations.estargzBootRanges]: `${shift}-${tocOffsets.get(layer.digest)! - shift}`,
      },
    }));
    await repository.putManifest(
      'greedy',
      MediaTypes.ociManifest,
      Buffer.from(JSON.stringify(raw)),
    );
    let early = 0;
    proxy.rule = (req) => {
      const ranges = rangesOf(req.headers.range ?? '');
      const digest = req.url?.split('/blobs/')[1];
      const tocOffset = digest === undefined ? undefined : tocOffsets.get(digest);
      if (tocOffset !== undefined && ranges.every(([, e]) => e <= tocOffset)) {
        early += ranges.reduce((n, [s, e]) => n + e - s, 0);
      }
      return undefined;
    };
    const agent = await startFreshAgent(dir, 'agent-greedy', {
      backgroundFetch: false,
      prefetch: true,
    });
    try {
      // The image is not valid (its config lists two layers): the lookup may fail; the agent
      // has read what it was going to read early by then.
      await readFile(
        join(layerDirIn(agent.mountpoint, `${proxy.host}/boot:greedy`, base.digest), 'info'),
      ).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 1000));

      expect(early).toBeGreaterThan(Math.max(...tocOffsets.values())); // more than a layer's worth…
      expect(early).toBeLessThanOrEqual(16 * 2 ** 20); // …the third's did not
      expect(await agent.metrics()).toContain('slipstream_'); // still serving
    } finally {
      proxy.rule = () => undefined;
      await agent.stop();
    }
  });

  it.each([
    ['shifted by a byte', (v: string) => v.replace(/\d+/g, (n) => String(Number(n) + 1))],
    ['past the blob', () => `0-${base.size + 10}`],
    ['malformed', () => 'everything'],
    ['absent', () => undefined],
  ])('serves every file whatever the annotation says: %s', async (name, wrong) => {
    const tag = `wrong-${name.replace(/\W+/g, '-')}`;
    await retagWithLayerAnnotation(
      registry,
      'boot',
      tag,
      base.digest,
      Annotations.estargzBootRanges,
      wrong(base.annotations[Annotations.estargzBootRanges]),
    );
    const agent = await startFreshAgent(dir, `agent-${tag}`, {
      backgroundFetch: false,
      prefetch: true,
    });
    try {
      const layerDir = layerDirIn(agent.mountpoint, `${registry.host}/boot:${tag}`, base.digest);
      await readFile(join(layerDir, 'info'));
      await bootPrefetchDone(agent.log);
      expect(await readFile(join(layerDir, 'diff/usr/lib/x86_64-linux-gnu/libc.so.6'))).toEqual(
        LIBC,
      );
      expect(await readFile(join(layerDir, 'diff/bin/busybox'))).toEqual(
        await readFile('/bin/busybox'),
      );
      expect(await readFile(join(layerDir, 'diff/etc/group'), 'utf8')).toBe('root:x:0:\n');
      expect(await readFile(join(layerDir, 'diff/srv/d3/file-113.txt'), 'utf8')).toBe('file 113\n');
    } finally {
      await agent.stop();
    }
  });
});
