import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { jest } from '@jest/globals';

import { convertImage } from '../../src/convert/convert-image.ts';
import { inspectImage, reportIsClean } from '../../src/convert/inspect.ts';
import { openImage } from '../../src/convert/refs.ts';
import { openLayerIndex, type LayerIndex } from '../../src/estargz/index.ts';
import { OciLayoutRepository } from '../../src/image/oci-layout.ts';
import {
  Annotations,
  MediaTypes,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
} from '../../src/image/types.ts';
import { bootFileRanges, formatBootRanges } from '../../src/store/boot-files.ts';
import { buildTar, readTar } from '../../src/tar/index.ts';
import { readFile } from '../estargz/helpers.ts';
import { sha256, writeSourceImage } from './layout-helpers.ts';

// Generous: these run on shared, busy CI machines (no timing is asserted).
jest.setTimeout(120_000);

const base = buildTar([
  { name: 'bin/', type: 'dir' },
  { name: 'bin/tool', type: 'file', mode: 0o755, data: Buffer.alloc(300_000, 'abc') },
  { name: 'bin/alias', type: 'symlink', linkName: 'tool' },
  { name: 'etc/', type: 'dir' },
  { name: 'etc/config', type: 'file', data: Buffer.from('key=value\n') },
  { name: 'etc/passwd', type: 'file', data: Buffer.from('root:x:0:0::/root:/bin/sh\n') },
]);
const upper = buildTar([
  { name: 'etc/.wh.config', type: 'file' },
  { name: 'app/', type: 'dir' },
  { name: 'app/.wh..wh..opq', type: 'file' },
  { name: 'app/main', type: 'file', data: Buffer.from('print("hi")\n') },
  { name: 'app/main-link', type: 'hardlink', linkName: 'app/main' },
]);

async function json<T>(repo: OciLayoutRepository, digest: string): Promise<T> {
  return JSON.parse((await repo.readBlob(digest)).toString('utf8')) as T;
}

async function indexOf(repo: OciLayoutRepository, digest: string, size: number, toc: string) {
  const blob = await repo.readBlob(digest);
  return {
    blob,
    index: await openLayerIndex({
      blobSize: size,
      readRange: (s, e) => Promise.resolve(blob.subarray(s, e)),
      expectedTocDigest: toc,
    }),
  };
}

/** Every regular file of the source tar reads back equal from the converted layer. */
async function expectSameFiles(tar: Buffer, index: LayerIndex, blob: Buffer): Promise<number> {
  let compared = 0;
  for await (const entry of readTar([tar])) {
    if (entry.header.type !== 'file' || entry.header.name.split('/').pop()!.startsWith('.wh.')) {
      continue;
    }
    const parts: Buffer[] = [];
    for await (const chunk of entry.body) parts.push(chunk);
    const ino = index.resolve(entry.header.name);
    expect(ino).toBeDefined();
    expect((await readFile(index, blob, ino!)).equals(Buffer.concat(parts))).toBe(true);
    compared++;
  }
  return compared;
}

