// Image-level conversion to eStargz: every layer of every platform manifest is rewritten, configs
// get the new diff_ids, manifests the TOC-digest annotations, and indexes keep their platforms.
// What is not an image (attestations, signatures, other OCI artifacts) is copied byte for byte.
// Output always uses OCI media types (Docker schema2 cannot carry layer annotations reliably).
import { createReadStream, createWriteStream, rmSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, pipeline } from 'node:stream';
import { finished } from 'node:stream/promises';

import {
  buildEstargz,
  prioritizedPaths,
  scanDuplicates,
  type BuildEstargzOptions,
  type BuildEstargzResult,
  type TarSource,
} from '../estargz/build.ts';
import { EstargzError, EstargzErrorCode } from '../estargz/errors.ts';
import { openLayerIndex } from '../estargz/index.ts';
import { sha256Digest } from '../estargz/toc.ts';
import { OciBlobCorruptError } from '../image/oci-layout.ts';
import {
  Annotations,
  MediaTypes,
  type Descriptor,
  type ImageConfig,
  type ImageIndex,
  type ImageManifest,
  type ImageRepository,
} from '../image/types.ts';
import { WriteError, writeFailure, writing } from '../image/write-errors.ts';
import { isRegistryError, RegistryErrorKind } from '../registry/errors.ts';
import { bootRangesAnnotation } from '../store/boot-files.ts';
import { TarError } from '../tar/header.ts';
import {
  artifactKind,
  artifactReason,
  artifactIndexReason,
  copiedUnchangedBecause,
  TAR_LAYER_TYPES,
} from './artifacts.ts';
import { openTarStream } from './decompress.ts';
import type { ProgressSink } from './progress.ts';
import { ZSTD_WINDOW_LOG_MAX, ZstdFrameError } from './zstd-frames.ts';

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
  /** How many of the prioritised paths this layer holds (placed first). */
  prioritized: number;
}

export interface ConvertResult {
  /** Digest of the manifest or index stored under dstRef. */
  digest: string;
  mediaType: string;
  layers: ConvertedLayer[];
  /** What the user should know about the result (also logged to `progress`). */
  warnings: string[];
}

/** What a full or read-only temporary directory needs (said with the error). */
const TMPDIR_ADVICE =
  'set TMPDIR to a writable directory with room for the largest converted layer';
const INDEX_TYPES = new Set<string>([MediaTypes.ociIndex, MediaTypes.dockerManifestList]);
const MANIFEST_TYPES = new Set<string>([MediaTypes.ociManifest, MediaTypes.dockerManifest]);
/** Indexes inside indexes: a bound against a hostile source (real images nest one level, if at all). */
const MAX_INDEX_DEPTH = 4;
/** The image manifest a BuildKit attestation manifest belongs to. */
const ATTESTED_DIGEST = 'vnd.docker.reference.digest';
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
  try {
    prioritizedPaths(options.prioritize ?? []);
  } catch (err) {
    if (err instanceof EstargzError) throw new ConvertError(err.message, { cause: err });
    throw err;
  }
  const tmp = await makeTempDir(options.tmpDir ?? tmpdir());
  liveTempDirs.add(tmp);
  try {
    const converter = new ImageConverter(options, tmp);
    const raw = await options.src.getManifest(options.srcRef);
    // Before any layer is converted (minutes for a large one): a destination that cannot be
    // written to is said now.
    await options.dst.checkWritable();
    const doc = parseJson<{ mediaType?: string; manifests?: unknown }>(raw.bytes, 'manifest');
    const mediaType = doc.mediaType ?? raw.mediaType;
    if (INDEX_TYPES.has(mediaType) || Array.isArray(doc.manifests)) {
      const index = parseJson<ImageIndex>(raw.bytes, 'index');
      const bytes = json(await converter.convertIndex(index));
      converter.warnAboutStaleReferrers();
      const digest = await options.dst.putManifest(options.dstRef, MediaTypes.ociIndex, bytes);
      return { ...converter.result(), digest, mediaType: MediaTypes.ociIndex };
    }
    if (!MANIFEST_TYPES.has(mediaType)) throw new ConvertError(unsupportedManifest(mediaType));
    const manifest = parseJson<ImageManifest>(raw.bytes, 'manifest');
    const artifact = artifactReason(manifest);
    if (artifact) {
      const name = `${options.src.name}${options.srcRef ? `:${options.srcRef}` : ''}`;
      throw new ConvertError(`${name} is ${artifact}, not an image: there is nothing to convert`);
    }
    const bytes = json(await converter.convertManifest(manifest, 'image'));
    const digest = await options.dst.putManifest(options.dstRef, MediaTypes.ociManifest, bytes);
    return { ...converter.result(), digest, mediaType: MediaTypes.ociManifest };
  } finally {
    liveTempDirs.delete(tmp);
    await rm(tmp, { recursive: true, force: true });
  }
}

