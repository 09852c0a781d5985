import { randomBytes } from 'node:crypto';
import { gzipSync, zstdCompressSync } from 'node:zlib';

import { gzipChunkDecoder, zstdChunkDecoder } from '../../src/fetch/decode.ts';
import type { ChunkSpec } from '../../src/fetch/types.ts';

/** Compressed and decoded bytes of a chunk (as the fetcher sees them), with its spec. */
function chunkOf(member: Buffer, innerOffset: number, size: number): ChunkSpec {
  return { digest: 'sha256:unused', offset: 0, compressedSize: member.length, innerOffset, size };
}

/** How much memory a decoded chunk keeps alive, beyond its own bytes. */
function retainedExtra(chunk: Buffer): number {
  return chunk.buffer.byteLength - chunk.length;
}

describe('chunk decoders', () => {
  it('a small file decodes into memory of its own size, not a view into a large output piece', async () => {
    // An eStargz member: the file's bytes, then the next entry's tar header (padding + 512 B).
    const file = randomBytes(1000);
    const member = gzipSync(Buffer.concat([file, Buffer.alloc(24), randomBytes(512)]));
    const out = await gzipChunkDecoder(member, chunkOf(member, 0, file.length));
    expect(out.equals(file)).toBe(true);
    // It waits in the write queue and the memory cache, counted by its length: 13k such files
    // once held 1 GB through 64 KiB pieces.
    expect(retainedExtra(out)).toBeLessThanOrEqual(file.length + 8192);
  });

  it('a chunk deep inside a large member is copied out of it', async () => {
    const stream = randomBytes(2 * 2 ** 20);
    const member = zstdCompressSync(stream);
    const chunk = chunkOf(member, 1_500_000, 3000);
    const out = await zstdChunkDecoder(member, chunk);
    expect(out.equals(stream.subarray(1_500_000, 1_503_000))).toBe(true);
    expect(retainedExtra(out)).toBeLessThanOrEqual(3000 + 8192);
  });

  it('a large chunk is returned whole, with at most the next tar header as slack', async () => {
    const file = Buffer.alloc(4 * 2 ** 20, 'slipstream ');
    const member = gzipSync(Buffer.concat([file, randomBytes(512)]));
    const out = await gzipChunkDecoder(member, chunkOf(member, 0, file.length));
    expect(out.equals(file)).toBe(true);
    expect(retainedExtra(out)).toBeLessThanOrEqual(2048);
  });

  // A hostile member: the chunk's bytes, then a long run of zeros in the same member (deflate
  // packs ~1000:1) whose last compressed bytes are garbage. Inflating it whole would hold the run
  // in memory and then fail on the garbage; stopping after the chunk does neither.
  function memberHidingATail(file: Buffer, tailBytes: number): Buffer {
    const member = gzipSync(Buffer.concat([file, Buffer.alloc(tailBytes)]));
    member.fill(0xff, member.length - 40, member.length - 8);
    return member;
  }

  it('inflates a large chunk only as far as the chunk: what follows it in the member is never inflated', async () => {
    const file = randomBytes(200 * 1024); // compresses to more than the inline bound
    const member = memberHidingATail(file, 256 * 2 ** 20);
    const out = await gzipChunkDecoder(member, chunkOf(member, 0, file.length));
    expect(out.equals(file)).toBe(true);
  });

  it('inflates a small chunk only as far as the chunk, too', async () => {
    const file = randomBytes(1000);
    const member = memberHidingATail(file, 16 * 2 ** 20);
    expect(member.length).toBeLessThan(32 * 1024); // inflated on the JavaScript thread
    const out = await gzipChunkDecoder(member, chunkOf(member, 0, file.length));
    expect(out.equals(file)).toBe(true);
  });

  it('fails when the member holds fewer bytes than the chunk claims', async () => {
    const member = gzipSync(randomBytes(100));
    await expect(gzipChunkDecoder(member, chunkOf(member, 0, 200))).rejects.toThrow(
      /decoded 100 bytes, chunk needs 200/,
    );
  });
});
