// Chunk decoders. Large chunks inflate on libuv's thread pool (async zlib), several in parallel
// while the JavaScript thread keeps answering FUSE requests; small ones inline.
import { promisify } from 'node:util';
import { gunzip, gunzipSync, zstdDecompress, zstdDecompressSync } from 'node:zlib';

import type { ChunkDecoder, ChunkSpec } from './types.ts';

const gunzipAsync = promisify(gunzip);
const zstdAsync = promisify(zstdDecompress);

function slice(decoded: Buffer, chunk: ChunkSpec): Buffer {
  const end = chunk.innerOffset + chunk.size;
  if (decoded.length < end) {
    throw new Error(`decoded ${decoded.length} bytes, chunk needs ${end}`);
  }
  return ownMemory(decoded.subarray(chunk.innerOffset, end));
}

/**
 * A chunk outlives its decode: it waits in the write queue and may stay in the memory cache, both
 * counted by its length. A view into a much larger allocation (zlib's output piece, a member
 * holding several chunks) would keep all of it alive — with 64 KiB pieces, a background fetch of
 * a node_modules layer held 13k small files in 1 GB. Such a view is copied out.
 */
function ownMemory(view: Buffer): Buffer {
  if (view.buffer.byteLength <= 2 * view.length + 8192) return view;
  const own = Buffer.allocUnsafeSlow(view.length);
  view.copy(own);
  return own;
}

/**
 * zlib's output piece size. Its default (16 KiB) cuts a 4 MiB chunk into 256 pieces, each a
 * callback on the JavaScript thread and a copy into the final buffer; sized to the chunk (plus the
 * next tar header the member may carry) it is one piece, and a small file's piece is small.
 */
function outputPieceSize(chunk: ChunkSpec): number {
  return Math.min(chunk.innerOffset + chunk.size + 1024, 32 * 2 ** 20);
}

/**
 * Chunks up to this size (compressed) inflate on the JavaScript thread: a few microseconds each,
 * where a thread-pool job costs more in hand-offs — and a prefetch of a thousand small files would
 * queue a thousand jobs ahead of a container's reads.
 */
const INLINE_DECODE_BYTES = 32 * 1024;

type Inflate = (data: Buffer, options: { chunkSize: number }) => Buffer;
type InflateAsync = (data: Buffer, options: { chunkSize: number }) => Promise<Buffer>;

/** A decoder that inflates small chunks inline and large ones on the thread pool. */
function chunkDecoder(inline: Inflate, pooled: InflateAsync): ChunkDecoder {
  return async (compressed, chunk) => {
    const options = { chunkSize: outputPieceSize(chunk) };
    const decoded =
      compressed.length <= INLINE_DECODE_BYTES
        ? inline(compressed, options)
        : await pooled(compressed, options);
    return slice(decoded, chunk);
  };
}

/** eStargz: each chunk starts a gzip member; the member may carry the next tar header after it. */
export const gzipChunkDecoder: ChunkDecoder = chunkDecoder(gunzipSync, gunzipAsync);

/** zstd:chunked: each chunk is a zstd frame. */
export const zstdChunkDecoder: ChunkDecoder = chunkDecoder(zstdDecompressSync, zstdAsync);
