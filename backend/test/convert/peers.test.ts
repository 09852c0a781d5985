// Interop with real peers: eStargz images made by ctr-remote (stargz-snapshotter) are read and
// verified by our reader with every file equal to the source; images made by `slipstream convert`
// (registry → registry) are pulled and run by podman with the same files as the original.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { jest } from '@jest/globals';

import { openTarStream } from '../../src/convert/decompress.ts';
import { inspectImage, reportIsClean } from '../../src/convert/inspect.ts';
import { openImage, type OpenedImage } from '../../src/convert/refs.ts';
import {
  PREFETCH_LANDMARK,
  ROOT_INO,
  S_IFMT,
  S_IFLNK,
  openLayerIndex,
  readChunk,
  type LayerIndex,
} from '../../src/estargz/index.ts';
import { Annotations, type Descriptor, type ImageManifest } from '../../src/image/types.ts';
import { readTar } from '../../src/tar/index.ts';
import { prng, randomBytes } from '../estargz/helpers.ts';
import { startContainerd, type ContainerdFixture } from '../support/containerd.ts';
import { importBusyboxImage, pushImage } from '../support/images.ts';
import { createPodman, type PodmanFixture } from '../support/podman.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';

jest.setTimeout(600_000);
const exec = promisify(execFile);
const bin = new URL('../../bin/slipstream.js', import.meta.url).pathname;

const BIG = randomBytes(prng(99), 9 * 1024 * 1024 + 4321); // three chunks at 4 MiB
const FILES = {
  'srv/big.bin': BIG,
  'srv/empty': '',
  'srv/ünïcødé/名前.txt': 'unicode name\n',
  'srv/hello.txt': 'hello\n',
  'srv/link': { link: 'hello.txt' },
};

// Lists image content (podman adds /etc/hosts etc. per container: excluded).
const LISTING = [
  'cd /',
  'for f in $(busybox find bin etc srv -xdev | busybox grep -vE "^etc/(hosts|hostname|resolv.conf)$" | busybox sort); do',
  '  if [ -L "$f" ]; then echo "$f L $(busybox readlink "$f")";',
  '  elif [ -f "$f" ]; then echo "$f F $(busybox stat -c %a:%u:%g:%s "$f") $(busybox sha256sum < "$f")";',
  '  else echo "$f $(busybox stat -c %F:%a:%u:%g "$f")"; fi',
  'done',
].join('\n');

async function manifestOf(image: OpenedImage): Promise<ImageManifest> {
  const raw = await image.repo.getManifest(image.reference);
  return JSON.parse(raw.bytes.toString('utf8')) as ImageManifest;
}

async function indexOf(image: OpenedImage, layer: Descriptor): Promise<LayerIndex> {
  return openLayerIndex({
    blobSize: layer.size,
    readRange: (s, e) => image.readRange(layer, s, e),
    expectedTocDigest: layer.annotations![Annotations.estargzTocDigest],
  });
}

/** Compares every entry of a source layer with the eStargz layer's index and verified data. */
async function expectSameContent(
  source: OpenedImage,
  sourceLayer: Descriptor,
  target: OpenedImage,
  targetLayer: Descriptor,
): Promise<number> {
  const index = await indexOf(target, targetLayer);
  let files = 0;
  const tar = await openTarStream(await source.repo.openBlob(sourceLayer));
  for await (const entry of readTar(tar)) {
    const h = entry.header;
    const ino = index.resolve(h.name);
    if (ino === undefined) throw new Error(`${h.name} missing from the eStargz layer`);
    const attr = index.stat(ino);
    // As containers/storage extracts it: the root 0555 0:0 (its `./` entry skipped), symlinks 0777.
    const extracted =
      ino === ROOT_INO ? [0o555, 0, 0] : [h.type === 'symlink' ? 0o777 : h.mode, h.uid, h.gid];
    expect([h.name, attr.mode & 0o7777, attr.uid, attr.gid]).toEqual([h.name, ...extracted]);
    if (h.type === 'symlink') {
      expect(attr.mode & S_IFMT).toBe(S_IFLNK);
      expect(index.readlink(ino)).toBe(h.linkName);
    }
    if (h.type !== 'file') continue;
    const parts: Buffer[] = [];
    for await (const chunk of entry.body) parts.push(chunk);
    const expected = Buffer.concat(parts);
    const actual: Buffer[] = [];
    for (const c of index.chunksOf(ino)) {
      const bytes = await target.readRange(targetLayer, c.compressedOffset, c.compressedEnd);
      actual.push(await readChunk(c, bytes));
    }
    expect([h.name, Buffer.concat(actual).equals(expected)]).toEqual([h.name, true]);
    files++;
  }
  return files;
}

