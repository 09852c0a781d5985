// The uncompressed tar inside a layer blob, whatever its compression (sniffed from magic bytes:
// gzip, zstd including zstd:chunked's many frames and skippable frames, or none).
//
// The blob is read to its end whenever the tar is: a source checks the blob's digest only once it
// has handed over its last byte, and gzip stops at the end of its last member, so whatever
// follows that is read here and discarded. Closing the tar stream early closes the blob.
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

import { StreamDecoder } from './stream-decoder.ts';
import { decodeZstdFrames } from './zstd-frames.ts';

const GZIP = [0x1f, 0x8b];
const ZSTD = [0x28, 0xb5, 0x2f, 0xfd];
/**
 * Compressed bytes per gunzip write: what one write produces is held at once, and deflate
 * expands at most ~1032:1, so a hostile blob costs at most ~33 MiB here.
 */
const GUNZIP_WRITE_BYTES = 32 * 1024;

function startsWith(head: Buffer, magic: number[]): boolean {
  return magic.every((b, i) => head[i] === b);
}

/** Wraps a compressed (or plain) layer stream into its tar byte stream. */
export async function openTarStream(raw: Readable): Promise<Readable> {
  const iterator = raw[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let head = Buffer.alloc(0);
  let ended = false;
  while (head.length < 4 && !ended) {
    const next = await iterator.next();
    if (next.done) ended = true;
    else head = Buffer.concat([head, next.value]);
  }
  async function* replay(): AsyncGenerator<Buffer> {
    try {
      if (head.length > 0) yield head;
      if (ended) return;
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      await iterator.return?.();
    }
  }
  const blob = replay();
  const tar = startsWith(head, ZSTD)
    ? decodeZstdFrames(blob)
    : startsWith(head, GZIP)
      ? gunzipToEnd(blob)
      : blob;
  return Readable.from(tar, { objectMode: false });
}

/** Inflates the blob's gzip stream, then reads whatever follows it to the blob's end. */
async function* gunzipToEnd(blob: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const decoder = new StreamDecoder(createGunzip());
  try {
    for await (const chunk of blob) {
      for (let at = 0; at < chunk.length && !decoder.ended; at += GUNZIP_WRITE_BYTES) {
        yield* await decoder.write(chunk.subarray(at, at + GUNZIP_WRITE_BYTES));
      }
    }
    yield* await decoder.end();
  } finally {
    decoder.destroy();
  }
}