describe('convert between OCI layouts', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'convert-oci-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('converts every layer, rewrites diff_ids and annotates the TOC digest and offset', async () => {
    const src = await writeSourceImage(join(dir, 'src'), 'v1', [base, upper]);
    const dst = new OciLayoutRepository(join(dir, 'dst'));
    const result = await convertImage({ src, srcRef: 'v1', dst, dstRef: 'esgz', chunkSize: 65536 });
    expect(result.layers).toHaveLength(2);

    const raw = await dst.getManifest('esgz');
    expect(raw.digest).toBe(result.digest);
    const manifest = JSON.parse(raw.bytes.toString('utf8')) as ImageManifest;
    expect(manifest.mediaType).toBe(MediaTypes.ociManifest);
    const config = await json<ImageConfig>(dst, manifest.config.digest);
    const tars = [base, upper];
    for (let i = 0; i < 2; i++) {
      const layer = manifest.layers[i];
      expect(layer.mediaType).toBe(MediaTypes.ociLayerGzip);
      const toc = layer.annotations![Annotations.estargzTocDigest];
      const { blob, index } = await indexOf(dst, layer.digest, layer.size, toc);
      const plain = gunzipSync(blob);
      expect(config.rootfs.diff_ids[i]).toBe(sha256(plain));
      expect(layer.annotations![Annotations.estargzUncompressedSize]).toBe(String(plain.length));
      // Where the footer says the TOC starts.
      expect(layer.annotations![Annotations.estargzTocOffset]).toBe(String(index.tocOffset));
      // Where the boot files lie: the base layer has /etc/passwd, the upper none.
      const ranges = bootFileRanges(index);
      expect(layer.annotations![Annotations.estargzBootRanges]).toBe(
        i === 0 ? formatBootRanges(ranges) : undefined,
      );
      expect(ranges.length).toBe(i === 0 ? 1 : 0);
      expect(await expectSameFiles(tars[i], index, blob)).toBeGreaterThan(0);
    }
    const report = await inspectImage(openImage(`oci:${join(dir, 'dst')}:esgz`), {
      verifyChunks: true,
    });
    const layers = report.manifests[0].layers;
    expect(
      layers.map((l) => [
        l.format,
        l.toc?.verified,
        l.toc?.offsetHint,
        l.toc?.bootRangesHint,
        l.chunkCheck?.failed,
      ]),
    ).toEqual([
      ['estargz', true, true, true, 0],
      ['estargz', true, true, null, 0],
    ]);
    expect(reportIsClean(layers)).toBe(true);
  });

  it('keeps a multi-arch index and converts shared layers once', async () => {
    const platforms = [
      { os: 'linux', architecture: 'amd64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ];
    const src = await writeSourceImage(join(dir, 'src'), 'multi', [base], platforms);
    const dst = new OciLayoutRepository(join(dir, 'dst'));
    const result = await convertImage({ src, srcRef: 'multi', dst, dstRef: 'multi' });
    expect(result.mediaType).toBe(MediaTypes.ociIndex);
    expect(result.layers).toHaveLength(1);
    const index = JSON.parse((await dst.getManifest('multi')).bytes.toString()) as ImageIndex;
    expect(index.manifests.map((m) => m.platform)).toEqual(platforms);
    for (const child of index.manifests) {
      const m = await json<ImageManifest>(dst, child.digest);
      expect(m.layers[0].annotations![Annotations.estargzTocDigest]).toBe(
        result.layers[0].tocDigest,
      );
      const config = await json<ImageConfig>(dst, m.config.digest);
      expect(config.architecture).toBe(child.platform!.architecture);
    }
    const report = await inspectImage(openImage(`oci:${join(dir, 'dst')}:multi`));
    expect(report.manifests).toHaveLength(2);
  });

  it('reports a TOC that does not match its annotation', async () => {
    const src = await writeSourceImage(join(dir, 'src'), 'v1', [base]);
    const dst = new OciLayoutRepository(join(dir, 'dst'));
    await convertImage({ src, srcRef: 'v1', dst, dstRef: 'bad' });
    const raw = await dst.getManifest('bad');
    const manifest = JSON.parse(raw.bytes.toString()) as ImageManifest;
    manifest.layers[0].annotations![Annotations.estargzTocDigest] = sha256(Buffer.from('x'));
    manifest.layers[0].annotations![Annotations.estargzBootRanges] = '0-10';
    await dst.putManifest('bad', MediaTypes.ociManifest, Buffer.from(JSON.stringify(manifest)));
    const report = await inspectImage(openImage(`oci:${join(dir, 'dst')}:bad`));
    expect(report.manifests[0].layers[0].toc!.verified).toBe(false);
    expect(report.manifests[0].layers[0].toc!.bootRangesHint).toBe(false);
    expect(reportIsClean(report.manifests[0].layers)).toBe(false);
  });

  it('keeps the last of repeated entries, as extraction would', async () => {
    const repeated = buildTar([
      { name: 'etc/', type: 'dir', mode: 0o700 },
      { name: 'etc/config', type: 'file', data: Buffer.from('old\n') },
      { name: 'etc/', type: 'dir', mode: 0o755 },
      { name: 'etc/config', type: 'file', data: Buffer.from('new\n') },
    ]);
    const src = await writeSourceImage(join(dir, 'src'), 'v1', [repeated]);
    const dst = new OciLayoutRepository(join(dir, 'dst'));
    const result = await convertImage({ src, srcRef: 'v1', dst, dstRef: 'v1' });
    const layer = result.layers[0].target;
    const { blob, index } = await indexOf(
      dst,
      layer.digest,
      layer.size,
      result.layers[0].tocDigest,
    );
    expect((await readFile(index, blob, index.resolve('etc/config')!)).toString()).toBe('new\n');
    expect(index.stat(index.resolve('etc')!).mode & 0o777).toBe(0o755);
  });
});
