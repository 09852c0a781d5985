// Builds source OCI layouts for converter tests with the repository API itself.
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';

import { OciLayoutRepository } from '../../src/image/oci-layout.ts';
import { MediaTypes, type Descriptor, type Platform } from '../../src/image/types.ts';

export function sha256(b: Buffer): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

/** Writes a single- or multi-platform image whose layers are the given tars. */
export async function writeSourceImage(
  root: string,
  tag: string,
  layerTars: Buffer[],
  platforms: Platform[] = [],
): Promise<OciLayoutRepository> {
  const repo = new OciLayoutRepository(root);
  const layers: Descriptor[] = [];
  for (const tar of layerTars) {
    const blob = gzipSync(tar);
    await repo.putBlob(blob);
    layers.push({ mediaType: MediaTypes.ociLayerGzip, digest: sha256(blob), size: blob.length });
  }
  const manifestFor = async (platform: Platform | undefined) => {
    const config = Buffer.from(
      JSON.stringify({
        architecture: platform?.architecture ?? 'amd64',
        os: platform?.os ?? 'linux',
        config: { Cmd: ['/bin/sh'] },
        rootfs: { type: 'layers', diff_ids: layerTars.map(sha256) },
      }),
    );
    await repo.putBlob(config);
    return Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaTypes.ociManifest,
        config: { mediaType: MediaTypes.ociConfig, digest: sha256(config), size: config.length },
        layers,
      }),
    );
  };
  if (platforms.length === 0) {
    await repo.putManifest(tag, MediaTypes.ociManifest, await manifestFor(undefined));
    return repo;
  }
  const children: Descriptor[] = [];
  for (const platform of platforms) {
    const bytes = await manifestFor(platform);
    await repo.putManifest(sha256(bytes), MediaTypes.ociManifest, bytes);
    children.push({
      mediaType: MediaTypes.ociManifest,
      digest: sha256(bytes),
      size: bytes.length,
      platform,
    });
  }
  const index = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: children }),
  );
  await repo.putManifest(tag, MediaTypes.ociIndex, index);
  return repo;
}