/** A new temporary directory in `base`; a failure says where and what to do. */
async function makeTempDir(base: string): Promise<string> {
  try {
    return await writing('create a temporary directory in', base, () =>
      mkdtemp(join(base, 'slipstream-convert-')),
    );
  } catch (err) {
    if (!(err instanceof WriteError)) throw err;
    throw new ConvertError(`${err.message}; ${TMPDIR_ADVICE}`, { cause: err });
  }
}

/** Temporary directories of conversions in progress (each can hold a whole converted layer). */
const liveTempDirs = new Set<string>();

/**
 * Removes the temporary directories of conversions in progress, synchronously: for a signal
 * handler, which exits before any `finally` could run.
 */
export function removeConversionTempDirs(): void {
  for (const dir of liveTempDirs) rmSync(dir, { recursive: true, force: true });
  liveTempDirs.clear();
}

/** A copied manifest or index that refers to another (its `subject`). */
interface Referrer {
  digest: string;
  kind: string;
  subject: string;
}

class ImageConverter {
  readonly layers: ConvertedLayer[] = [];
  private readonly warnings: string[] = [];
  private readonly o: ConvertOptions;
  private readonly tmp: string;
  /** Layers shared between platforms (or repeated) are converted once. */
  private readonly done = new Map<string, ConvertedLayer>();
  /** Source manifest or index digest → its conversion (each is converted once). */
  private readonly manifests = new Map<string, Pick<Descriptor, 'mediaType' | 'digest' | 'size'>>();
  /** What was copied that refers to another manifest, checked once everything is converted. */
  private readonly referrers: Referrer[] = [];

  constructor(options: ConvertOptions, tmp: string) {
    this.o = options;
    this.tmp = tmp;
  }

  result(): Pick<ConvertResult, 'layers' | 'warnings'> {
    return { layers: this.layers, warnings: this.warnings };
  }

  async convertIndex(index: ImageIndex, depth = 0): Promise<ImageIndex> {
    const manifests: Descriptor[] = [];
    for (const child of index.manifests) manifests.push(await this.convertEntry(child, depth));
    return {
      ...index,
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      manifests: manifests.map((d) => this.withAttestedDigest(d)),
    };
  }

  /** One entry of an index: an image is converted, anything else copied as it is. */
  private async convertEntry(child: Descriptor, depth: number): Promise<Descriptor> {
    if (INDEX_TYPES.has(child.mediaType)) return this.convertNestedIndex(child, depth + 1);
    const raw = await this.o.src.getManifest(child.digest);
    const manifest = parseJson<Partial<ImageManifest>>(raw.bytes, `manifest ${child.digest}`);
    const why = MANIFEST_TYPES.has(child.mediaType)
      ? copiedUnchangedBecause(child, manifest)
      : `media type ${child.mediaType}`;
    if (why === undefined) {
      return { ...child, ...(await this.convertChildManifest(child, manifest as ImageManifest)) };
    }
    await this.copyManifestAsIs(child, raw.bytes, manifest);
    this.o.progress?.log(`${child.digest}: copied unchanged (${why})`);
    return child;
  }

