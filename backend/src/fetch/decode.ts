// Chunk decoders. Large chunks inflate on libuv's thread pool, several in parallel while the
// JavaScript thread keeps answering FUSE requests; small ones inline. Either way only as far as the
// chunk needs (see estargz/inflate.ts: a member can hide gigabytes after a chunk).
import { inflatePrefix, inflatePrefixInline, type ChunkCompression } from '../estargz/inflate.ts';
import type { ChunkDecoder, ChunkSpec } from './types.ts';

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
 * Chunks up to this size (compressed) inflate on the JavaScript thread: a few microseconds each,
 * where a thread-pool job costs more in hand-offs — and a prefetch of a thousand small files would
 * queue a thousand jobs ahead of a container's reads.
 */
const INLINE_DECODE_BYTES = 32 * 1024;

/** A decoder that inflates small chunks inline and large ones on the thread pool. */
function chunkDecoder(compression: ChunkCompression): ChunkDecoder {
  return async (compressed, chunk) => {
    const need = chunk.innerOffset + chunk.size;
    const decoded =
      compressed.length <= INLINE_DECODE_BYTES
        ? await inflatePrefixInline(compressed, need, compression)
        : await inflatePrefix(compressed, need, compression);
    return slice(decoded, chunk);
  };
}

/** eStargz: each chunk starts a gzip member; the member may carry the next tar header after it. */
export const gzipChunkDecoder: ChunkDecoder = chunkDecoder('gzip');

/** zstd:chunked: each chunk is a zstd frame. */
export const zstdChunkDecoder: ChunkDecoder = chunkDecoder('zstd');
