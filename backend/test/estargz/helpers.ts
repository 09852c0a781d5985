// Shared helpers for eStargz tests: write a blob from tar entries in memory, open it with the
// reader, and read whole files back through verified chunks.
import { PassThrough } from 'node:stream';

import {
  buildEstargz,
  openLayerIndex,
  readChunk,
  type BuildEstargzOptions,
  type BuildEstargzResult,
  type LayerIndex,
} from '../../src/estargz/index.ts';

export async function estargzFromTar(
  tar: Buffer,
  options: BuildEstargzOptions = {},
): Promise<{ blob: Buffer; result: BuildEstargzResult }> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (d: Buffer) => parts.push(d));
  // Feed the tar in odd-sized pieces to exercise the streaming reader.
  const pieces = () => {
    const list: Buffer[] = [];
    for (let i = 0; i < tar.length; i += 7919) list.push(tar.subarray(i, i + 7919));
    return Promise.resolve(list);
  };
  const result = await buildEstargz(pieces, out, options);
  out.end();
  return { blob: Buffer.concat(parts), result };
}

export function openBlob(
  blob: Buffer,
  expectedTocDigest?: string,
  tailBytes?: number,
): Promise<LayerIndex> {
  return openLayerIndex({
    blobSize: blob.length,
    readRange: (start, end) => Promise.resolve(blob.subarray(start, end)),
    ...(expectedTocDigest !== undefined && { expectedTocDigest }),
    ...(tailBytes !== undefined && { tailBytes }),
  });
}

export async function readFile(index: LayerIndex, blob: Buffer, ino: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const chunk of index.chunksOf(ino)) {
    parts.push(await readChunk(chunk, blob.subarray(chunk.compressedOffset, chunk.compressedEnd)));
  }
  return Buffer.concat(parts);
}

/** Deterministic PRNG (mulberry32) so that fuzz failures reproduce from the seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0;
  return b;
}
