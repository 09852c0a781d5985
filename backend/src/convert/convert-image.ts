// Image-level conversion to eStargz: every layer of every platform manifest is rewritten, configs
// get the new diff_ids, manifests the TOC-digest annotations, and indexes keep their platforms.
// Output always uses OCI media types (Docker schema2 cannot carry layer annotations reliably).
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { finished } from 'node:stream/promises';

import { buildEstargz, scanDuplicates, type BuildEstargzResult } from '../estargz/build.ts';
import { EstargzError, EstargzErrorCode } from '../estargz/errors.ts';
import { openLayerIndex } from '../estargz/index.ts';
import { sha256Digest } from '../estargz/toc.ts';
import {
  Annotations,
  MediaTypes,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type ImageRepository,
} from '../image/types.ts';
import { bootRangesAnnotation } from '../store/boot-files.ts';
import { TarError } from '../tar/header.ts';
import { openTarStream } from './decompress.ts';
import type { ProgressSink } from './progress.ts';
import { ZstdFrameError } from './zstd-frames.ts';

export class ConvertError extends Error {
  override readonly name = 'ConvertError';
}

export interface ConvertOptions {
  src: ImageRepository;
  srcRef: string;
  dst: ImageRepository;
  dstRef: string;
  /** Paths to place first in every layer that contains them (before `.prefetch.landmark`). */
  prioritize?: string[];
  chunkSize?: number;
  level?: number;
  progress?: ProgressSink;
  tmpDir?: string;
}

export interface ConvertedLayer {
  source: Descriptor;
  target: Descriptor;
  diffId: string;
  tocDigest: string;
  uncompressedSize: number;
}

export interface ConvertResult {
  /** Digest of the manifest or index stored under dstRef. */
  digest: string;
  mediaType: string;
  layers: ConvertedLayer[];
}

const LAYER_TYPES = new Set<string>([
  MediaTypes.ociLayerGzip,
  MediaTypes.ociLayerZstd,
  MediaTypes.ociLayerTar,
  MediaTypes.dockerLayerGzip,
  'application/vnd.docker.image.rootfs.diff.tar',
]);
const INDEX_TYPES = new Set<string>([MediaTypes.ociIndex, MediaTypes.dockerManifestList]);
const MANIFEST_TYPES = new Set<string>([MediaTypes.ociManifest, MediaTypes.dockerManifest]);
const STALE_ANNOTATIONS = [
  Annotations.estargzTocDigest,
  Annotations.estargzUncompressedSize,
  Annotations.estargzTocOffset,
  Annotations.estargzBootRanges,
  Annotations.zstdChunkedManifestChecksum,
  Annotations.zstdChunkedManifestPosition,
  Annotations.zstdChunkedTarsplitPosition,
  'io.github.containers.zstd-chunked.tarsplit-checksum',
  Annotations.zstdChunkedManifestChecksumLegacy,
  'io.containers.zstd-chunked.manifest-position',
];

/** Why a manifest of this media type cannot be converted or inspected. */
export function unsupportedManifest(mediaType: string): string {
  return mediaType === MediaTypes.dockerSchema1 || mediaType === MediaTypes.dockerSchema1Signed
    ? 'the image has a Docker schema 1 manifest, which is deprecated and not supported; push it again with a current tool'
    : `unsupported manifest media type ${mediaType}`;
}

