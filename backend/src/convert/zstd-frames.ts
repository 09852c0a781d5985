// Decodes a stream of concatenated zstd frames (and skippable frames). Node's zstd stream stops
// at the end of the first frame when the next one arrives in the same chunk, and zstd:chunked
// layers are hundreds of frames plus skippable metadata frames. So frames are delimited here
// (RFC 8878 headers and block headers) and each one goes through its own streaming decoder.
import { constants, createZstdDecompress } from 'node:zlib';

import { ByteReader, type TarByteSource } from '../tar/reader.ts';
import { StreamDecoder } from './stream-decoder.ts';

const FRAME_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

export class ZstdFrameError extends Error {
  override readonly name = 'ZstdFrameError';
}

async function exact(reader: ByteReader, n: number): Promise<Buffer> {
  const data = await reader.read(n);
  if (data.length !== n) throw new ZstdFrameError('truncated zstd stream');
  return Buffer.from(data);
}

async function skipExact(reader: ByteReader, n: number): Promise<void> {
  for (let left = n; left > 0;) {
    const piece = await reader.readSome(left);
    if (piece.length === 0) throw new ZstdFrameError('truncated zstd skippable frame');
    left -= piece.length;
  }
}

/**
 * The largest window a frame may ask for: 2^29 bytes (512 MiB), the default limit of the zstd
 * decoder containers/storage uses (klauspost/compress), so every layer a pull unpacks converts
 * too. Node's default (2^27) refused `zstd --long=28` layers that podman pulls.
 */
export const ZSTD_WINDOW_LOG_MAX = 29;

function frameDecoder(): StreamDecoder {
  return new StreamDecoder(
    createZstdDecompress({ params: { [constants.ZSTD_d_windowLogMax]: ZSTD_WINDOW_LOG_MAX } }),
  );
}

const DICT_ID_BYTES = [0, 1, 2, 4];
const FCS_BYTES = [0, 2, 4, 8];

export async function* decodeZstdFrames(source: TarByteSource): AsyncGenerator<Buffer> {
  const reader = new ByteReader(source);
  try {
    for (;;) {
      const magic = await reader.read(4);
      if (magic.length === 0) return;
      if (magic.length < 4) throw new ZstdFrameError('truncated zstd frame magic');
      const value = magic.readUInt32LE(0);
      if ((value & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
        await skipExact(reader, (await exact(reader, 4)).readUInt32LE(0));
        continue;
      }
      if (value !== FRAME_MAGIC) throw new ZstdFrameError('not a zstd frame');
      yield* decodeFrame(reader, Buffer.from(magic));
    }
  } finally {
    await reader.close();
  }
}

async function* decodeFrame(reader: ByteReader, magic: Buffer): AsyncGenerator<Buffer> {
  const frame = frameDecoder();
  try {
    yield* decodeFrameWith(frame, reader, magic);
  } finally {
    frame.destroy();
  }
}

async function* decodeFrameWith(
  frame: StreamDecoder,
  reader: ByteReader,
  magic: Buffer,
): AsyncGenerator<Buffer> {
  const descriptor = await exact(reader, 1);
  const flags = descriptor[0];
  const single = (flags >> 5) & 1;
  const headerRest =
    (single ? 0 : 1) + DICT_ID_BYTES[flags & 3] + (FCS_BYTES[flags >> 6] || (single ? 1 : 0));
  yield* await frame.write(Buffer.concat([magic, descriptor, await exact(reader, headerRest)]));
  for (;;) {
    const blockHeader = await exact(reader, 3);
    const bits = blockHeader.readUIntLE(0, 3);
    const type = (bits >> 1) & 3;
    if (type === 3) throw new ZstdFrameError('reserved zstd block type');
    yield* await frame.write(blockHeader);
    let left = type === 1 ? 1 : bits >>> 3; // RLE blocks carry one byte
    while (left > 0) {
      const piece = await reader.readSome(left);
      if (piece.length === 0) throw new ZstdFrameError('truncated zstd block');
      left -= piece.length;
      yield* await frame.write(Buffer.from(piece));
    }
    if (bits & 1) break; // last block
  }
  if ((flags >> 2) & 1) yield* await frame.write(await exact(reader, 4)); // content checksum
  yield* await frame.end();
}
