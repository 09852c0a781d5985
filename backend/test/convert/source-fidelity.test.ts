// The converted layer must extract to exactly what the source layer extracts to, and every byte
// of the source must be the blob its digest names, whatever the source holds: paths listed
// twice (with --prioritize too), old-style (V7) directories, zstd with large windows,
// uncompressed layers. What cannot be converted fails with an error that names the layer, and
// leaves no temporary files behind.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import { jest } from '@jest/globals';

import { ConvertError, convertImage } from '../../src/convert/convert-image.ts';
import { openLayerIndex, type LayerIndex } from '../../src/estargz/index.ts';
import { OciLayoutRepository } from '../../src/image/oci-layout.ts';
import { MediaTypes, type Descriptor, type ImageManifest } from '../../src/image/types.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { openRegistryRepository } from '../../src/registry/repository.ts';
import { buildTar, encodeHeader, newHeader, padding, type TarInput } from '../../src/tar/index.ts';
import { prng, randomBytes, readFile as readIndexedFile } from '../estargz/helpers.ts';
import { run } from '../support/process.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { sha256 } from './layout-helpers.ts';
import { runCli } from './run-cli.ts';

jest.setTimeout(120_000);

interface SourceLayer {
  blob: Buffer;
  mediaType: string;
  /** The uncompressed tar (the layer's DiffID is its digest). */
  tar: Buffer;
}

/** An image of these layers in `repo`, tagged `tag`. */
async function putImage(
  repo: Pick<OciLayoutRepository, 'putBlob' | 'putManifest'>,
  tag: string,
  layers: SourceLayer[],
): Promise<void> {
  const descriptors: Descriptor[] = [];
  for (const layer of layers) {
    await repo.putBlob(layer.blob);
    descriptors.push({
      mediaType: layer.mediaType,
      digest: sha256(layer.blob),
      size: layer.blob.length,
    });
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => sha256(l.tar)) },
    }),
  );
  await repo.putBlob(config);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: { mediaType: MediaTypes.ociConfig, digest: sha256(config), size: config.length },
    layers: descriptors,
  };
  await repo.putManifest(tag, MediaTypes.ociManifest, Buffer.from(JSON.stringify(manifest)));
}

const gzipped = (tar: Buffer): SourceLayer => ({
  blob: gzipSync(tar),
  mediaType: MediaTypes.ociLayerGzip,
  tar,
});
const uncompressed = (tar: Buffer): SourceLayer => ({
  blob: tar,
  mediaType: MediaTypes.ociLayerTar,
  tar,
});

/** What GNU tar extracts from an archive: each path's type, mode, owner, content or target. */
async function extracted(dir: string, archive: Buffer, gz: boolean): Promise<string[]> {
  const file = join(dir, `archive-${sha256(archive).slice(7, 19)}`);
  const root = `${file}.d`;
  await writeFile(file, archive);
  await mkdir(root);
  await run('tar', ['--numeric-owner', `-x${gz ? 'z' : ''}f`, file, '-C', root]);
  const listing: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const path = rel ? `${rel}/${name}` : name;
      // eStargz's own entries are bookkeeping, not the image's.
      if (
        !rel &&
        ['stargz.index.json', '.prefetch.landmark', '.no.prefetch.landmark'].includes(name)
      )
        continue;
      const st = await lstat(join(root, path));
      const owner = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
      if (st.isDirectory()) {
        listing.push(`${path}/ dir ${owner}`);
        await walk(path);
      } else if (st.isSymbolicLink()) {
        listing.push(`${path} -> ${await readlink(join(root, path))}`);
      } else {
        const hash = createHash('sha256')
          .update(await readFile(join(root, path)))
          .digest('hex');
        listing.push(`${path} file ${owner} ${hash.slice(0, 12)} links=${st.nlink}`);
      }
    }
  };
  await walk('');
  return listing;
}

/** Files in blob order before `.prefetch.landmark`: what a converted layer placed first. */
function placedFirst(index: LayerIndex): string[] {
  const names: string[] = [];
  const boundary = index.prefetchBoundary ?? 0;
  for (let id = 0; id < index.chunkCount; id++) {
    const chunk = index.chunk(id);
    if (chunk.compressedOffset >= boundary) break;
    names.push(index.path(chunk.ino));
  }
  return names;
}

