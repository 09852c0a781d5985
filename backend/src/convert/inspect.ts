// What `slipstream inspect` reports for an image or a single blob: per layer its format, TOC
// digest check, entry count, landmark, prefetch size and sizes; optionally every chunk verified.
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

import {
  DETECT_TAIL_BYTES,
  EstargzError,
  detectFormat,
  openLayerIndex,
  readChunk,
  type LayerFormat,
  type LayerIndex,
} from '../estargz/index.ts';
import {
  Annotations,
  MediaTypes,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  type Platform,
} from '../image/types.ts';
import { bootFileRanges, formatBootRanges, parseBootRanges } from '../store/boot-files.ts';
import { artifactIndexReason, artifactReason } from './artifacts.ts';
import { ConvertError, parseJson, unsupportedManifest } from './convert-image.ts';
import type { OpenedImage } from './refs.ts';

export type RangeReader = (start: number, end: number) => Promise<Buffer>;

export interface LayerReport {
  digest: string;
  size: number;
  mediaType: string;
  format: LayerFormat;
  lazySupported: boolean;
  reason: string;
  toc?: {
    digest: string;
    /** The manifest annotation, if any. */
    annotation: string | null;
    /** true/false when an annotation exists, null otherwise. */
    verified: boolean | null;
    /** Where the footer says the TOC starts. */
    offset: number;
    /**
     * The `io.slipstream.estargz.toc-offset` annotation agrees with the footer (true/false), or
     * there is none (null). A wrong one only slows lookups: the footer decides.
     */
    offsetHint: boolean | null;
    /**
     * The `io.slipstream.estargz.boot-ranges` annotation names exactly where this layer holds
     * the boot files (true), does not (false, or the agent would not use it), or there is none
     * (null). A wrong one costs only the early read it was meant to save.
     */
    bootRangesHint: boolean | null;
    /**
     * The `io.containers.estargz.uncompressed-size` annotation checked against the layer, or
     * null without one. The agent hands it to the runtime as the layer's size.
     */
    uncompressedSizeCheck: UncompressedSizeCheck | null;
    entries: number;
    chunks: number;
    landmark: 'prefetch' | 'no-prefetch' | 'none';
    /** Compressed bytes before `.prefetch.landmark`. */
    prefetchBytes: number;
    /** Every chunk has a digest (chunkDigest or a one-chunk file digest). */
    verifiable: boolean;
    fileBytes: number;
  };
  /** From the `io.containers.estargz.uncompressed-size` annotation (null: none, or not a size). */
  uncompressedSize: number | null;
  chunkCheck?: { checked: number; failed: number; firstError: string | null };
  error?: string;
}

export interface UncompressedSizeCheck {
  /** The annotation as written. */
  annotation: string;
  /**
   * What the layer decompresses to when `exact` (every byte of the blob was decompressed: with
   * verifyChunks), else the bytes of its files, which the annotation cannot be below.
   */
  measured: number;
  exact: boolean;
  /** False when the annotation is not a size, differs from the exact size, or is too small. */
  agrees: boolean;
}

export interface ManifestReport {
  digest: string;
  platform: Platform | null;
  layers: LayerReport[];
}

export interface ImageReport {
  reference: string;
  mediaType: string;
  digest: string;
  manifests: ManifestReport[];
}

export interface InspectOptions {
  /** Fetch and verify every chunk of every eStargz layer. */
  verifyChunks?: boolean;
  tailBytes?: number;
  /**
   * The descriptor comes from an image manifest, so a missing TOC digest annotation means the
   * layer cannot be served lazily (a lone blob file has no manifest to carry one).
   */
  fromManifest?: boolean;
}

/** Serves reads inside an already-fetched tail from memory. */
function withTail(read: RangeReader, size: number, tail: Buffer): RangeReader {
  const tailStart = size - tail.length;
  return (start, end) =>
    start >= tailStart
      ? Promise.resolve(tail.subarray(start - tailStart, end - tailStart))
      : read(start, end);
}

