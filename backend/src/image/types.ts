// OCI image data model shared by the registry client, the converter, the inspector and the agent.
// Docker schema2 media types are accepted wherever the OCI ones are (they are structurally equal).
import type { Readable } from 'node:stream';

export const MediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** Layer annotations that eStargz and zstd:chunked images carry. */
export const Annotations = {
  estargzTocDigest: 'containerd.io/snapshot/stargz/toc.digest',
  estargzUncompressedSize: 'io.containers.estargz.uncompressed-size',
  /**
   * Where the TOC's gzip member starts in the blob; written by `slipstream convert`. A lookup
   * then reads exactly the TOC instead of guessing its size (a hint: the footer and the TOC
   * digest still decide).
   */
  estargzTocOffset: 'io.slipstream.estargz.toc-offset',
  /**
   * Where the files every container start reads (store/boot-files.ts) lie in the blob, as
   * compressed byte ranges `start-end,…` (end exclusive); written by `slipstream convert`. A
   * lookup reads them beside the TOC, before the TOC says where they are (a hint: only bytes
   * that match the TOC's chunk digests are ever served).
   */
  estargzBootRanges: 'io.slipstream.estargz.boot-ranges',
  zstdChunkedManifestChecksum: 'io.github.containers.zstd-chunked.manifest-checksum',
  /** The name containers/storage used before the `io.github.` prefix (podman 4.3 writes it). */
  zstdChunkedManifestChecksumLegacy: 'io.containers.zstd-chunked.manifest-checksum',
  zstdChunkedManifestPosition: 'io.github.containers.zstd-chunked.manifest-position',
  zstdChunkedTarsplitPosition: 'io.github.containers.zstd-chunked.tarsplit-position',
} as const;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  urls?: string[];
  /** OCI 1.1: the type of the artifact this descriptor names (index entries of artifacts). */
  artifactType?: string;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  rootfs: { type: 'layers'; diff_ids: string[] };
  config?: Record<string, unknown>;
  history?: Record<string, unknown>[];
  [key: string]: unknown;
}

/** A manifest or index exactly as stored: the digest is over `bytes`. */
export interface RawManifest {
  mediaType: string;
  digest: string;
  bytes: Buffer;
}

/**
 * A blob's bytes for `putBlob`: in memory, a stream (read once), or a function that opens them
 * from their start on each call (a file), so that an upload that fails midway can start over.
 */
export type BlobSource = Buffer | Readable | (() => Readable | Promise<Readable>);

/**
 * Where images are read from and written to: a registry repository (registry/) or an OCI image
 * layout directory (image/oci-layout.ts). The converter and the inspector work on this interface.
 */
export interface ImageRepository {
  /** Human-readable name for messages, e.g. `127.0.0.1:5000/app` or `oci:/tmp/layout`. */
  readonly name: string;
  /** A manifest or index by tag or digest. */
  getManifest(reference: string): Promise<RawManifest>;
  /** The blob's bytes; the stream errors if they do not match `desc.digest` / `desc.size`. */
  openBlob(desc: Descriptor): Promise<Readable>;
  hasBlob(desc: Pick<Descriptor, 'digest' | 'size'>): Promise<boolean>;
  /** Stores a blob, computing its digest while streaming; verifies it when `expected` is given. */
  putBlob(
    data: BlobSource,
    expected?: { digest: string; size: number },
  ): Promise<{ digest: string; size: number }>;
  /** Stores a manifest or index under `reference` (a tag, or its digest) and returns its digest. */
  putManifest(reference: string, mediaType: string, bytes: Buffer): Promise<string>;
  /** Fails, saying why, if nothing could be stored here; writes nothing that stays. */
  checkWritable(): Promise<void>;
}