  /** An index inside the index: its images are converted like the outer one's. */
  private async convertNestedIndex(desc: Descriptor, depth: number): Promise<Descriptor> {
    const { raw, index: nested } = await this.readNestedIndex(desc, depth);
    const artifact = artifactIndexReason(nested);
    if (artifact) {
      await this.copyIndexAsIs(desc, raw.bytes, nested, depth);
      this.o.progress?.log(`${desc.digest}: copied unchanged (${artifact})`);
      return desc;
    }
    const known = this.manifests.get(desc.digest);
    if (known) return { ...desc, ...known };
    const bytes = json(await this.convertIndex(nested, depth));
    const digest = await this.o.dst.putManifest(sha256Digest(bytes), MediaTypes.ociIndex, bytes);
    const converted = { mediaType: MediaTypes.ociIndex, digest, size: bytes.length };
    this.manifests.set(desc.digest, converted);
    return { ...desc, ...converted };
  }

  private async readNestedIndex(desc: Descriptor, depth: number) {
    if (depth > MAX_INDEX_DEPTH) {
      throw new ConvertError(
        `index ${desc.digest} is nested more than ${MAX_INDEX_DEPTH} levels deep; no tool writes such images`,
      );
    }
    const raw = await this.o.src.getManifest(desc.digest);
    const index = parseJson<ImageIndex>(raw.bytes, `index ${desc.digest}`);
    if (!Array.isArray(index.manifests)) {
      throw new ConvertError(`index ${desc.digest} has no manifests array`);
    }
    return { raw, index };
  }

  /** Converts one platform's manifest (once, however often it is listed) and stores it. */
  private async convertChildManifest(
    child: Descriptor,
    manifest: ImageManifest,
  ): Promise<Pick<Descriptor, 'mediaType' | 'digest' | 'size'>> {
    const known = this.manifests.get(child.digest);
    if (known) return known;
    const label = child.platform ? `${child.platform.os}/${child.platform.architecture}` : 'image';
    const bytes = json(await this.convertManifest(manifest, label));
    const digest = await this.o.dst.putManifest(sha256Digest(bytes), MediaTypes.ociManifest, bytes);
    const converted = { mediaType: MediaTypes.ociManifest, digest, size: bytes.length };
    this.manifests.set(child.digest, converted);
    return converted;
  }

  /**
   * An attestation (BuildKit's SBOM and provenance manifests, platform unknown/unknown) names the
   * image manifest it belongs to in its `vnd.docker.reference.digest` annotation. That manifest
   * is replaced by its conversion, so the annotation is pointed at the converted one: the index
   * must not name a manifest it does not hold, and tools find an image's attestations by it.
   * Kept rather than dropped because what it attests still holds: the converted image has the
   * same files and config. The attestation manifest itself is copied unchanged (its in-toto
   * subject, and any signature over it, still name the source manifest it was made for).
   */
  private withAttestedDigest(desc: Descriptor): Descriptor {
    const attested = desc.annotations?.[ATTESTED_DIGEST];
    const converted = attested === undefined ? undefined : this.manifests.get(attested);
    if (!converted) return desc;
    return { ...desc, annotations: { ...desc.annotations, [ATTESTED_DIGEST]: converted.digest } };
  }

  /** A manifest that is not an image, stored byte for byte (same digest) with its blobs. */
  private async copyManifestAsIs(
    desc: Descriptor,
    bytes: Buffer,
    doc: Partial<ImageManifest> & { blobs?: Descriptor[] },
  ): Promise<void> {
    // `blobs`: the artifact manifest of OCI 1.1's release candidates.
    const blobs = [
      ...(doc.config ? [doc.config] : []),
      ...(doc.layers ?? []),
      ...(doc.blobs ?? []),
    ];
    for (const blob of blobs) await this.copyBlob(blob);
    this.noteReferrer(desc, doc);
    await this.o.dst.putManifest(desc.digest, desc.mediaType, bytes);
  }

  /** An index that is an artifact itself: copied with everything it names, byte for byte. */
  private async copyIndexAsIs(
    desc: Descriptor,
    bytes: Buffer,
    index: ImageIndex,
    depth: number,
  ): Promise<void> {
    for (const child of index.manifests) {
      if (INDEX_TYPES.has(child.mediaType)) {
        const nested = await this.readNestedIndex(child, depth + 1);
        await this.copyIndexAsIs(child, nested.raw.bytes, nested.index, depth + 1);
        continue;
      }
      const raw = await this.o.src.getManifest(child.digest);
      const manifest = parseJson<Partial<ImageManifest>>(raw.bytes, `manifest ${child.digest}`);
      await this.copyManifestAsIs(child, raw.bytes, manifest);
    }
    this.noteReferrer(desc, index);
    await this.o.dst.putManifest(desc.digest, desc.mediaType, bytes);
  }