export async function inspectLayer(
  desc: Descriptor,
  read: RangeReader,
  options: InspectOptions = {},
): Promise<LayerReport> {
  const annotations = desc.annotations ?? {};
  const uncompressed = annotations[Annotations.estargzUncompressedSize];
  const head = await read(0, Math.min(desc.size, 512));
  const tail = await read(
    Math.max(0, desc.size - Math.max(options.tailBytes ?? 1 << 20, DETECT_TAIL_BYTES)),
    desc.size,
  );
  const detected = detectFormat({ head, tail, annotations });
  const report: LayerReport = {
    digest: desc.digest,
    size: desc.size,
    mediaType: desc.mediaType,
    ...detected,
    uncompressedSize: uncompressed !== undefined ? sizeOf(uncompressed) : null,
  };
  if (detected.format !== 'estargz' && detected.format !== 'stargz-legacy') {
    if (
      annotations[Annotations.estargzTocDigest] === undefined ||
      detected.format === 'zstd:chunked'
    )
      return report;
    // The manifest says eStargz: a blob without the footer is not the blob the image was
    // made with, or the bytes read are not the blob's (a front answering ranges wrongly).
    return {
      ...report,
      lazySupported: false,
      reason: 'no eStargz footer, though the manifest annotates a TOC',
      error: `the manifest's ${Annotations.estargzTocDigest} annotation says this is an eStargz layer, but the bytes read at its end hold no eStargz footer: the bytes served are not the blob's (check the registry with slipstream check-registry), or the annotation is wrong`,
    };
  }
  const cached = withTail(read, desc.size, tail);
  let index: LayerIndex;
  try {
    index = await openLayerIndex({
      blobSize: desc.size,
      readRange: cached,
      tailBytes: tail.length,
    });
  } catch (err) {
    if (!(err instanceof EstargzError)) throw err;
    return { ...report, lazySupported: false, error: `${err.code}: ${err.message}` };
  }
  const annotation = annotations[Annotations.estargzTocDigest] ?? null;
  const verified = annotation === null ? null : annotation === index.tocDigest;
  const offsetHint = annotations[Annotations.estargzTocOffset];
  report.toc = {
    digest: index.tocDigest,
    annotation,
    verified,
    offset: index.tocOffset,
    offsetHint: offsetHint === undefined ? null : offsetHint === String(index.tocOffset),
    bootRangesHint: bootRangesCheck(annotations[Annotations.estargzBootRanges], index, desc.size),
    uncompressedSizeCheck: null,
    entries: index.entryCount,
    chunks: index.chunkCount,
    landmark:
      index.prefetchBoundary !== undefined
        ? 'prefetch'
        : index.hasNoPrefetchLandmark
          ? 'no-prefetch'
          : 'none',
    prefetchBytes: index.prefetchBoundary ?? 0,
    verifiable: index.verifiable,
    fileBytes: index.totalFileBytes(),
  };
  if (verified === false) {
    report.lazySupported = false;
    report.reason = 'the TOC does not match the manifest annotation';
  } else if (verified === null && options.fromManifest) {
    report.lazySupported = false;
    report.reason = `the manifest has no ${Annotations.estargzTocDigest} annotation for it, so its TOC cannot be verified`;
  } else if (!index.verifiable) {
    report.lazySupported = false;
    report.reason = 'some chunks have no digest, so they cannot be verified';
  }
  let exactSize: number | undefined;
  if (options.verifyChunks) {
    const whole = await readWholeLayer(index, cached, desc.size);
    report.chunkCheck = whole.chunkCheck;
    exactSize = whole.uncompressedBytes;
  }
  report.toc.uncompressedSizeCheck = uncompressedSizeCheck(uncompressed, index, exactSize);
  return report;
}

/** A size annotation's value, or null when it is not one (digits only, a safe integer). */
function sizeOf(value: string): number | null {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) ? n : null;
}

/**
 * The uncompressed-size annotation against what the layer decompresses to, when that was
 * measured; else against the bytes of its files (a lower bound: knowing the exact size takes
 * reading every byte of the blob).
 */
function uncompressedSizeCheck(
  annotation: string | undefined,
  index: LayerIndex,
  exactSize: number | undefined,
): UncompressedSizeCheck | null {
  if (annotation === undefined) return null;
  const size = sizeOf(annotation);
  const measured = exactSize ?? index.totalFileBytes();
  const exact = exactSize !== undefined;
  const agrees = size !== null && (exact ? size === measured : size >= measured);
  return { annotation, measured, exact, agrees };
}

/** Whether a boot-ranges annotation is the one the converter would write, and usable. */
function bootRangesCheck(
  value: string | undefined,
  index: LayerIndex,
  blobSize: number,
): boolean | null {
  if (value === undefined) return null;
  return (
    parseBootRanges(value, blobSize) !== undefined &&
    value === formatBootRanges(bootFileRanges(index))
  );
}

/** Counts what gzip members fed in order decompress to, keeping none of it. */
class InflatedSize {
  #bytes = 0;
  #failed = false;
  readonly #gunzip = createGunzip();

  constructor() {
    this.#gunzip.on('data', (chunk: Buffer) => (this.#bytes += chunk.length));
    this.#gunzip.on('error', () => (this.#failed = true));
  }

