// The uncompressed tar inside a layer blob, whatever its compression (sniffed from magic bytes:
// gzip, zstd including zstd:chunked's many frames and skippable frames, or none).
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';

import { decodeZstdFrames } from './zstd-frames.ts';

const GZIP = [0x1f, 0x8b];
const ZSTD = [0x28, 0xb5, 0x2f, 0xfd];

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
    if (head.length > 0) yield head;
    if (ended) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield next.value;
    }
  }
  if (startsWith(head, ZSTD))
    return Readable.from(decodeZstdFrames(replay()), { objectMode: false });
  const source = Readable.from(replay(), { objectMode: false });
  if (!startsWith(head, GZIP)) return source;
  const decoder = createGunzip();
  // pipeline destroys every stream with the first error, so the reader of `decoder` sees it.
  return pipeline(source, decoder, () => undefined);
}