describe('interop with ctr-remote and podman', () => {
  let dir: string;
  let registry: RegistryFixture;
  let builder: PodmanFixture;
  let puller: PodmanFixture;
  let containerd: ContainerdFixture;
  let src: string;

  beforeAll(async () => {
    dir = await makeTempDir('convert-peers');
    registry = await startRegistry();
    builder = await createPodman({ insecureRegistries: [registry.host] });
    puller = await createPodman({ insecureRegistries: [registry.host] });
    containerd = await startContainerd();
    const local = await importBusyboxImage(builder, 'localhost/peer:latest', FILES);
    src = `${registry.host}/peer:gzip`;
    await pushImage(builder, local, src);
  });

  afterAll(async () => {
    await containerd?.stop();
    await puller?.stop();
    await builder?.stop();
    await registry?.stop();
    if (dir) await removeDir(dir);
  });

  it('reads and verifies ctr-remote eStargz images, every file equal to the source', async () => {
    const ctr = `${registry.host}/peer:ctr`;
    await containerd.ctrRemote(['image', 'pull', '--plain-http', src]);
    await containerd.ctrRemote(['image', 'convert', '--estargz', '--oci', src, ctr]);
    await containerd.ctrRemote(['image', 'push', '--plain-http', ctr]);

    const source = openImage(src, { insecure: true });
    const target = openImage(ctr, { insecure: true });
    try {
      const report = await inspectImage(target, { verifyChunks: true });
      const layers = report.manifests.flatMap((m) => m.layers);
      expect(layers.map((l) => [l.format, l.toc?.verified, l.toc?.landmark])).toEqual([
        ['estargz', true, 'no-prefetch'],
      ]);
      expect(reportIsClean(layers)).toBe(true);
      expect(layers[0].chunkCheck!.checked).toBeGreaterThan(3);
      // ctr-remote's uncompressed-size annotation is what its layer decompresses to.
      expect(layers[0].toc?.uncompressedSizeCheck).toMatchObject({ exact: true, agrees: true });
      const [s, t] = [await manifestOf(source), await manifestOf(target)];
      const files = await expectSameContent(source, s.layers[0], target, t.layers[0]);
      expect(files).toBeGreaterThan(4);
    } finally {
      await source.close();
      await target.close();
    }
  });

  it('reads ctr-remote layers with small chunks, and detects its zstd:chunked output', async () => {
    const small = `${registry.host}/peer:ctr-small`;
    const zstd = `${registry.host}/peer:ctr-zstd`;
    await containerd.ctrRemote(['image', 'pull', '--plain-http', src]);
    await containerd.ctrRemote([
      'image',
      'convert',
      '--estargz',
      '--estargz-chunk-size',
      '65536',
      '--oci',
      src,
      small,
    ]);
    await containerd.ctrRemote(['image', 'push', '--plain-http', small]);
    await containerd.ctrRemote(['image', 'convert', '--zstdchunked', '--oci', src, zstd]);
    await containerd.ctrRemote(['image', 'push', '--plain-http', zstd]);
    const source = openImage(src, { insecure: true });
    const target = openImage(small, { insecure: true });
    const zstdImage = openImage(zstd, { insecure: true });
    try {
      const [s, t] = [await manifestOf(source), await manifestOf(target)];
      const index = await indexOf(target, t.layers[0]);
      const big = index.resolve('srv/big.bin')!;
      expect(index.chunksOf(big).length).toBe(Math.ceil(BIG.length / 65536));
      expect(index.chunksFor(big, 65536 * 3 + 5, 10).map((c) => c.fileOffset)).toEqual([65536 * 3]);
      expect(await expectSameContent(source, s.layers[0], target, t.layers[0])).toBeGreaterThan(4);
      const report = await inspectImage(zstdImage);
      expect(report.manifests[0].layers[0].format).toBe('zstd:chunked');
    } finally {
      await source.close();
      await target.close();
      await zstdImage.close();
    }
  });

  it('converts registry → registry; podman pulls and runs it with identical files', async () => {
    const slip = `${registry.host}/peer:slip`;
    const list = join(dir, 'prioritize.txt');
    await writeFile(list, '/srv/hello.txt\n/bin/busybox\n');
    const { stdout, stderr } = await exec(process.execPath, [
      bin,
      'convert',
      '--insecure',
      '--prioritize',
      list,
      src,
      slip,
    ]);
    expect(stdout.trim()).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(stderr).toContain('layer 1/1'); // plain progress lines (no TTY here)

    const source = openImage(src, { insecure: true });
    const target = openImage(slip, { insecure: true });
    try {
      const [s, t] = [await manifestOf(source), await manifestOf(target)];
      expect(await expectSameContent(source, s.layers[0], target, t.layers[0])).toBeGreaterThan(4);
      const index = await indexOf(target, t.layers[0]);
      const prefetched = new Set(index.prefetchChunks().map((c) => index.path(c.ino)));
      expect(prefetched).toEqual(new Set(['srv/hello.txt', 'bin/busybox']));
      expect(index.prefetchBoundary).toBeGreaterThan(0);
      expect(index.resolve(PREFETCH_LANDMARK)).toBeUndefined(); // bookkeeping, not a file
    } finally {
      await source.close();
      await target.close();
    }

    const original = await puller.run(['run', '--rm', src, 'sh', '-c', LISTING]);
    const converted = await puller.run(['run', '--rm', slip, 'sh', '-c', LISTING]);
    expect(converted.stdout).toBe(original.stdout);
    expect(original.stdout).toContain('srv/big.bin F');
    // The inspector agrees through the CLI (JSON mode), exit code 0.
    const inspected = await exec(process.execPath, [bin, 'inspect', '--insecure', '--json', slip]);
    const report = JSON.parse(inspected.stdout) as {
      manifests: { layers: { format: string }[] }[];
    };
    expect(report.manifests[0].layers[0].format).toBe('estargz');
  });

  it('recognises zstd:chunked layers as not lazily served yet, and converts them', async () => {
    const zstd = `${registry.host}/peer:zstd`;
    await builder.run([
      'push',
      '--tls-verify=false',
      '--compression-format',
      'zstd:chunked',
      'localhost/peer:latest',
      `docker://${zstd}`,
    ]);
    const source = openImage(zstd, { insecure: true });
    const gzip = openImage(src, { insecure: true });
    const target = openImage(`${registry.host}/peer:from-zstd`, { insecure: true });
    try {
      const report = await inspectImage(source);
      const layer = report.manifests[0].layers[0];
      expect([layer.format, layer.lazySupported]).toEqual(['zstd:chunked', false]);
      expect(layer.reason).toContain('not supported yet');
      await exec(process.execPath, [
        bin,
        'convert',
        '--insecure',
        zstd,
        `${registry.host}/peer:from-zstd`,
      ]);
      const [g, t] = [await manifestOf(gzip), await manifestOf(target)];
      expect(await expectSameContent(gzip, g.layers[0], target, t.layers[0])).toBeGreaterThan(4);
    } finally {
      await source.close();
      await gzip.close();
      await target.close();
    }
  });
});
