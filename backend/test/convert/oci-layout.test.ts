import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { jest } from '@jest/globals';

import {
  OciLayoutError,
  OciLayoutRepository,
  parseOciReference,
} from '../../src/image/oci-layout.ts';
import { MediaTypes } from '../../src/image/types.ts';
import { sha256 } from './layout-helpers.ts';

// Generous: these run on shared, busy CI machines (no timing is asserted).
jest.setTimeout(120_000);

describe('OCI layout repository', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'oci-layout-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('parses oci:PATH[:TAG]', () => {
    expect(parseOciReference('oci:/a/b:v1')).toEqual({ path: '/a/b', tag: 'v1' });
    expect(parseOciReference('oci:/a/b')).toEqual({ path: '/a/b', tag: '' });
    expect(parseOciReference('oci:rel:x/dir')).toEqual({ path: 'rel:x/dir', tag: '' });
    expect(parseOciReference('registry/a:b')).toBeUndefined();
    const digest = `sha256:${'c'.repeat(64)}`;
    expect(parseOciReference(`oci:/a/b@${digest}`)).toEqual({ path: '/a/b', tag: digest });
    expect(parseOciReference(`oci:/a/b:${digest}`)).toEqual({ path: '/a/b', tag: digest });
  });

  it('keeps every tag when several writers (processes) update one layout at once', async () => {
    // Each repository object stands for a process of its own: only the layout's lock file is
    // shared between them.
    const writers = Array.from({ length: 24 }, () => new OciLayoutRepository(dir));
    const manifest = (n: number) =>
      Buffer.from(`{"schemaVersion":2,"mediaType":"${MediaTypes.ociManifest}","n":${n}}`);
    await Promise.all(
      writers.map((w, n) => w.putManifest(`t${n}`, MediaTypes.ociManifest, manifest(n))),
    );
    const tags = (await new OciLayoutRepository(dir).readIndex()).manifests.map(
      (d) => d.annotations?.['org.opencontainers.image.ref.name'],
    );
    expect(tags.sort()).toEqual(writers.map((_, n) => `t${n}`).sort());
  });

  it('stores blobs by digest, tags manifests, and verifies what it reads', async () => {
    const repo = new OciLayoutRepository(dir);
    const blob = Buffer.from('layer bytes');
    expect(await repo.putBlob(blob)).toEqual({ digest: sha256(blob), size: blob.length });
    expect(await repo.hasBlob({ digest: sha256(blob), size: blob.length })).toBe(true);
    await expect(
      repo.putBlob(Buffer.from('x'), { digest: sha256(blob), size: 1 }),
    ).rejects.toBeInstanceOf(OciLayoutError);
    const manifest = Buffer.from(
      '{"schemaVersion":2,"mediaType":"' + MediaTypes.ociManifest + '"}',
    );
    await repo.putManifest('v1', MediaTypes.ociManifest, manifest);
    await repo.putManifest('v1', MediaTypes.ociManifest, manifest); // retag replaces
    expect((await repo.readIndex()).manifests).toHaveLength(1);
    expect((await repo.getManifest('v1')).digest).toBe(sha256(manifest));
    expect((await repo.getManifest('')).digest).toBe(sha256(manifest)); // the only image

    // A corrupted blob is refused when streamed.
    await writeFile(join(dir, 'blobs/sha256', sha256(blob).slice(7)), 'tampered!!!');
    const stream = await repo.openBlob({
      mediaType: MediaTypes.ociLayerGzip,
      digest: sha256(blob),
      size: blob.length,
    });
    await expect(
      (async () => {
        for await (const _ of stream) {
          // drain
        }
      })(),
    ).rejects.toThrow(/corrupt/);
  });

  it('explains missing layouts, tags and ambiguous references', async () => {
    await expect(new OciLayoutRepository(join(dir, 'none')).getManifest('x')).rejects.toThrow(
      /not an OCI image layout/,
    );
    const repo = new OciLayoutRepository(dir);
    await repo.putManifest('a', MediaTypes.ociManifest, Buffer.from('{"schemaVersion":2}'));
    await repo.putManifest('b', MediaTypes.ociManifest, Buffer.from('{"schemaVersion":2,"x":1}'));
    await expect(repo.getManifest('c')).rejects.toThrow(/no image tagged "c".*has: a, b/);
    await expect(repo.getManifest('')).rejects.toThrow(/several images/);
  });
});
