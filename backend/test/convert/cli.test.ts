// The CLI end to end on OCI layouts: convert, then inspect the image and a single blob file.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { jest } from '@jest/globals';

import type { ImageReport } from '../../src/convert/inspect.ts';
import { formatBytes } from '../../src/convert/progress.ts';
import { OciLayoutRepository } from '../../src/image/oci-layout.ts';
import { Annotations, MediaTypes, type ImageManifest } from '../../src/image/types.ts';
import { buildTar } from '../../src/tar/index.ts';
import { prng, randomBytes } from '../estargz/helpers.ts';
import { waitFor } from '../support/tmp.ts';
import { writeSourceImage } from './layout-helpers.ts';
import { runCli as cli } from './run-cli.ts';

const bin = new URL('../../bin/slipstream.js', import.meta.url).pathname;

jest.setTimeout(120_000);

describe('slipstream convert / inspect CLI', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'convert-cli-'));
    const tar = buildTar([
      { name: 'data/', type: 'dir' },
      { name: 'data/blob', type: 'file', data: randomBytes(prng(5), 200_000) },
      { name: 'data/note', type: 'file', data: Buffer.from('note\n') },
    ]);
    await writeSourceImage(join(dir, 'src'), 'v1', [tar]);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('converts, and inspect verifies the image and a blob file; corruption fails inspect', async () => {
    const converted = await cli([
      'convert',
      '--chunk-size',
      '65536',
      '--level',
      '1',
      `oci:${join(dir, 'src')}:v1`,
      `oci:${join(dir, 'dst')}`,
    ]);
    expect(converted.code).toBe(0);
    expect(converted.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    expect(converted.stderr).toContain('image layer 1/1');

    const image = await cli(['inspect', '--verify-chunks', `oci:${join(dir, 'dst')}:latest`]);
    expect(image.code).toBe(0);
    expect(image.stdout).toContain('matches annotation');
    expect(image.stdout).toMatch(/chunks verified: (\d+)\/\1/);

    const dst = new OciLayoutRepository(join(dir, 'dst'));
    const manifest = JSON.parse(
      (await dst.getManifest('latest')).bytes.toString(),
    ) as ImageManifest;
    const blobPath = join(dir, 'dst/blobs/sha256', manifest.layers[0].digest.slice(7));
    const json = await cli(['inspect', '--json', '--verify-chunks', blobPath]);
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as { format: string; chunkCheck: { failed: number } };
    expect(report).toMatchObject({ format: 'estargz', chunkCheck: { failed: 0 } });

    const blob = await readFile(blobPath);
    blob[Math.floor(blob.length / 3)] ^= 0xff; // inside the first file's data
    await writeFile(join(dir, 'corrupt.blob'), blob);
    const corrupt = await cli(['inspect', '--verify-chunks', join(dir, 'corrupt.blob')]);
    expect(corrupt.code).toBe(1);
    expect(corrupt.stdout).toMatch(/chunks verified: \d+\/\d+ \(first error/);

    const missing = await cli(['inspect', `oci:${join(dir, 'nowhere')}`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('not an OCI image layout');
    const noFile = await cli(['inspect', join(dir, 'nowhere.blob')]);
    expect(noFile.code).toBe(1);
    expect(noFile.stderr.trim()).toBe(
      `slipstream inspect: ${join(dir, 'nowhere.blob')}: no such file or directory`,
    );
  });

  it('inspect flags an uncompressed-size annotation the layer disagrees with', async () => {
    const root = join(dir, 'sizes');
    const converted = await cli([
      'convert',
      '--chunk-size',
      '65536',
      `oci:${join(dir, 'src')}:v1`,
      `oci:${root}:good`,
    ]);
    expect(converted.code).toBe(0);
    const layout = new OciLayoutRepository(root);
    const manifest = JSON.parse(
      (await layout.getManifest('good')).bytes.toString(),
    ) as ImageManifest;
    const layer = manifest.layers[0];
    const tarSize = gunzipSync(await layout.readBlob(layer.digest)).length;
    const fileBytes = 200_000 + 'note\n'.length + 1; // and the 1-byte landmark file
    const annotated = layer.annotations![Annotations.estargzUncompressedSize];
    expect(annotated).toBe(String(tarSize));

    const inspect = async (tag: string, ...flags: string[]) => {
      const text = await cli(['inspect', ...flags, `oci:${root}:${tag}`]);
      const json = await cli(['inspect', '--json', ...flags, `oci:${root}:${tag}`]);
      const report = JSON.parse(json.stdout) as ImageReport;
      // A hint for the runtime's size accounting, not a reason to refuse the layer.
      expect([text.code, json.code]).toEqual([0, 0]);
      return { text: text.stdout, check: report.manifests[0].layers[0].toc?.uncompressedSizeCheck };
    };
    const exact = await inspect('good', '--verify-chunks');
    expect(exact.check).toEqual({
      annotation: annotated,
      measured: tarSize,
      exact: true,
      agrees: true,
    });
    expect(exact.text).toContain(`uncompressed ${formatBytes(tarSize)} (annotation checked)`);

    const tag = async (name: string, value: string) => {
      layer.annotations![Annotations.estargzUncompressedSize] = value;
      const bytes = Buffer.from(JSON.stringify(manifest));
      await layout.putManifest(name, MediaTypes.ociManifest, bytes);
    };
    // One byte off: only reading the whole layer can tell.
    await tag('off-by-one', String(tarSize + 1));
    expect((await inspect('off-by-one')).check).toMatchObject({
      measured: fileBytes,
      agrees: true,
    });
    const offByOne = await inspect('off-by-one', '--verify-chunks');
    expect(offByOne.check).toMatchObject({ measured: tarSize, exact: true, agrees: false });
    expect(offByOne.text).toContain(
      `uncompressed-size annotation WRONG: says ${tarSize + 1} bytes, the layer decompresses to ${tarSize} bytes`,
    );
    // Less than the files hold, or not a size: wrong without reading the layer.
    for (const [name, value, says] of [
      ['too-small', '1000', '1000 bytes'],
      ['not-a-size', '12 MB', '"12 MB"'],
    ]) {
      await tag(name, value);
      const quick = await inspect(name);
      expect(quick.check).toEqual({
        annotation: value,
        measured: fileBytes,
        exact: false,
        agrees: false,
      });
      expect(quick.text).toContain(
        `uncompressed-size annotation WRONG: says ${says}, its files alone take ${fileBytes} bytes`,
      );
    }
  });

  it('inspect fails a layer the manifest calls eStargz whose bytes hold no footer', async () => {
    // A plain gzip layer with a TOC digest annotation: what inspect sees through a front that
    // serves other bytes than the blob's, or after the blob was replaced.
    const root = join(dir, 'claims');
    const src = await writeSourceImage(root, 'v1', [buildTar([{ name: 'a', type: 'file' }])]);
    const manifest = JSON.parse((await src.getManifest('v1')).bytes.toString()) as ImageManifest;
    manifest.layers[0].annotations = { [Annotations.estargzTocDigest]: `sha256:${'1'.repeat(64)}` };
    await src.putManifest('v1', MediaTypes.ociManifest, Buffer.from(JSON.stringify(manifest)));
    const inspected = await cli(['inspect', `oci:${root}:v1`]);
    expect(inspected.code).toBe(1);
    expect(inspected.stdout).toContain('the bytes read at its end hold no eStargz footer');
  });

  it('warns when none of the --prioritize paths is in the image, and shows whole bytes/s', async () => {
    await writeFile(join(dir, 'prio.txt'), '/not/in/the/image\n# comment\n');
    const converted = await cli([
      'convert',
      '--prioritize',
      join(dir, 'prio.txt'),
      `oci:${join(dir, 'src')}:v1`,
      `oci:${join(dir, 'prio-dst')}`,
    ]);
    expect(converted.code).toBe(0);
    expect(converted.stderr).toContain(
      `warning: none of the 1 paths in ${join(dir, 'prio.txt')} is in the image`,
    );
    expect(converted.stderr).not.toMatch(/\d\.\d+ B\/s/);
    const unreadable = await cli([
      'convert',
      '--prioritize',
      join(dir, 'no-such-list.txt'),
      `oci:${join(dir, 'src')}:v1`,
      `oci:${join(dir, 'prio-dst')}`,
    ]);
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr).toContain('cannot read the --prioritize file');
  });
});

describe('slipstream convert interrupted', () => {
  it('removes its temporary files on Ctrl-C and SIGTERM, and tags nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'convert-signal-'));
    try {
      // Incompressible: long enough to interrupt midway on any machine.
      const tar = buildTar([
        { name: 'big', type: 'file', data: randomBytes(prng(9), 160 * 2 ** 20) },
      ]);
      await writeSourceImage(join(dir, 'src'), 'v1', [tar]);
      for (const [signal, code] of [
        ['SIGINT', 130],
        ['SIGTERM', 143],
      ] as const) {
        const tmp = join(dir, `tmp-${signal}`);
        await mkdir(tmp);
        const child = spawn(
          process.execPath,
          [bin, 'convert', `oci:${join(dir, 'src')}:v1`, `oci:${join(dir, 'dst')}:${signal}`],
          { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'ignore', 'pipe'] },
        );
        let stderr = '';
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
        // Interrupted once the converted layer is being written to the temporary directory.
        await waitFor(
          'a converted layer in $TMPDIR',
          async () => {
            const files = await readdir(tmp, { recursive: true, withFileTypes: true });
            return files.some((f) => f.isFile());
          },
          60_000,
          50,
        );
        child.kill(signal);
        expect(await exited).toBe(code);
        expect(stderr).toContain(`${signal}: stopped`);
        expect(await readdir(tmp)).toEqual([]);
        const index = await readFile(join(dir, 'dst', 'index.json'), 'utf8').catch(() => '{}');
        expect(index).not.toContain(signal);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('formatBytes', () => {
  it('shows whole bytes below a KiB (a rate is fractional)', () => {
    expect(formatBytes(962.686567164179)).toBe('963 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
  });
});
