// One resolved eStargz layer: its descriptor, verified file-tree index, and fetch pipeline.
// Shared by every ALS path that names it (several images, both digest kinds).
import { ChunkVerification, type ChunkRef, type LayerIndex } from '../estargz/index.ts';
import type { ChunkList } from '../fetch/background.ts';
import type { LayerFetcher } from '../fetch/layer-fetcher.ts';
import type { ChunkSpec } from '../fetch/types.ts';
import type { Descriptor } from '../image/types.ts';
import type { BlobReader } from '../registry/index.ts';
import type { EarlyRangeSource } from './range-source.ts';

export interface ResolvedLayer {
  /** Compressed blob digest (the manifest descriptor's). */
  digest: string;
  descriptor: Descriptor;
  /** Uncompressed digest from the image config's rootfs.diff_ids. */
  diffId: string;
  /** Verified TOC digest (the layer's toc.digest annotation). */
  tocDigest: string;
  /** From `io.containers.estargz.uncompressed-size`, when the image carries it. */
  uncompressedSize: number | undefined;
  index: LayerIndex;
  /** The fetcher's source: the boot files' early bytes first (released once they are warm). */
  earlyBytes: EarlyRangeSource;
  fetcher: LayerFetcher;
  blob: BlobReader;
  /** References counted through `use` create / layer-dir rmdir. */
  refs: number;
}

/** The fetch pipeline's view of an index chunk. */
export function chunkSpec(chunk: ChunkRef): ChunkSpec {
  if (chunk.verification === ChunkVerification.none || !chunk.digest) {
    // Layers with unverifiable chunks are refused at resolve time; this is a safety net.
    throw new Error(`chunk ${chunk.id} has no digest`);
  }
  return {
    digest: `sha256:${chunk.digest.toString('hex')}`,
    offset: chunk.compressedOffset,
    compressedSize: chunk.compressedEnd - chunk.compressedOffset,
    innerOffset: chunk.innerOffset,
    size: chunk.size,
  };
}

/** Every chunk of the layer in blob order (as chunk ids are), made as the background walk goes. */
export function allChunks(index: LayerIndex): ChunkList {
  return { length: index.chunkCount, at: (id) => chunkSpec(index.chunk(id)) };
}

/** The `info` file: both ALS generations, chosen by which digest named the layer directory. */
export function layerInfo(layer: ResolvedLayer, requestedDigest: string): Buffer {
  const diffSize = layer.uncompressedSize ?? -1;
  const compression = 2; // containers/storage pkg/archive: Gzip
  if (requestedDigest === layer.tocDigest && requestedDigest !== layer.digest) {
    // containers/storage >= 1.54 looks layers up by TOC digest and checks `toc-digest`; the DiffID
    // is "expected" (untrusted) because the TOC, not the tar stream, defines the layer's content.
    return Buffer.from(
      JSON.stringify({
        'toc-digest': layer.tocDigest,
        'diff-size': diffSize,
        compression,
        flags: { 'expected-layer-diffid': layer.diffId },
      }),
    );
  }
  return Buffer.from(
    JSON.stringify({
      'compressed-diff-digest': layer.digest,
      'compressed-size': layer.descriptor.size,
      'diff-digest': layer.diffId,
      ...(layer.uncompressedSize !== undefined ? { 'diff-size': layer.uncompressedSize } : {}),
      compression,
    }),
  );
}
