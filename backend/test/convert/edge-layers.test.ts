// Source layers a real image can hold that are awkward for a converter: GNU sparse files, names
// that are not UTF-8, hardlinks into replaced or missing paths, and over-large chunk sizes.
// Each converts into a layer whose lazy view (TOC + verified chunks) and normal view (the tar
// podman would extract) both equal the source, or fails with a clear error naming the layer —
// never an image that nothing can read.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { jest } from '@jest/globals';

import { ConvertError, convertImage } from '../../src/convert/convert-image.ts';
import { inspectImage } from '../../src/convert/inspect.ts';
import { openImage } from '../../src/convert/refs.ts';
import { EstargzErrorCode, openLayerIndex } from '../../src/estargz/index.ts';
import { OciLayoutRepository } from '../../src/image/oci-layout.ts';
import { MediaTypes, type ImageManifest } from '../../src/image/types.ts';
import { buildTar } from '../../src/tar/index.ts';
import { readFile as readIndexedFile } from '../estargz/helpers.ts';
import { sha256, writeSourceImage } from './layout-helpers.ts';
import { runCli as cli } from './run-cli.ts';

jest.setTimeout(120_000);
const run = promisify(execFile);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('converting awkward source layers', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'convert-edge-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function convertTar(tar: Buffer, chunkSize = 65536) {
    const src = await writeSourceImage(join(dir, 'src'), 'v1', [tar]);
    const dst = new OciLayoutRepository(join(dir, 'dst'));
    const result = await convertImage({ src, srcRef: 'v1', dst, dstRef: 'out', chunkSize });
    const layer = result.layers[0];
    const blob = await dst.readBlob(layer.target.digest);
    const index = await openLayerIndex({
      blobSize: blob.length,
      readRange: (s, e) => Promise.resolve(blob.subarray(s, e)),
      expectedTocDigest: layer.tocDigest,
    });
    return { blob, index };
  }

  it.each([['oldgnu'], ['posix']])(
    'expands GNU sparse files (--format=%s): both views hold the whole file',
    async (format) => {
      const root = join(dir, 'root');
      await mkdir(root);
      const handle = await open(join(root, 'disk.img'), 'w');
      for (let i = 0; i < 12; i++)
        await handle.write(Buffer.from(`sector ${i}`), 0, 8, i * 300_000);
      await handle.truncate(12 * 300_000 + 77);
      await handle.close();
      const original = await readFile(join(root, 'disk.img'));
      await run('tar', [
        '--sparse',
        `--format=${format}`,
        '-C',
        root,
        '-cf',
        join(dir, 's.tar'),
        '.',
      ]);
      const { blob, index } = await convertTar(await readFile(join(dir, 's.tar')));

      // The lazy view: what the agent serves from the TOC and verified chunks.
      const ino = index.resolve('disk.img');
      expect(ino).toBeDefined();
      expect(index.stat(ino!).size).toBe(original.length);
      expect(sha(await readIndexedFile(index, blob, ino!))).toBe(sha(original));
      // No trace of GNU tar's sparse bookkeeping entries in the tree.
      expect(index.readdir(1).map((e) => e.name)).toEqual(['disk.img']);

      // The normal view: the layer as a tar, extracted by GNU tar.
      await writeFile(join(dir, 'out.tar.gz'), blob);
      const out = join(dir, 'out');
      await mkdir(out);
      await run('tar', ['-C', out, '-xzf', join(dir, 'out.tar.gz')]);
      expect(sha(await readFile(join(out, 'disk.img')))).toBe(sha(original));
    },
  );

  it('refuses a name that is not UTF-8, naming the layer, and tags nothing', async () => {
    const root = join(dir, 'root');
    await mkdir(root);
    await writeFile(Buffer.concat([Buffer.from(join(root, 'caf')), Buffer.from([0xe9])]), 'x');
    await run('tar', ['--format=posix', '-C', root, '-cf', join(dir, 'n.tar'), '.']);
    const err = await convertTar(await readFile(join(dir, 'n.tar'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConvertError);
    expect((err as Error).message).toMatch(/^image layer 1\/1 \(sha256:[0-9a-f]{64}\): /);
    expect((err as Error).message).toContain('caf\\xe9');
    await expect(new OciLayoutRepository(join(dir, 'dst')).getManifest('out')).rejects.toThrow();
  });

  it('keeps a hardlink to a path replaced before it, and refuses one to a path replaced after it', async () => {
    const before = buildTar([
      { name: 'f', type: 'file', data: Buffer.from('v1\n') },
      { name: 'f', type: 'file', data: Buffer.from('v2\n') },
      { name: 'h', type: 'hardlink', linkName: 'f' },
    ]);
    const { blob, index } = await convertTar(before);
    expect(index.resolve('h')).toBe(index.resolve('f'));
    expect((await readIndexedFile(index, blob, index.resolve('h')!)).toString()).toBe('v2\n');

    // Extraction gives h the first content and f the second: one inode cannot hold both.
    const after = buildTar([
      { name: 'f', type: 'file', data: Buffer.from('v1\n') },
      { name: 'h', type: 'hardlink', linkName: 'f' },
      { name: 'f', type: 'file', data: Buffer.from('v2\n') },
    ]);
    await rm(join(dir, 'src'), { recursive: true });
    const err = await convertTar(after).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConvertError);
    expect((err as Error).message).toContain('hardlinks "h" to "f" and then replaces "f"');
    expect(((err as Error).cause as { code?: string }).code).toBe(EstargzErrorCode.badHardlink);
  });

  it('makes absolute source paths relative to the layer root, as extraction does', async () => {
    const tar = buildTar([
      { name: '/', type: 'dir' },
      { name: '/etc/', type: 'dir' },
      { name: '/etc/x', type: 'file', data: Buffer.from('abc') },
      { name: '/etc/h', type: 'hardlink', linkName: '/etc/x' },
    ]);
    const { blob, index } = await convertTar(tar);
    expect(index.resolve('etc/h')).toBe(index.resolve('etc/x'));
    expect((await readIndexedFile(index, blob, index.resolve('etc/x')!)).toString()).toBe('abc');
    await writeFile(join(dir, 'out.tar.gz'), blob);
    const { stdout } = await run('tar', ['-tzf', join(dir, 'out.tar.gz')]);
    expect(stdout.split('\n').filter((n) => n.startsWith('/'))).toEqual([]);
  });

  it('names the layer whose compressed data is corrupt', async () => {
    const src = await writeSourceImage(join(dir, 'src'), 'v1', [
      buildTar([{ name: 'a', type: 'file', data: Buffer.alloc(100_000, 7) }]),
    ]);
    const manifest = JSON.parse((await src.getManifest('v1')).bytes.toString()) as ImageManifest;
    const gz = await src.readBlob(manifest.layers[0].digest);
    const broken = Buffer.concat([gz, Buffer.from('not gzip at all')]);
    await src.putBlob(broken);
    manifest.layers[0] = { ...manifest.layers[0], digest: sha256(broken), size: broken.length };
    await src.putManifest('v1', MediaTypes.ociManifest, Buffer.from(JSON.stringify(manifest)));
    const dst = new OciLayoutRepository(join(dir, 'dst'));
    const err = await convertImage({ src, srcRef: 'v1', dst, dstRef: 'out' }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConvertError);
    expect((err as Error).message).toContain(`image layer 1/1 (${sha256(broken)})`);
    expect((err as Error).message).toContain('does not decompress');
  });

  it('convert and inspect explain that a Docker schema 1 image is not supported', async () => {
    const repo = new OciLayoutRepository(join(dir, 'src'));
    const schema1 = { schemaVersion: 1, name: 'old/app', tag: 'v1', fsLayers: [], history: [] };
    await repo.putManifest(
      'v1',
      MediaTypes.dockerSchema1Signed,
      Buffer.from(JSON.stringify(schema1)),
    );
    const dst = new OciLayoutRepository(join(dir, 'dst'));
    const converting = await convertImage({ src: repo, srcRef: 'v1', dst, dstRef: 'out' }).catch(
      (e: unknown) => e,
    );
    expect((converting as Error).message).toContain('Docker schema 1 manifest');
    const inspecting = await inspectImage(openImage(`oci:${join(dir, 'src')}:v1`)).catch(
      (e: unknown) => e,
    );
    expect(inspecting).toBeInstanceOf(ConvertError);
    expect((inspecting as Error).message).toContain('Docker schema 1 manifest');
  });

  it('refuses a hardlink whose target is not earlier in the layer', async () => {
    const tar = buildTar([
      { name: 'h', type: 'hardlink', linkName: 'later' },
      { name: 'later', type: 'file', data: Buffer.from('x') },
    ]);
    const err = await convertTar(tar).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConvertError);
    expect((err as Error).message).toContain('"later", which is not in the layer before it');
  });

  it('inspect: an eStargz layer whose manifest lost the TOC digest annotation is not lazy', async () => {
    await convertTar(buildTar([{ name: 'a', type: 'file', data: Buffer.alloc(1000, 1) }]));
    const dst = new OciLayoutRepository(join(dir, 'dst'));
    const manifest = JSON.parse((await dst.getManifest('out')).bytes.toString()) as ImageManifest;
    const inspectAs = async (tag: string) =>
      (await inspectImage(openImage(`oci:${join(dir, 'dst')}:${tag}`))).manifests[0].layers[0];
    expect(await inspectAs('out')).toMatchObject({ format: 'estargz', lazySupported: true });
    delete manifest.layers[0].annotations;
    await dst.putManifest(
      'stripped',
      MediaTypes.ociManifest,
      Buffer.from(JSON.stringify(manifest)),
    );
    const stripped = await inspectAs('stripped');
    expect(stripped).toMatchObject({ format: 'estargz', lazySupported: false });
    expect(stripped.reason).toContain('no containerd.io/snapshot/stargz/toc.digest annotation');
  });

  it('CLI: refuses chunk sizes a reader would reject, and bad references, in one line', async () => {
    await writeSourceImage(join(dir, 'src'), 'v1', [
      buildTar([{ name: 'a', type: 'file', data: Buffer.alloc(1000, 1) }]),
    ]);
    const big = await cli([
      'convert',
      '--chunk-size',
      String(128 << 20),
      `oci:${join(dir, 'src')}:v1`,
      `oci:${join(dir, 'dst')}`,
    ]);
    expect(big.code).toBe(1);
    expect(big.stderr).toContain('--chunk-size must be 512..67108864');
    const bad = await cli(['convert', 'Not A Ref!', `oci:${join(dir, 'dst')}`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toMatch(/^slipstream convert: invalid image reference "Not A Ref!"/);
    expect(bad.stderr).not.toContain('    at ');
    const layoutPath = await cli(['inspect', join(dir, 'src')]);
    expect(layoutPath.code).toBe(1);
    expect(layoutPath.stderr).toContain(`write oci:${join(dir, 'src')}`);
  });
});