  async add(compressed: Buffer): Promise<void> {
    if (this.#failed || compressed.length === 0) return;
    if (!this.#gunzip.write(compressed)) await once(this.#gunzip, 'drain').catch(() => undefined);
  }

  /** The total, or undefined when the bytes are not gzip (a corrupt blob: see the chunk check). */
  async total(): Promise<number | undefined> {
    if (!this.#failed) {
      this.#gunzip.end();
      await finished(this.#gunzip).catch(() => undefined);
    }
    return this.#failed ? undefined : this.#bytes;
  }
}

/**
 * Reads the whole blob, in windows of up to 8 MiB that end where a gzip member does: checks
 * every chunk against its digest, and counts what the blob decompresses to (the tar's size).
 */
async function readWholeLayer(index: LayerIndex, read: RangeReader, blobSize: number) {
  const chunkCheck = { checked: 0, failed: 0, firstError: null as string | null };
  const inflated = new InflatedSize();
  const window = 8 << 20;
  let start = 0;
  let id = 0;
  while (id < index.chunkCount) {
    let last = id;
    const end = (i: number) => index.chunk(i).compressedEnd;
    // Chunks of one gzip member stay in one window, however large the member.
    while (
      last + 1 < index.chunkCount &&
      (end(last + 1) === end(last) || end(last + 1) - start <= window)
    ) {
      last++;
    }
    const bytes = end(last) > start ? await read(start, end(last)) : Buffer.alloc(0);
    await inflated.add(bytes);
    for (let i = id; i <= last; i++) {
      const chunk = index.chunk(i);
      try {
        // A chunk before the window (a TOC out of blob order) is read on its own.
        const from =
          chunk.compressedOffset >= start
            ? bytes.subarray(chunk.compressedOffset - start)
            : await read(chunk.compressedOffset, chunk.compressedEnd);
        await readChunk(chunk, from, { allowUnverified: true });
      } catch (err) {
        chunkCheck.failed++;
        chunkCheck.firstError ??= `${index.path(chunk.ino)}: ${(err as Error).message}`;
      }
      chunkCheck.checked++;
    }
    start = Math.max(start, end(last));
    id = last + 1;
  }
  await inflated.add(await read(start, blobSize));
  return { chunkCheck, uncompressedBytes: await inflated.total() };
}

function isIndex(mediaType: string, doc: { manifests?: unknown }): boolean {
  return (
    mediaType === MediaTypes.ociIndex ||
    mediaType === MediaTypes.dockerManifestList ||
    Array.isArray(doc.manifests)
  );
}

interface InspectTarget {
  desc: Pick<Descriptor, 'digest' | 'platform'>;
  manifest: ImageManifest;
}

/** Indexes inside indexes are followed this deep (real images nest one level, if at all). */
const MAX_INDEX_DEPTH = 4;

/**
 * The image manifests of an index, nested indexes included; attestations and artifacts
 * (signatures, SBOMs: convert copies them as they are) are left out.
 */
async function collectImages(
  image: OpenedImage,
  index: ImageIndex,
  targets: InspectTarget[],
  depth: number,
): Promise<void> {
  if (!Array.isArray(index.manifests)) throw new ConvertError('the index has no manifests array');
  for (const child of index.manifests) {
    if (child.platform?.os === 'unknown') continue; // attestations
    const m = await image.repo.getManifest(child.digest);
    const doc = parseJson<Partial<ImageManifest & ImageIndex>>(m.bytes, `manifest ${child.digest}`);
    if (Array.isArray(doc.manifests)) {
      if (artifactIndexReason(doc)) continue;
      if (depth >= MAX_INDEX_DEPTH) {
        throw new ConvertError(`index ${child.digest} is nested more than ${MAX_INDEX_DEPTH} deep`);
      }
      await collectImages(image, doc as ImageIndex, targets, depth + 1);
    } else if (Array.isArray(doc.layers) && !artifactReason(doc)) {
      targets.push({ desc: child, manifest: doc as ImageManifest });
    }
  }
}

export async function inspectImage(
  image: OpenedImage,
  options: InspectOptions = {},
): Promise<ImageReport> {
  const raw = await image.repo.getManifest(image.reference);
  const doc = parseJson<{ manifests?: unknown; mediaType?: string }>(raw.bytes, 'manifest');
  const mediaType = doc.mediaType ?? raw.mediaType;
  const targets: InspectTarget[] = [];
  if (isIndex(mediaType, doc)) {
    await collectImages(image, doc as ImageIndex, targets, 0);
  } else {
    const manifest = doc as ImageManifest;
    if (!Array.isArray(manifest.layers)) throw new ConvertError(unsupportedManifest(mediaType));
    targets.push({ desc: { digest: raw.digest }, manifest });
  }
  const manifests: ManifestReport[] = [];
  for (const { desc, manifest } of targets) {
    const layers: LayerReport[] = [];
    for (const layer of manifest.layers) {
      layers.push(
        await inspectLayer(layer, (s, e) => image.readRange(layer, s, e), {
          ...options,
          fromManifest: true,
        }),
      );
    }
    manifests.push({ digest: desc.digest, platform: desc.platform ?? null, layers });
  }
  return {
    reference: `${image.repo.name}${image.reference ? `:${image.reference}` : ''}`,
    mediaType,
    digest: raw.digest,
    manifests,
  };
}

/** True when nothing the report checked failed. */
export function reportIsClean(layers: LayerReport[]): boolean {
  return layers.every(
    (l) => !l.error && l.toc?.verified !== false && (l.chunkCheck?.failed ?? 0) === 0,
  );
}