describe('converting sources faithfully', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'convert-fidelity-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function convert(layer: SourceLayer, options: { prioritize?: string[] } = {}) {
    const src = new OciLayoutRepository(join(dir, 'src'));
    await putImage(src, 'v1', [layer]);
    const dst = new OciLayoutRepository(join(dir, 'dst'));
    const result = await convertImage({ src, srcRef: 'v1', dst, dstRef: 'out', ...options });
    const converted = result.layers[0];
    const blob = await dst.readBlob(converted.target.digest);
    const index = await openLayerIndex({
      blobSize: blob.length,
      readRange: (s, e) => Promise.resolve(blob.subarray(s, e)),
      expectedTocDigest: converted.tocDigest,
    });
    await rm(join(dir, 'src'), { recursive: true });
    await rm(join(dir, 'dst'), { recursive: true });
    return { blob, index };
  }

  describe('a path listed twice: the last entry wins, as extraction leaves it', () => {
    const cases: [string, TarInput[], string][] = [
      [
        'a file',
        [
          { name: 'app/', type: 'dir' },
          { name: 'app/main.js', type: 'file', data: Buffer.from('OLD CONTENT') },
          { name: 'app/other', type: 'file', data: Buffer.from('o') },
          { name: 'app/main.js', type: 'file', data: Buffer.from('NEW CONTENT WINS') },
        ],
        'app/main.js',
      ],
      [
        // The attempt that meets the duplicate stops with megabytes of the blob still unread.
        'a file, early in a large layer',
        [
          { name: 'early', type: 'file', data: Buffer.from('first') },
          { name: 'early', type: 'file', data: Buffer.from('second') },
          { name: 'big', type: 'file', data: randomBytes(prng(7), 3 << 20) },
        ],
        'early',
      ],
      [
        'a file replaced by a symlink',
        [
          { name: 'etc/conf', type: 'file', data: Buffer.from('old') },
          { name: 'etc/real', type: 'file', data: Buffer.from('real') },
          { name: 'etc/conf', type: 'symlink', linkName: 'real' },
        ],
        'etc/conf',
      ],
      [
        'a directory given again with another mode and owner',
        [
          { name: 'app/', type: 'dir', mode: 0o700 },
          { name: 'app/main.js', type: 'file', data: Buffer.from('x') },
          { name: 'app/', type: 'dir', mode: 0o750, uid: 7, gid: 8 },
        ],
        'app/main.js',
      ],
      [
        'a file replaced by a hardlink',
        [
          { name: 'x', type: 'file', data: Buffer.from('target') },
          { name: 'f', type: 'file', data: Buffer.from('v1') },
          { name: 'f', type: 'hardlink', linkName: 'x' },
        ],
        'f',
      ],
    ];

    it.each(cases)('%s, with and without --prioritize', async (_label, entries, prioritized) => {
      const tar = buildTar(entries);
      const expected = await extracted(dir, tar, false);
      for (const prioritize of [[], [prioritized]]) {
        const { blob, index } = await convert(gzipped(tar), { prioritize });
        expect(await extracted(dir, blob, true)).toEqual(expected);
        // The lazy view agrees: the last content of a file that stays a file.
        const last = entries.findLast((e) => e.name === prioritized)!;
        if (last.type === 'file') {
          const read = await readIndexedFile(index, blob, index.resolve(prioritized)!);
          expect(read.equals(last.data!)).toBe(true);
        }
        if (prioritize.length > 0 && last.type === 'file') {
          expect(placedFirst(index)).toEqual([prioritized]);
        }
      }
    });

    it('refuses, with --prioritize too, a hardlink to a path that is replaced after it', async () => {
      const tar = buildTar([
        { name: 'f', type: 'file', data: Buffer.from('v1') },
        { name: 'h', type: 'hardlink', linkName: 'f' },
        { name: 'f', type: 'file', data: Buffer.from('v2') },
      ]);
      for (const prioritize of [[], ['f']]) {
        const err = await convert(gzipped(tar), { prioritize }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ConvertError);
        expect((err as Error).message).toContain('hardlinks "h" to "f" and then replaces "f"');
        await rm(join(dir, 'src'), { recursive: true, force: true });
      }
    });
  });

  /** A header as a V7 tar writes it: no ustar magic, type flag `flag`. */
  function oldStyle(name: string, flag: string, mode: number, data = Buffer.alloc(0)): Buffer {
    const block = encodeHeader(newHeader({ name, type: 'file', mode, size: data.length }));
    block[156] = flag.charCodeAt(0);
    block.fill(0, 257, 265);
    block.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of block) sum += byte;
    block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
    return Buffer.concat([block, data, padding(data.length)]);
  }

  it('keeps an old-style directory (a regular-file flag on a name ending in /) a directory', async () => {
    const tar = Buffer.concat([
      oldStyle('olddir/', '\0', 0o711),
      oldStyle('olddir/child', '0', 0o644, Buffer.from('child')),
      oldStyle('emptydir/', '0', 0o700),
      oldStyle('plain', '\0', 0o600, Buffer.from('v7 file')),
      Buffer.alloc(1024),
    ]);
    const { blob, index } = await convert(gzipped(tar));
    for (const [path, mode] of [
      ['olddir', 0o40711],
      ['emptydir', 0o40700],
      ['plain', 0o100600],
    ] as const) {
      expect(index.stat(index.resolve(path)!).mode).toBe(mode);
    }
    expect((await readIndexedFile(index, blob, index.resolve('olddir/child')!)).toString()).toBe(
      'child',
    );
    const listing = await extracted(dir, blob, true);
    expect(listing).toContain('olddir/ dir 711 0:0');
    expect(listing).toContain('emptydir/ dir 700 0:0');
  });

  describe('every source byte is checked against the layer digest', () => {
    const data = buildTar([
      { name: 'data.bin', type: 'file', data: Buffer.alloc(1 << 20, 7) },
      { name: 'last', type: 'file', data: Buffer.from('last file') },
    ]);

    /** Flips one byte of the stored blob `digest` at `offset` (from its end, if negative). */
    async function corrupt(path: string, offset: number): Promise<void> {
      const bytes = await readFile(path);
      bytes[offset < 0 ? bytes.length + offset : offset] ^= 0xff;
      await writeFile(path, bytes);
    }
    const blobFile = (root: string, digest: string) =>
      join(root, 'blobs', 'sha256', digest.slice(7));

    it.each([
      ['inside a file of an uncompressed layer', uncompressed(data), 1 << 19],
      // GNU tar pads to 10 KiB records: bytes after the end-of-archive blocks count too.
      [
        'in the padding after an uncompressed tar ends',
        uncompressed(Buffer.concat([data, Buffer.alloc(8192)])),
        -100,
      ],
      [
        'after the gzip stream of a gzip layer',
        {
          ...gzipped(data),
          blob: Buffer.concat([gzipSync(data), Buffer.alloc(4096)]),
        },
        -10,
      ],
    ])('a corrupt byte %s fails the conversion, naming the layer', async (_label, layer, at) => {
      const src = new OciLayoutRepository(join(dir, 'src'));
      await putImage(src, 'v1', [layer]);
      await corrupt(blobFile(join(dir, 'src'), sha256(layer.blob)), at);
      const dst = new OciLayoutRepository(join(dir, 'dst'));
      const err = await convertImage({ src, srcRef: 'v1', dst, dstRef: 'out' }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConvertError);
      expect((err as Error).message).toMatch(
        new RegExp(`^image layer 1/1 \\(${sha256(layer.blob)}\\): the bytes read do not match`),
      );
      await expect(dst.getManifest('out')).rejects.toThrow();
    });

    describe('from a registry', () => {
      let registry: RegistryFixture;
      beforeAll(async () => {
        registry = await startRegistry();
      });
      afterAll(async () => {
        await registry.stop();
      });

      it('a registry serving a corrupt uncompressed layer: the conversion fails', async () => {
        const client = new RegistryClient();
        try {
          const src = openRegistryRepository(`${registry.host}/fidelity/corrupt`, { client });
          const layer = uncompressed(data);
          await putImage(src, 'v1', [layer]);
          await corrupt(registry.blobDataPath(sha256(layer.blob)), 1 << 19);
          const dst = openRegistryRepository(`${registry.host}/fidelity/out`, { client });
          const err = await convertImage({ src, srcRef: 'v1', dst, dstRef: 'esgz' }).catch(
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(ConvertError);
          expect((err as Error).message).toContain(
            `image layer 1/1 (${sha256(layer.blob)}): the bytes read do not match the layer digest`,
          );
          await expect(dst.getManifest('esgz')).rejects.toThrow(/not found/);
        } finally {
          await client.close();
        }
      });

      it('a manifest that says a layer is longer than the blob: said so, naming the layer', async () => {
        const client = new RegistryClient();
        try {
          const src = openRegistryRepository(`${registry.host}/fidelity/longer`, { client });
          const layer = gzipped(data);
          await putImage(src, 'v1', [layer]);
          const manifest = JSON.parse(
            (await src.getManifest('v1')).bytes.toString(),
          ) as ImageManifest;
          manifest.layers[0].size += 100;
          await src.putManifest(
            'v1',
            MediaTypes.ociManifest,
            Buffer.from(JSON.stringify(manifest)),
          );
          const dst = new OciLayoutRepository(join(dir, 'dst'));
          const err = await convertImage({ src, srcRef: 'v1', dst, dstRef: 'out' }).catch(
            (e: unknown) => e,
          );
          expect(err).toBeInstanceOf(ConvertError);
          expect((err as Error).message).toContain(
            `image layer 1/1 (${sha256(layer.blob)}): the bytes read do not match the layer digest: `,
          );
          expect((err as Error).message).toContain(
            `ends after ${layer.blob.length} bytes, not the ${layer.blob.length + 100} its descriptor says`,
          );
        } finally {
          await client.close();
        }
      });
    });
  });

  describe('zstd layers with large windows', () => {
    const tar = buildTar([
      { name: 'f', type: 'file', data: Buffer.from('hello zstd long'.repeat(100_000)) },
    ]);
    /** As `zstd --long=N` writes it from a pipe: the frame declares a 2^N-byte window. */
    const zstdLong = (log: number): SourceLayer => {
      const out = spawnSync('zstd', ['-q', '-c', `--long=${log}`], { input: tar });
      if (out.status !== 0) throw new Error(`zstd failed: ${out.stderr.toString()}`);
      return { blob: out.stdout, mediaType: MediaTypes.ociLayerZstd, tar };
    };

    it('converts a window containers/storage accepts (zstd --long=28)', async () => {
      const { blob, index } = await convert(zstdLong(28));
      expect((await readIndexedFile(index, blob, index.resolve('f')!)).length).toBe(1_500_000);
    });

    it('refuses a larger window with a message, and removes its temporary files', async () => {
      const src = new OciLayoutRepository(join(dir, 'src'));
      const layer = zstdLong(30);
      await putImage(src, 'v1', [layer]);
      const tmp = join(dir, 'tmp');
      await mkdir(tmp);
      const dst = new OciLayoutRepository(join(dir, 'dst'));
      const err = await convertImage({
        src,
        srcRef: 'v1',
        dst,
        dstRef: 'out',
        tmpDir: tmp,
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConvertError);
      expect((err as Error).message).toContain(
        `image layer 1/1 (${sha256(layer.blob)}): a zstd frame needs a window over 512 MiB`,
      );
      expect(await readdir(tmp)).toEqual([]);
      // The CLI says so too, and exits 1 (it used to exit 13, silently).
      const cli = await runCli(
        ['convert', `oci:${join(dir, 'src')}:v1`, `oci:${join(dir, 'cli')}`],
        {
          ...process.env,
          TMPDIR: tmp,
        },
      );
      expect(cli.code).toBe(1);
      expect(cli.stderr).toContain('a zstd frame needs a window over 512 MiB');
      expect(await readdir(tmp)).toEqual([]);
    });
  });

  it('says a layer that is no tar at all is not a tar archive', async () => {
    const garbage = Buffer.alloc(4096, 'garbage ');
    const err = await convert(uncompressed(garbage)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConvertError);
    expect((err as Error).message).toContain('not a tar archive');
  });

  it('refuses a bad --prioritize path as such, before reading any layer', async () => {
    const err = await convert(gzipped(buildTar([{ name: 'a', type: 'file' }])), {
      prioritize: ['../etc/passwd'],
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConvertError);
    expect((err as Error).message).toMatch(/^prioritized path: path is not clean/);
  });
});