export function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    return JSON.parse(bytes.toString('utf8')) as T;
  } catch (err) {
    throw new ConvertError(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}

function json(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}

async function readAll(repo: ImageRepository, desc: Descriptor): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of await repo.openBlob(desc)) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Converts SRC (a manifest or an index) into eStargz and stores it as DST. */
export async function convertImage(options: ConvertOptions): Promise<ConvertResult> {
  const tmp = await mkdtemp(join(options.tmpDir ?? tmpdir(), 'slipstream-convert-'));
  try {
    const converter = new ImageConverter(options, tmp);
    const raw = await options.src.getManifest(options.srcRef);
    const doc = parseJson<{ mediaType?: string; manifests?: unknown }>(raw.bytes, 'manifest');
    const mediaType = doc.mediaType ?? raw.mediaType;
    if (INDEX_TYPES.has(mediaType) || Array.isArray(doc.manifests)) {
      const index = parseJson<ImageIndex>(raw.bytes, 'index');
      const bytes = json(await converter.convertIndex(index));
      const digest = await options.dst.putManifest(options.dstRef, MediaTypes.ociIndex, bytes);
      return { digest, mediaType: MediaTypes.ociIndex, layers: converter.layers };
    }
    if (!MANIFEST_TYPES.has(mediaType)) throw new ConvertError(unsupportedManifest(mediaType));
    const manifest = parseJson<ImageManifest>(raw.bytes, 'manifest');
    const bytes = json(await converter.convertManifest(manifest, 'image'));
    const digest = await options.dst.putManifest(options.dstRef, MediaTypes.ociManifest, bytes);
    return { digest, mediaType: MediaTypes.ociManifest, layers: converter.layers };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

class ImageConverter {
  readonly layers: ConvertedLayer[] = [];
  private readonly o: ConvertOptions;
  private readonly tmp: string;
  /** Layers shared between platforms (or repeated) are converted once. */
  private readonly done = new Map<string, ConvertedLayer>();

  constructor(options: ConvertOptions, tmp: string) {
    this.o = options;
    this.tmp = tmp;
  }

  async convertIndex(index: ImageIndex): Promise<ImageIndex> {
    const manifests: Descriptor[] = [];
    for (const child of index.manifests) {
      const isImage = MANIFEST_TYPES.has(child.mediaType) && child.platform?.os !== 'unknown';
      if (!isImage) {
        // Attestations, nested indexes, artifacts: copied unchanged.
        await this.copyManifestAsIs(child);
        manifests.push(child);
        continue;
      }
      const raw = await this.o.src.getManifest(child.digest);
      const manifest = parseJson<ImageManifest>(raw.bytes, `manifest ${child.digest}`);
      const label = child.platform
        ? `${child.platform.os}/${child.platform.architecture}`
        : 'image';
      const bytes = json(await this.convertManifest(manifest, label));
      const digest = await this.o.dst.putManifest(
        sha256Digest(bytes),
        MediaTypes.ociManifest,
        bytes,
      );
      const converted: Descriptor = {
        ...child,
        mediaType: MediaTypes.ociManifest,
        digest,
        size: bytes.length,
      };
      manifests.push(converted);
    }
    return { ...index, schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests };
  }

  private async copyManifestAsIs(desc: Descriptor): Promise<void> {
    const raw = await this.o.src.getManifest(desc.digest);
    const doc = parseJson<Partial<ImageManifest>>(raw.bytes, `manifest ${desc.digest}`);
    const blobs = [...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])];
    for (const blob of blobs) await this.copyBlob(blob);
    await this.o.dst.putManifest(desc.digest, desc.mediaType, raw.bytes);
  }

  private async copyBlob(desc: Descriptor): Promise<void> {
    if (await this.o.dst.hasBlob(desc)) return;
    await this.o.dst.putBlob(await this.o.src.openBlob(desc), desc);
  }

  async convertManifest(manifest: ImageManifest, label: string): Promise<ImageManifest> {
    const configBytes = await readAll(this.o.src, manifest.config);
    const config = parseJson<ImageConfig>(configBytes, 'image config');
    const diffIds = [...(config.rootfs?.diff_ids ?? [])];
    const layers: Descriptor[] = [];
    for (let i = 0; i < manifest.layers.length; i++) {
      const layer = manifest.layers[i];
      if (!LAYER_TYPES.has(layer.mediaType)) {
        throw new ConvertError(
          `layer ${layer.digest} has unsupported media type ${layer.mediaType}`,
        );
      }
      const converted = await this.convertLayer(
        layer,
        `${label} layer ${i + 1}/${manifest.layers.length}`,
      );
      layers.push(converted.target);
      diffIds[i] = converted.diffId;
    }
    if (diffIds.length !== layers.length) {
      throw new ConvertError(`config lists ${diffIds.length} diff_ids for ${layers.length} layers`);
    }
    const newConfig: ImageConfig = { ...config, rootfs: { type: 'layers', diff_ids: diffIds } };
    const newConfigBytes = json(newConfig);
    const pushed = await this.o.dst.putBlob(newConfigBytes);
    const out: ImageManifest = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { mediaType: MediaTypes.ociConfig, digest: pushed.digest, size: pushed.size },
      layers,
    };
    if (manifest.annotations) out.annotations = manifest.annotations;
    return out;
  }

  private async convertLayer(layer: Descriptor, label: string): Promise<ConvertedLayer> {
    const cached = this.done.get(layer.digest);
    if (cached) return cached;
    const { progress } = this.o;
    const prioritize = this.o.prioritize ?? [];
    const passes = prioritize.length > 0 ? 2 : 1;
    progress?.start(label, layer.size * passes);
    let consumed = 0;
    const openTar = async () => {
      const raw = await this.o.src.openBlob(layer);
      const counter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          consumed += chunk.length;
          progress?.update(consumed);
          done(null, chunk);
        },
      });
      raw.on('error', (err) => counter.destroy(err));
      return openTarStream(raw.pipe(counter));
    };
    const file = join(this.tmp, `${layer.digest.replace(':', '-')}.estargz`);
    const build = async (lastOccurrence?: Map<string, number>) => {
      const out = createWriteStream(file);
      try {
        return await buildEstargz(openTar, out, {
          prioritize,
          tmpDir: this.tmp,
          ...(lastOccurrence && { lastOccurrence }),
          ...(this.o.chunkSize !== undefined && { chunkSize: this.o.chunkSize }),
          ...(this.o.level !== undefined && { level: this.o.level }),
        });
      } finally {
        out.end();
        await finished(out).catch(() => undefined);
      }
    };
    let result: BuildEstargzResult;
    try {
      try {
        result = await build();
      } catch (err) {
        if (!(err instanceof EstargzError && err.code === EstargzErrorCode.duplicateEntry)) {
          throw err;
        }
        // Rare: the source tar repeats a path (the last one wins on extraction). Find all of
        // them and convert again keeping only the winners, so the result is a valid layer.
        progress?.log(`${label}: ${err.message}; converting again keeping the last entries`);
        const lastOccurrence = await scanDuplicates(openTar);
        consumed = 0;
        result = await build(lastOccurrence);
      }
    } catch (err) {
      // What is wrong with a layer's content: say which layer.
      if (err instanceof EstargzError || err instanceof TarError || err instanceof ZstdFrameError) {
        throw new ConvertError(`${label} (${layer.digest}): ${err.message}`, { cause: err });
      }
      const zlibCode = (err as { code?: unknown }).code;
      if (typeof zlibCode === 'string' && zlibCode.startsWith('Z_')) {
        throw new ConvertError(
          `${label} (${layer.digest}): the layer does not decompress: ${(err as Error).message}`,
          { cause: err },
        );
      }
      throw err;
    }
    const expected = { digest: result.digest, size: result.size };
    const bootRanges = await bootRangesOf(file, result.size);
    const exists = await this.o.dst.hasBlob(expected);
    if (!exists) await this.o.dst.putBlob(createReadStream(file), expected);
    await rm(file, { force: true });
    const annotations: Record<string, string> = { ...(layer.annotations ?? {}) };
    for (const key of STALE_ANNOTATIONS) delete annotations[key];
    annotations[Annotations.estargzTocDigest] = result.tocDigest;
    annotations[Annotations.estargzUncompressedSize] = String(result.uncompressedSize);
    annotations[Annotations.estargzTocOffset] = String(result.tocOffset);
    if (bootRanges) annotations[Annotations.estargzBootRanges] = bootRanges;
    const converted: ConvertedLayer = {
      source: layer,
      target: { mediaType: MediaTypes.ociLayerGzip, ...expected, annotations },
      diffId: result.diffId,
      tocDigest: result.tocDigest,
      uncompressedSize: result.uncompressedSize,
    };
    const ratio = layer.size > 0 ? (result.size / layer.size).toFixed(3) : '-';
    progress?.finish(
      `→ ${result.digest.slice(0, 19)} (${result.entryCount} entries, ${ratio}× size${exists ? ', already present' : ''})`,
    );
    this.done.set(layer.digest, converted);
    this.layers.push(converted);
    return converted;
  }
}

/** Where the layer just written holds the boot files (Annotations.estargzBootRanges), if any. */
async function bootRangesOf(file: string, size: number): Promise<string | undefined> {
  const handle = await open(file, 'r');
  try {
    const index = await openLayerIndex({
      blobSize: size,
      readRange: async (start, end) => {
        const bytes = Buffer.alloc(end - start);
        const { bytesRead } = await handle.read(bytes, 0, bytes.length, start);
        return bytes.subarray(0, bytesRead);
      },
    });
    return bootRangesAnnotation(index);
  } finally {
    await handle.close();
  }
}
