// Indexes inside indexes, and BuildKit's attestation manifests: converting such an image into
// another repository converts every platform (nested ones too), copies what is not an image,
// and leaves no reference in the new index to a manifest it does not hold.
import { gzipSync } from 'node:zlib';

import { jest } from '@jest/globals';

import { convertImage } from '../../src/convert/convert-image.ts';
import {
  Annotations,
  MediaTypes,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type ImageRepository,
  type Platform,
} from '../../src/image/types.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { openRegistryRepository } from '../../src/registry/repository.ts';
import { buildTar } from '../../src/tar/index.ts';
import { startRegistry, type RegistryFixture } from '../support/registry.ts';
import { sha256 } from './layout-helpers.ts';

jest.setTimeout(120_000);

const ATTESTED = 'vnd.docker.reference.digest';

let registry: RegistryFixture;
let client: RegistryClient;

beforeAll(async () => {
  registry = await startRegistry();
  client = new RegistryClient();
});

afterAll(async () => {
  await client?.close();
  await registry?.stop();
});

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

async function putBlob(repo: ImageRepository, mediaType: string, bytes: Buffer) {
  await repo.putBlob(bytes);
  return { mediaType, digest: sha256(bytes), size: bytes.length };
}

async function putManifest(repo: ImageRepository, mediaType: string, doc: unknown) {
  const bytes = json(doc);
  await repo.putManifest(sha256(bytes), mediaType, bytes);
  return { mediaType, digest: sha256(bytes), size: bytes.length };
}

/** One platform's image: a layer with a file named after it. */
async function platformImage(repo: ImageRepository, platform: Platform): Promise<Descriptor> {
  const tar = buildTar([
    { name: `arch-${platform.architecture}`, type: 'file', data: Buffer.from('x') },
  ]);
  const layer = await putBlob(repo, MediaTypes.ociLayerGzip, gzipSync(tar));
  const config = await putBlob(
    repo,
    MediaTypes.ociConfig,
    json({ ...platform, rootfs: { type: 'layers', diff_ids: [sha256(tar)] } }),
  );
  const manifest = { schemaVersion: 2, mediaType: MediaTypes.ociManifest, config, layers: [layer] };
  return { ...(await putManifest(repo, MediaTypes.ociManifest, manifest)), platform };
}

/** A BuildKit attestation manifest (SBOM / provenance) for the manifest `of`. */
async function attestation(repo: ImageRepository, of: Descriptor): Promise<Descriptor> {
  const statement = await putBlob(
    repo,
    'application/vnd.in-toto+json',
    json({ _type: 'https://in-toto.io/Statement/v0.1', subject: [{ digest: of.digest }] }),
  );
  const config = await putBlob(repo, MediaTypes.ociConfig, json({}));
  const manifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config,
    layers: [statement],
  };
  return {
    ...(await putManifest(repo, MediaTypes.ociManifest, manifest)),
    platform: { os: 'unknown', architecture: 'unknown' },
    annotations: { 'vnd.docker.reference.type': 'attestation-manifest', [ATTESTED]: of.digest },
  };
}

async function manifestOf<T>(repo: ImageRepository, digest: string): Promise<T> {
  return JSON.parse((await repo.getManifest(digest)).bytes.toString('utf8')) as T;
}

it('converts the platforms of a nested index and points attestations at the conversions', async () => {
  const src = openRegistryRepository(`${registry.host}/nested/src`, { client });
  const amd64 = await platformImage(src, { os: 'linux', architecture: 'amd64' });
  const arm64 = await platformImage(src, { os: 'linux', architecture: 'arm64' });
  const inner = await putManifest(src, MediaTypes.ociIndex, {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: [arm64, await attestation(src, arm64)],
  });
  const outer: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: [amd64, inner, await attestation(src, amd64)],
    annotations: { 'org.example': 'kept' },
  };
  await src.putManifest('v1', MediaTypes.ociIndex, json(outer));

  // Into another repository: every manifest and blob the new index names must be there.
  const dst = openRegistryRepository(`${registry.host}/nested/dst`, { client });
  const result = await convertImage({ src, srcRef: 'v1', dst, dstRef: 'esgz' });
  expect(result.layers).toHaveLength(2);

  const top = await manifestOf<ImageIndex>(dst, 'esgz');
  expect(top.annotations).toEqual({ 'org.example': 'kept' });
  const [image, nested, attests] = top.manifests;
  expect(nested.mediaType).toBe(MediaTypes.ociIndex);
  expect(nested.digest).not.toBe(inner.digest);
  const nestedIndex = await manifestOf<ImageIndex>(dst, nested.digest);
  const [nestedImage, nestedAttests] = nestedIndex.manifests;
  for (const desc of [image, nestedImage]) {
    const manifest = await manifestOf<ImageManifest>(dst, desc.digest);
    expect(manifest.layers[0].annotations?.[Annotations.estargzTocDigest]).toBeDefined();
    expect(await dst.hasBlob(manifest.layers[0])).toBe(true);
  }
  expect(nestedImage.platform).toEqual({ os: 'linux', architecture: 'arm64' });
  // Each attestation names the converted manifest of its image, in its own index.
  expect(attests.annotations?.[ATTESTED]).toBe(image.digest);
  expect(nestedAttests.annotations?.[ATTESTED]).toBe(nestedImage.digest);
  // The attestations themselves are copied unchanged, with their blobs.
  const copied = await manifestOf<ImageManifest>(dst, attests.digest);
  expect(await dst.hasBlob(copied.layers[0])).toBe(true);
});
