// The agent's start-up warm-up: its synthetic layer must be a real eStargz layer of the shape it
// claims (else the warm-up warms paths a pull never takes), and the warm-up must go through it.
import {
  ChunkVerification,
  MIN_CHUNK_SIZE,
  S_IFCHR,
  S_IFMT,
  readChunk,
} from '../../src/estargz/index.ts';
import { syntheticLayer, warmUpLayerPath } from '../../src/store/warm-up.ts';
import { openBlob } from '../estargz/helpers.ts';

async function openSynthetic(dirs: number, filesPerDir: number) {
  const layer = syntheticLayer(dirs, filesPerDir);
  return { layer, index: await openBlob(layer.blob, layer.tocDigest) };
}

describe('warm-up synthetic layer', () => {
  it('is an eStargz layer whose TOC verifies and whose chunks inflate to their digests', async () => {
    const { layer, index } = await openSynthetic(3, 9);
    expect(index.verifiable).toBe(true);
    let chunks = 0;
    for (let id = 0; id < index.chunkCount; id++) {
      const chunk = index.chunk(id);
      expect(chunk.verification).toBe(ChunkVerification.chunkDigest);
      const bytes = await readChunk(chunk, layer.blob.subarray(chunk.compressedOffset));
      expect(bytes.length).toBe(chunk.size);
      chunks++;
    }
    // Per directory: 9 files, two of them (0 and 8) in three chunks, plus the tool script.
    expect(chunks).toBe(3 * (9 + 2 * 2 + 1));
  });

  it('holds the kinds of entries a distribution layer has', async () => {
    const { index } = await openSynthetic(2, 3);
    const lib = index.resolve('usr/lib')!;
    expect(index.xattrs(lib).get('trusted.overlay.opaque')?.toString()).toBe('y');
    const removed = index.resolve('usr/lib/removed')!;
    expect(index.stat(removed).mode & S_IFMT).toBe(S_IFCHR);
    const first = index.resolve('usr/lib/package-1/module_0.so.1')!;
    expect(index.resolve('usr/lib/package-1/module.so')).toBe(first);
    expect(index.stat(first).nlink).toBe(2);
    expect(index.chunksOf(first).length).toBe(3);
    expect(index.stat(first).size).toBe(MIN_CHUNK_SIZE * 2 + 17);
    expect(index.readlink(index.resolve('usr/lib/package-1/current')!)).toBe('module_0.so.1');
    const tool = index.resolve('usr/lib/package-0/tool')!;
    expect(index.xattrs(tool).has('security.capability')).toBe(true);
    expect(index.stat(tool).mode & 0o777).toBe(0o755);
  });

  it('is what the warm-up opens, round after round', async () => {
    const { index } = await openSynthetic(4, 5);
    const report = await warmUpLayerPath({ dirs: 4, filesPerDir: 5, rounds: 2 });
    // This small a TOC comes with the footer: nothing to stream.
    expect(report).toEqual({
      entries: index.entryCount,
      rounds: 2,
      streamedRounds: 0,
      seconds: expect.any(Number),
    });
  });

  it('as the agent runs it, parses the TOC as it streams in every other round', async () => {
    const report = await warmUpLayerPath();
    expect(report).toMatchObject({ rounds: 3, streamedRounds: 2 });
    expect(report.entries).toBeGreaterThan(8000);
  });
});
