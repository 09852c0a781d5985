import { zstdCompressSync } from 'node:zlib';

import { jest } from '@jest/globals';

import { ZstdFrameError, decodeZstdFrames } from '../../src/convert/zstd-frames.ts';

// Generous: these run on shared, busy CI machines (no timing is asserted).
jest.setTimeout(120_000);

async function decode(chunks: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const piece of decodeZstdFrames(chunks)) out.push(piece);
  return Buffer.concat(out);
}

function skippable(data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32LE(0x184d2a53, 0);
  header.writeUInt32LE(data.length, 4);
  return Buffer.concat([header, data]);
}

describe('zstd frame decoder', () => {
  const big = Buffer.alloc(3 << 20);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 251;
  const frames = [Buffer.from('first '), big, Buffer.from(' last')];
  const stream = Buffer.concat([
    zstdCompressSync(frames[0]),
    skippable(Buffer.from('metadata')),
    zstdCompressSync(frames[1]),
    zstdCompressSync(frames[2]),
    skippable(Buffer.alloc(64)),
  ]);

  it('decodes every frame and skips skippable frames, whatever the chunking', async () => {
    const expected = Buffer.concat(frames);
    expect((await decode([stream])).equals(expected)).toBe(true);
    const pieces: Buffer[] = [];
    for (let i = 0; i < stream.length; i += 997) pieces.push(stream.subarray(i, i + 997));
    expect((await decode(pieces)).equals(expected)).toBe(true);
  });

  it('rejects truncated and foreign input', async () => {
    for (const cut of [10, 100, 1000]) {
      await expect(decode([stream.subarray(0, stream.length - cut)])).rejects.toThrow(/truncated/);
    }
    await expect(decode([Buffer.from('not zstd at all')])).rejects.toBeInstanceOf(ZstdFrameError);
  });
});