  private noteReferrer(desc: Descriptor, doc: Partial<ImageManifest & ImageIndex>): void {
    if (!doc.subject?.digest) return;
    this.referrers.push({
      digest: desc.digest,
      kind: artifactKind(doc),
      subject: doc.subject.digest,
    });
  }

  /**
   * Copied artifacts that refer to a manifest the conversion replaced (cosign or notation
   * signatures, attestations, SBOMs attached with `oras attach`) are kept as they are, still
   * naming the source manifest, with a warning. Pointing them at the conversion would change
   * their digest and, for a signature, make one that fails to verify: what is signed names the
   * source digest, and it cannot be signed again without the signer's key. Dropping them would
   * lose what cannot be made again; kept, no verifier takes them for the converted image's (they
   * are found by the digest they name), and they still hold for the source image.
   */
  warnAboutStaleReferrers(): void {
    for (const referrer of this.referrers) {
      const converted = this.manifests.get(referrer.subject);
      if (!converted) continue;
      const warning =
        `${referrer.digest} (${referrer.kind}) is copied unchanged and refers to ` +
        `${referrer.subject}, which the conversion replaced by ${converted.digest}: it does not ` +
        `apply to the converted image (sign or attest ${converted.digest} again)`;
      this.warnings.push(warning);
      this.o.progress?.log(`warning: ${warning}`);
    }
  }

  private async copyBlob(desc: Descriptor): Promise<void> {
    if (await this.o.dst.hasBlob(desc)) return;
    // A foreign layer (Windows base layers) is fetched from its `urls`: registries do not hold it.
    if (desc.urls?.length && !(await this.o.src.hasBlob(desc))) return;
    await this.o.dst.putBlob(() => this.o.src.openBlob(desc), desc);
  }

  async convertManifest(manifest: ImageManifest, label: string): Promise<ImageManifest> {
    const configBytes = await readAll(this.o.src, manifest.config);
    const config = parseJson<ImageConfig>(configBytes, 'image config');
    const diffIds = [...(config.rootfs?.diff_ids ?? [])];
    const layers: Descriptor[] = [];
    for (let i = 0; i < manifest.layers.length; i++) {
      const layer = manifest.layers[i];
      if (!TAR_LAYER_TYPES.has(layer.mediaType)) {
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
    const file = join(this.tmp, `${layer.digest.replace(':', '-')}.estargz`);
    // Each pass must read the blob to its end: only then has its digest been checked.
    const reads: { whole: boolean }[] = [];
    const openTar = async () => {
      const read = { whole: false };
      reads.push(read);
      const raw = await this.o.src.openBlob(layer);
      const counter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          consumed += chunk.length;
          progress?.update(consumed);
          done(null, chunk);
        },
        flush(done) {
          read.whole = true;
          done();
        },
      });
      // pipeline: closing the tar stream early closes the blob too.
      return openTarStream(pipeline(raw, counter, () => undefined));
    };
    const build = (lastOccurrence?: Map<string, number>) =>
      buildToFile(file, openTar, {
        prioritize,
        tmpDir: this.tmp,
        ...(lastOccurrence && { lastOccurrence }),
        ...(this.o.chunkSize !== undefined && { chunkSize: this.o.chunkSize }),
        ...(this.o.level !== undefined && { level: this.o.level }),
      });
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
        reads.length = 0; // the attempt given up stopped reading; the next ones must not
        const lastOccurrence = await scanDuplicates(openTar);
        consumed = 0;
        result = await build(lastOccurrence);
      }
      if (!reads.every((read) => read.whole)) {
        throw new ConvertError(`${label} (${layer.digest}): the layer was not read to its end`);
      }
    } catch (err) {
      throw layerError(err, `${label} (${layer.digest})`, this.tmp);
    }
    const expected = { digest: result.digest, size: result.size };
    // Reading the result back as the agent would also checks it can be served.
    const bootRanges = await bootRangesOf(file, result.size).catch((err: unknown) => {
      if (!(err instanceof EstargzError)) throw err;
      throw new ConvertError(
        `${label} (${layer.digest}): the layer cannot be served lazily as converted: ${err.message}`,
        { cause: err },
      );
    });
    const exists = await this.o.dst.hasBlob(expected);
    if (!exists) await this.storeLayer(file, expected, `${label} (${layer.digest})`);
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
      prioritized: result.prioritized,
    };
    const ratio = layer.size > 0 ? (result.size / layer.size).toFixed(3) : '-';
    progress?.finish(
      `→ ${result.digest.slice(0, 19)} (${result.entryCount} entries, ${ratio}× size${exists ? ', already present' : ''})`,
    );
    this.done.set(layer.digest, converted);
    this.layers.push(converted);
    return converted;
  }

  /** Stores a converted layer; an upload that fails midway can read the file again. */
  private async storeLayer(file: string, expected: { digest: string; size: number }, of: string) {
    try {
      await this.o.dst.putBlob(() => createReadStream(file), expected);
    } catch (err) {
      if (err instanceof WriteError) {
        throw new ConvertError(
          `${of}: cannot write the converted layer to ${err.where}: ${err.reason}`,
          { cause: err },
        );
      }
      if (isRegistryError(err)) {
        throw new ConvertError(`${of}: storing the converted layer: ${err.message}`, {
          cause: err,
        });
      }
      throw err;
    }
  }
}

