// Turning the compressed bytes of one chunk into verified file bytes. The store calls this for
// every chunk it fetches; nothing unverified leaves this function unless the caller opts in.
import { createHash } from 'node:crypto';

import { EstargzError, EstargzErrorCode as E, fail } from './errors.ts';
import { inflatePrefix } from './inflate.ts';
import { ChunkVerification, type ChunkRef } from './layer-index.ts';

export interface ReadChunkOptions {
  /** Serve chunks that no digest covers (legacy stargz without digests). Default false. */
  allowUnverified?: boolean;
}

/**
 * `compressed` must start at `chunk.compressedOffset` and hold at least up to
 * `chunk.compressedEnd` (extra bytes after it are ignored). Returns the chunk's `chunk.size`
 * uncompressed bytes after checking them against the chunk's digest.
 * Errors: CHUNK_DIGEST_MISMATCH, BAD_CHUNK_DATA, UNVERIFIABLE (all EstargzError).
 */
export async function readChunk(
  chunk: ChunkRef,
  compressed: Buffer,
  options: ReadChunkOptions = {},
): Promise<Buffer> {
  if (chunk.verification === ChunkVerification.none && !options.allowUnverified) {
    fail(E.unverifiable, `chunk ${chunk.id} has no digest; the layer cannot be verified`);
  }
  const span = chunk.compressedEnd - chunk.compressedOffset;
  if (compressed.length < span) {
    fail(
      E.badChunkData,
      `chunk ${chunk.id} needs ${span} compressed bytes, got ${compressed.length}`,
    );
  }
  const need = chunk.innerOffset + chunk.size;
  let inflated: Buffer;
  try {
    inflated = await inflatePrefix(compressed.subarray(0, span), need);
  } catch (err) {
    throw new EstargzError(
      E.badChunkData,
      `chunk ${chunk.id} does not inflate: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (inflated.length < need) {
    fail(E.badChunkData, `chunk ${chunk.id} inflates to ${inflated.length} bytes, need ${need}`);
  }
  const data = inflated.subarray(chunk.innerOffset, need);
  if (chunk.digest) {
    const actual = createHash('sha256').update(data).digest();
    if (!actual.equals(chunk.digest)) {
      fail(
        E.chunkDigestMismatch,
        `chunk ${chunk.id} digest mismatch: expected sha256:${chunk.digest.toString('hex')}, got sha256:${actual.toString('hex')}`,
      );
    }
  }
  return data;
}
