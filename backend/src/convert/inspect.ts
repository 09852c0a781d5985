// What `slipstream inspect` reports for an image or a single blob: per layer its format, TOC
// digest check, entry count, landmark, prefetch size and sizes; optionally every chunk verified.
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
    entries: number;
    chunks: number;
    landmark: 'prefetch' | 'no-prefetch' | 'none';
    /** Compressed bytes before `.prefetch.landmark`. */
    prefetchBytes: number;
    /** Every chunk has a digest (chunkDigest or a one-chunk file digest). */
    verifiable: boolean;
    fileBytes: number;
  };
  /** From the `io.containers.estargz.uncompressed-size` annotation. */
  uncompressedSize: number | null;
  chunkCheck?: { checked: number; failed: number; firstError: string | null };
  error?: string;
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
    uncompressedSize: uncompressed !== undefined ? Number(uncompressed) : null,
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
  if (options.verifyChunks) report.chunkCheck = await verifyAllChunks(index, cached);
  return report;
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

/** Reads every chunk in windows of up to 8 MiB and checks it against its digest. */
async function verifyAllChunks(index: LayerIndex, read: RangeReader) {
  const result = { checked: 0, failed: 0, firstError: null as string | null };
  const window = 8 << 20;
  let id = 0;
  while (id < index.chunkCount) {
    const first = index.chunk(id);
    let last = id;
    while (
      last + 1 < index.chunkCount &&
      index.chunk(last + 1).compressedEnd - first.compressedOffset <= window
    )
      last++;
    const end = index.chunk(last).compressedEnd;
    const bytes = await read(first.compressedOffset, end);
    for (let i = id; i <= last; i++) {
      const chunk = index.chunk(i);
      try {
        await readChunk(chunk, bytes.subarray(chunk.compressedOffset - first.compressedOffset), {
          allowUnverified: true,
        });
      } catch (err) {
        result.failed++;
        result.firstError ??= `${index.path(chunk.ino)}: ${(err as Error).message}`;
      }
      result.checked++;
    }
    id = last + 1;
  }
  return result;
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

/** The image manifests of an index, nested indexes included; attestations are left out. */
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
      if (depth >= MAX_INDEX_DEPTH) {
        throw new ConvertError(`index ${child.digest} is nested more than ${MAX_INDEX_DEPTH} deep`);
      }
      await collectImages(image, doc as ImageIndex, targets, depth + 1);
    } else if (Array.isArray(doc.layers)) {
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
