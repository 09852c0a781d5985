// The CLI end to end on OCI layouts: convert, then inspect the image and a single blob file.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import { OciLayoutRepository } from '../../src/image/oci-layout.ts';
import type { ImageManifest } from '../../src/image/types.ts';
import { buildTar } from '../../src/tar/index.ts';
import { prng, randomBytes } from '../estargz/helpers.ts';
import { writeSourceImage } from './layout-helpers.ts';
import { runCli as cli } from './run-cli.ts';

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
  });
});
