// Inflating a chunk's compressed bytes only as far as the chunk needs. An eStargz member holds a
// chunk and at most the next entry's tar header, but nothing in the blob makes it so: a hostile
// or broken layer can hide gigabytes of zeros in a few megabytes after a chunk's bytes (deflate
// reaches ~1000:1). Inflating a member whole would hold all of that in memory at once, per read,
// and take a node agent down; stopping once the chunk's bytes are out costs nothing for a real
// member and bounds a hostile one to the chunk's own size.
import {
  createGunzip,
  createZstdDecompress,
  gunzipSync,
  zstdDecompressSync,
  type Gunzip,
  type ZstdDecompress,
} from 'node:zlib';

export type ChunkCompression = 'gzip' | 'zstd';

const streams: Record<ChunkCompression, (pieceSize: number) => Gunzip | ZstdDecompress> = {
  gzip: (chunkSize) => createGunzip({ chunkSize }),
  zstd: (chunkSize) => createZstdDecompress({ chunkSize }),
};

const oneShot: Record<
  ChunkCompression,
  (data: Buffer, options: { chunkSize: number; maxOutputLength: number }) => Buffer
> = { gzip: gunzipSync, zstd: zstdDecompressSync };

/** zlib's smallest output piece. */
const MIN_PIECE = 64;
/** Largest output piece: a larger chunk comes in several (and is copied together once). */
const MAX_PIECE = 32 * 2 ** 20;

/**
 * Inflates `compressed` on libuv's thread pool until `need` bytes came out, then stops. Resolves
 * to the first `need` inflated bytes (fewer when the data ends first: the caller checks; up to 64
 * for a smaller need).
 */
export function inflatePrefix(
  compressed: Buffer,
  need: number,
  compression: ChunkCompression = 'gzip',
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // A piece of exactly `need` bytes comes out as soon as the chunk is inflated, before zlib
    // reads on: whatever follows the chunk's member (the next member, or a hostile layer's junk,
    // which would be an error) is never looked at.
    const stream = streams[compression](Math.min(Math.max(need, MIN_PIECE), MAX_PIECE));
    const parts: Buffer[] = [];
    let got = 0;
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      stream.destroy();
      if (err) reject(err);
      // One piece (the normal case: sized to the need) is returned as it is, without a copy.
      else resolve(parts.length === 1 ? parts[0] : Buffer.concat(parts, Math.min(got, need)));
    };
    stream.on('data', (piece: Buffer) => {
      parts.push(piece);
      got += piece.length;
      if (got >= need) finish();
    });
    stream.on('error', (err) => finish(err));
    stream.on('end', () => finish());
    stream.end(compressed);
  });
}

/**
 * The same on the calling thread, for small members: inflated in one call when the member holds
 * little more than `need` (the normal case: the chunk, then tar padding and the next header);
 * when it holds more, or something after the chunk does not inflate, as `inflatePrefix` does.
 */
export async function inflatePrefixInline(
  compressed: Buffer,
  need: number,
  compression: ChunkCompression = 'gzip',
): Promise<Buffer> {
  const bound = Math.min(Math.max(need + 1024, 16 * 1024), MAX_PIECE);
  try {
    return oneShot[compression](compressed, { chunkSize: bound, maxOutputLength: bound });
  } catch {
    return inflatePrefix(compressed, need, compression);
  }
}
