// Test images made of random bytes, pushed with the client under test (so resolve and range
// tests do not depend on podman), and small utilities shared by the registry tests.
import { randomBytes } from 'node:crypto';

import type { Descriptor, ImageManifest, Platform } from '../../src/image/types.ts';
import { MediaTypes } from '../../src/image/types.ts';
import type { RegistryClient } from '../../src/registry/client.ts';
import { computeDigest } from '../../src/registry/manifest.ts';
import type { RegistryRepository } from '../../src/registry/repository.ts';
import type { RequestEvent } from '../../src/registry/stats.ts';

export interface TestImage {
  manifest: ImageManifest;
  manifestDigest: string;
  manifestBytes: Buffer;
  layers: Buffer[];
  config: Buffer;
}

export function descriptorOf(mediaType: string, bytes: Buffer): Descriptor {
  return { mediaType, digest: computeDigest(bytes), size: bytes.length };
}

/** Pushes a single-platform image with random layers of the given sizes under `tag`. */
export async function pushTestImage(
  repo: RegistryRepository,
  tag: string | undefined,
  layerSizes: number[],
  platform: Platform = { os: 'linux', architecture: 'amd64' },
): Promise<TestImage> {
  const layers = layerSizes.map((n) => randomBytes(n));
  for (const layer of layers) await repo.putBlob(layer);
  const config = Buffer.from(
    JSON.stringify({
      ...platform,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => computeDigest(l)) },
    }),
  );
  await repo.putBlob(config);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociManifest,
    config: descriptorOf(MediaTypes.ociConfig, config),
    layers: layers.map((l) => descriptorOf(MediaTypes.ociLayerGzip, l)),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDigest = await repo.putManifest(
    tag ?? computeDigest(manifestBytes),
    MediaTypes.ociManifest,
    manifestBytes,
  );
  return { manifest, manifestDigest, manifestBytes, layers, config };
}

/** Pushes an index over already pushed manifests. */
export async function pushTestIndex(
  repo: RegistryRepository,
  tag: string,
  entries: { image: TestImage; platform: Platform }[],
): Promise<string> {
  const index = {
    schemaVersion: 2,
    mediaType: MediaTypes.ociIndex,
    manifests: entries.map(({ image, platform }) => ({
      ...descriptorOf(MediaTypes.ociManifest, image.manifestBytes),
      platform,
    })),
  };
  return repo.putManifest(tag, MediaTypes.ociIndex, Buffer.from(JSON.stringify(index)));
}

/** Runs `fn` and returns the error it throws (fails the test when it does not throw). */
export async function caught(fn: () => unknown): Promise<Error & { kind?: string }> {
  try {
    await fn();
  } catch (e) {
    return e as Error & { kind?: string };
  }
  throw new Error('expected an error, none was thrown');
}

/** Collects the client's request events until `stop()`. */
export function recordRequests(client: RegistryClient): {
  events: RequestEvent[];
  stop(): RequestEvent[];
} {
  const events: RequestEvent[] = [];
  const listener = (e: RequestEvent) => events.push(e);
  client.stats.on('request', listener);
  return {
    events,
    stop: () => {
      client.stats.off('request', listener);
      return events;
    },
  };
}