/**
 * Builds an eStargz layer into `file`. A failed write (a full disk) ends it at once: the writer
 * waits for 'drain' only after a write the stream buffered, and a failed stream never drains.
 */
async function buildToFile(
  file: string,
  source: TarSource,
  options: BuildEstargzOptions,
): Promise<BuildEstargzResult> {
  const out = createWriteStream(file);
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => undefined);
  try {
    const result = await Promise.race([buildEstargz(source, out, options), failed]);
    out.end();
    await Promise.race([finished(out), failed]);
    return result;
  } catch (err) {
    // Closed before the file is written again (a second pass): no write of this one comes later.
    out.destroy();
    await finished(out).catch(() => undefined);
    throw err;
  }
}

/** A failure to write the temporary files of a conversion (not to read its source). */
function isTempWriteFailure(err: unknown, tmp: string): boolean {
  const { syscall, path } = (err ?? {}) as NodeJS.ErrnoException;
  return writeFailure(err) !== undefined && (syscall === 'write' || path?.startsWith(tmp) === true);
}

/** What went wrong reading or converting a layer, saying which layer; other errors unchanged. */
function layerError(err: unknown, layer: string, tmp: string): unknown {
  if (err instanceof ConvertError) return err;
  const wrap = (why: string) =>
    new ConvertError(`${layer}: ${why}${(err as Error).message}`, { cause: err });
  if (isTempWriteFailure(err, tmp)) {
    return new ConvertError(
      `${layer}: cannot write the converted layer to ${tmp}: ${writeFailure(err)}; ${TMPDIR_ADVICE}`,
      { cause: err },
    );
  }
  if (err instanceof EstargzError || err instanceof TarError || err instanceof ZstdFrameError) {
    return wrap('');
  }
  if (isRegistryError(err, RegistryErrorKind.integrity) || err instanceof OciBlobCorruptError) {
    return wrap('the bytes read do not match the layer digest: ');
  }
  if (isRegistryError(err)) return wrap(''); // the registry failed while the layer was read
  const code = (err as { code?: unknown }).code;
  if (code === 'ZSTD_error_frameParameter_windowTooLarge') {
    return wrap(
      `a zstd frame needs a window over ${2 ** ZSTD_WINDOW_LOG_MAX / 2 ** 20} MiB (containers/storage refuses it too; compress with zstd --long=${ZSTD_WINDOW_LOG_MAX} or less): `,
    );
  }
  if (typeof code === 'string' && (code.startsWith('Z_') || code.startsWith('ZSTD_'))) {
    return wrap('the layer does not decompress: ');
  }
  return err;
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
