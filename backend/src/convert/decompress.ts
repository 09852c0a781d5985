// The uncompressed tar inside a layer blob, whatever its compression (sniffed from magic bytes:
// gzip, zstd — zstd:chunked's skippable frames are skipped by the decoder — or none).
import { Readable, pipeline } from 'node:stream';
import { createGunzip, createZstdDecompress } from 'node:zlib';

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
  const source = Readable.from(replay(), { objectMode: false });
  const decoder = startsWith(head, GZIP)
    ? createGunzip()
    : startsWith(head, ZSTD)
      ? createZstdDecompress()
      : undefined;
  if (!decoder) return source;
  // pipeline destroys every stream with the first error, so the reader of `decoder` sees it.
  return pipeline(source, decoder, () => undefined);
}
