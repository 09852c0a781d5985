// Warming a fresh agent's layer path before it reports ready.
//
// A lookup's CPU is mostly the TOC's inflate and parse. In a new process that code runs in V8's
// interpreter and baseline tiers: node's 20k-entry TOC took 100–150 ms as a process's first parse,
// 60–70 ms after this warm-up, 43–75 ms as its third real parse (docs/benchmark-history.md, session
// 13). Most pulls come long after the agent starts, but on a node that has just joined the
// cluster the first pulls come right behind it. So at start the agent builds a synthetic eStargz
// layer (8k entries) in memory and opens it a few times through the path a lookup takes (footer →
// TOC inflate → digest check → parse → index), walks it as the FUSE handlers do and decodes and
// verifies a few of its chunks as the fetcher does: about 0.4 s of CPU. Rounds alternate between
// the TOC parsed as it streams in and parsed whole. /readyz answers 200 only after this.
import { crc32, gzipSync } from 'node:zlib';

import { matchesDigest } from '../cache/chunk-cache.ts';
import {
  MIN_CHUNK_SIZE,
  ROOT_INO,
  TOC_NAME,
  createFooter,
  openLayerIndex,
  sha256Digest,
  type LayerIndex,
} from '../estargz/index.ts';
import { gzipChunkDecoder } from '../fetch/decode.ts';
import { END_OF_ARCHIVE, encodeHeader, newHeader, padding } from '../tar/index.ts';
import { chunkSpec } from './layer.ts';

export interface WarmUpOptions {
  /** Directories of the synthetic layer; each holds `filesPerDir` files and a few other entries. */
  dirs?: number;
  filesPerDir?: number;
  /** Times the layer is opened (V8 optimises a function after it has run hot for a while). */
  rounds?: number;
}

export interface WarmUpReport {
  entries: number;
  rounds: number;
  /** Rounds whose TOC was parsed as it streamed in (a TOC that fits the first read never is). */
  streamedRounds: number;
  seconds: number;
}

/** Builds the synthetic layer and opens it `rounds` times; yields to the event loop in between. */
export async function warmUpLayerPath(options: WarmUpOptions = {}): Promise<WarmUpReport> {
  const started = performance.now();
  const rounds = options.rounds ?? 3;
  const layer = syntheticLayer(options.dirs ?? 80, options.filesPerDir ?? 80);
  let entries = 0;
  let streamedRounds = 0;
  for (let round = 0; round < rounds; round++) {
    // Between rounds, FUSE requests and probes that arrived meanwhile are answered.
    await new Promise((resolve) => setImmediate(resolve));
    // Lookups parse a TOC while it arrives (toc-stream.ts) or, when it came whole, at once:
    // rounds alternate between the two, so both run hot.
    const streamed = round % 2 === 0;
    const index = await openLayerIndex({
      blobSize: layer.blob.length,
      expectedTocDigest: layer.tocDigest,
      readRange: (start, end) => Promise.resolve(layer.blob.subarray(start, end)),
      ...(streamed && { tailBytes: WARM_UP_TAIL_BYTES, streamRange: streamFrom(layer.blob) }),
      onStreamOutcome: (outcome) => (streamedRounds += outcome.streamed ? 1 : 0),
    });
    entries = index.entryCount;
    walk(index);
    await verifySomeChunks(index, layer.blob);
  }
  return { entries, rounds, streamedRounds, seconds: (performance.now() - started) / 1000 };
}

/** The store's first read of a layer (its footer and the end of its TOC). */
const WARM_UP_TAIL_BYTES = 32 * 1024;

/** Hands a range of an in-memory blob to the parser in pieces, as a response would. */
function streamFrom(blob: Buffer) {
  return (start: number, end: number, sink: (bytes: Buffer) => void): Promise<boolean> => {
    for (let at = start; at < end; at += 64 * 1024)
      sink(blob.subarray(at, Math.min(end, at + 64 * 1024)));
    return Promise.resolve(true);
  };
}

export interface SyntheticLayer {
  blob: Buffer;
  tocDigest: string;
  /** Where the TOC's gzip member starts. */
  tocOffset: number;
}

type TocEntry = Record<string, string | number | Record<string, string>>;

/**
 * A layer shaped like a distribution's, in the form eStargz writers give it: nested directories
 * of small files (every eighth split into three chunks), symlinks, hardlinks, xattrs, a whiteout
 * and an opaque directory, mtimes that repeat, one gzip member per chunk. The members are built
 * as stored (uncompressed) deflate blocks: a zlib stream per member cost ~0.1 ms each, and it is
 * the TOC that is worked on here, not the data.
 */
export function syntheticLayer(
  dirs: number,
  filesPerDir: number,
  /** More regular files (path → content), stored first. */
  files: Record<string, Buffer> = {},
): SyntheticLayer {
  const members: Buffer[] = [];
  let offset = 0;
  const addMember = (data: Buffer): number => {
    const at = offset;
    const member = storedGzipMember(data);
    members.push(member);
    offset += member.length;
    return at;
  };
  const modtime = '2024-11-14T22:13:20Z';
  const entries: TocEntry[] = [
    { name: 'usr/', type: 'dir', modtime, mode: 0o755 },
    { name: 'usr/lib/.wh..wh..opq', type: 'reg', modtime, mode: 0o644 },
  ];
  const addFile = (name: string, body: Buffer, extra: TocEntry = {}): void => {
    const first: TocEntry = {
      name,
      type: 'reg',
      size: body.length,
      modtime,
      mode: 0o644,
      ...extra,
    };
    first.digest = sha256Digest(body);
    entries.push(first);
    for (let at = 0; at < body.length; at += MIN_CHUNK_SIZE) {
      const piece = body.subarray(at, at + MIN_CHUNK_SIZE);
      const entry = at === 0 ? first : { name, type: 'chunk', chunkOffset: at };
      if (at + MIN_CHUNK_SIZE < body.length) entry.chunkSize = MIN_CHUNK_SIZE;
      entry.offset = addMember(piece);
      entry.chunkDigest = sha256Digest(piece);
      if (at > 0) entries.push(entry);
    }
  };
  for (const [name, body] of Object.entries(files)) addFile(name, body);
  for (let d = 0; d < dirs; d++) {
    const dir = `usr/lib/package-${d}`;
    entries.push({ name: `${dir}/`, type: 'dir', modtime, mode: 0o755, uid: d % 3 });
    for (let f = 0; f < filesPerDir; f++) {
      const size = f % 8 === 0 ? MIN_CHUNK_SIZE * 2 + 17 : 24 + (f % 5);
      addFile(`${dir}/module_${f}.so.${d % 7}`, Buffer.alloc(size, `${d}/${f} `));
    }
    const target = `module_0.so.${d % 7}`;
    entries.push({
      name: `${dir}/current`,
      type: 'symlink',
      linkName: target,
      modtime,
      mode: 0o777,
    });
    entries.push({ name: `${dir}/module.so`, type: 'hardlink', linkName: `${dir}/${target}` });
    const capability = Buffer.from([1, 0, 0, 2, 0, 32]).toString('base64');
    addFile(`${dir}/tool`, Buffer.from('#!/bin/sh\n'), {
      mode: 0o755,
      xattrs: { 'security.capability': capability },
    });
  }
  entries.push({ name: 'usr/lib/.wh.removed', type: 'reg', modtime, mode: 0o644 });
  const tocOffset = offset;
  const json = Buffer.from(JSON.stringify({ version: 1, entries }));
  const tocTar = Buffer.concat([
    encodeHeader(newHeader({ name: TOC_NAME, type: 'file', size: json.length })),
    json,
    padding(json.length),
    END_OF_ARCHIVE,
  ]);
  const blob = Buffer.concat([...members, gzipSync(tocTar, { level: 1 }), createFooter(tocOffset)]);
  return { blob, tocDigest: sha256Digest(json), tocOffset };
}

/** A gzip member (RFC 1952) holding `data` in one stored deflate block (≤ 65535 bytes). */
function storedGzipMember(data: Buffer): Buffer {
  const member = Buffer.alloc(10 + 5 + data.length + 8);
  member.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]); // magic, deflate, no flags, OS unknown
  member[10] = 1; // final block, stored
  member.writeUInt16LE(data.length, 11);
  member.writeUInt16LE(~data.length & 0xffff, 13);
  data.copy(member, 15);
  member.writeUInt32LE(crc32(data), 15 + data.length);
  member.writeUInt32LE(data.length, 19 + data.length);
  return member;
}

/** What the FUSE handlers ask of an index: lookups, attributes, listings, link targets, chunks. */
function walk(index: LayerIndex): void {
  const pending = [ROOT_INO];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    for (const entry of index.readdir(dir)) {
      const ino = index.lookup(dir, entry.name);
      if (ino === undefined) throw new Error(`warm-up: ${entry.name} listed but not found`);
      const attr = index.stat(ino);
      index.xattrs(ino);
      if (index.isDir(ino)) pending.push(ino);
      else if (index.readlink(ino) === undefined) index.chunksFor(ino, 0, attr.size);
    }
  }
}

/**
 * Decodes and verifies the chunks of one file per directory with the fetcher's own decoder and
 * check (fetch/decode.ts, cache/chunk-cache.ts), as a READ of an uncached file does.
 */
async function verifySomeChunks(index: LayerIndex, blob: Buffer): Promise<void> {
  for (let dir = 0; ; dir++) {
    const ino = index.resolve(`usr/lib/package-${dir}/module_0.so.${dir % 7}`);
    if (ino === undefined) return;
    for (const chunk of index.chunksOf(ino).map(chunkSpec)) {
      const compressed = blob.subarray(chunk.offset, chunk.offset + chunk.compressedSize);
      const data = await gzipChunkDecoder(compressed, chunk);
      if (!matchesDigest(data, chunk.digest)) throw new Error(`warm-up: chunk ${chunk.digest}`);
    }
  }
}
