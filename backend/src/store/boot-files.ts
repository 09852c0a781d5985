// The files nearly every container start reads, whatever its image: the dynamic loader and the C
// library (every dynamically linked program), the shell, and the few /etc files the runtime and
// libc consult (users, groups, name service, the loader cache). A lazily pulled container would
// otherwise fetch them one after another at its first exec, each waiting for the previous — a
// round trip apiece. They are prefetched with a layer (when its image's profile did not put them
// in the landmark region already), a few MiB at most.
import { constants } from 'node:fs';

import type { ChunkRef, LayerIndex } from '../estargz/index.ts';

/**
 * Paths as layers store them (no leading slash), for the common distributions' layouts, in tiers
 * by when a start needs them: the runtime reads the /etc files before the container's process
 * exists, the process then execs through the loader and libc, and a shell only when the command
 * is a script. Each tier travels in requests of its own, so the few KiB of the first are not
 * held up behind the MiBs of the others.
 */
export const BOOT_FILE_TIERS: readonly (readonly string[])[] = [
  // what the runtime and libc read at start
  [
    'etc/passwd',
    'etc/group',
    'etc/nsswitch.conf',
    'etc/ld.so.cache',
    'usr/lib/os-release',
    'etc/os-release',
  ],
  // glibc: Debian/Ubuntu (merged /usr and not), Fedora/RHEL/UBI, both architectures we build for;
  // musl (Alpine): loader and libc in one
  [
    ...['usr/lib', 'lib'].flatMap((dir) => [
      `${dir}/x86_64-linux-gnu/ld-linux-x86-64.so.2`,
      `${dir}/x86_64-linux-gnu/libc.so.6`,
      `${dir}/aarch64-linux-gnu/ld-linux-aarch64.so.1`,
      `${dir}/aarch64-linux-gnu/libc.so.6`,
    ]),
    'usr/lib64/ld-linux-x86-64.so.2',
    'usr/lib64/libc.so.6',
    'lib64/ld-linux-x86-64.so.2',
    'lib64/libc.so.6',
    'usr/lib/ld-linux-aarch64.so.1',
    'usr/lib64/ld-linux-aarch64.so.1',
    'lib/ld-musl-x86_64.so.1',
    'lib/ld-musl-aarch64.so.1',
  ],
  // shells
  ['usr/bin/dash', 'bin/dash', 'usr/bin/bash', 'bin/bash', 'bin/busybox'],
];

/** Compressed bytes at most: the list above is ~3 MiB in a typical base layer. */
export const BOOT_FILES_MAX_BYTES = 8 * 2 ** 20;

/**
 * The chunks of the boot files this layer holds as regular files: one list per tier that has
 * any, in tier order, each in blob order (for coalescing); within BOOT_FILES_MAX_BYTES in all.
 */
export function bootFileTiers(index: LayerIndex): ChunkRef[][] {
  const tiers: ChunkRef[][] = [];
  let bytes = 0;
  for (const paths of BOOT_FILE_TIERS) {
    const chunks: ChunkRef[] = [];
    for (const path of paths) {
      const ino = index.resolve(path);
      if (ino === undefined || (index.stat(ino).mode & constants.S_IFMT) !== constants.S_IFREG) {
        continue;
      }
      for (const chunk of index.chunksOf(ino)) {
        bytes += chunk.compressedEnd - chunk.compressedOffset;
        if (bytes > BOOT_FILES_MAX_BYTES) {
          if (chunks.length > 0) tiers.push(sortByOffset(chunks));
          return tiers;
        }
        chunks.push(chunk);
      }
    }
    if (chunks.length > 0) tiers.push(sortByOffset(chunks));
  }
  return tiers;
}

/** Every boot-file chunk of the layer (the tiers, flattened). */
export function bootFileChunks(index: LayerIndex): ChunkRef[] {
  return bootFileTiers(index).flat();
}

function sortByOffset(chunks: ChunkRef[]): ChunkRef[] {
  return chunks.sort((a, b) => a.compressedOffset - b.compressedOffset);
}

/**
 * Gaps up to this size between boot-file chunks are taken into one range. The agent joins the
 * chunks of a read across gaps of up to 64 KiB too (LayerFetcher's coalescing), so each of its
 * boot-file reads falls inside one of these ranges.
 */
export const BOOT_RANGE_GAP_BYTES = 64 * 1024;

/** Most ranges an annotation may list (a typical base layer has 5–10). */
const MAX_BOOT_RANGES = 64;

/** Compressed byte ranges [start, end) holding the layer's boot files, small gaps included. */
export function bootFileRanges(index: LayerIndex): [number, number][] {
  const chunks = bootFileChunks(index).sort((a, b) => a.compressedOffset - b.compressedOffset);
  const ranges: [number, number][] = [];
  for (const chunk of chunks) {
    const last = ranges.at(-1);
    if (last && chunk.compressedOffset - last[1] <= BOOT_RANGE_GAP_BYTES) {
      last[1] = Math.max(last[1], chunk.compressedEnd);
    } else {
      ranges.push([chunk.compressedOffset, chunk.compressedEnd]);
    }
  }
  // Within what an agent accepts: the gaps count too.
  const kept: [number, number][] = [];
  let total = 0;
  for (const range of ranges.slice(0, MAX_BOOT_RANGES)) {
    total += range[1] - range[0];
    if (total > BOOT_FILES_MAX_BYTES) break;
    kept.push(range);
  }
  return kept;
}

/** The `io.slipstream.estargz.boot-ranges` value: `start-end,…`. */
export function formatBootRanges(ranges: readonly (readonly [number, number])[]): string {
  return ranges.map(([start, end]) => `${start}-${end}`).join(',');
}

/** The boot-ranges annotation a converter writes for this layer, or undefined when it has none. */
export function bootRangesAnnotation(index: LayerIndex): string | undefined {
  const ranges = bootFileRanges(index);
  return ranges.length > 0 ? formatBootRanges(ranges) : undefined;
}

/**
 * The annotation's ranges, or undefined when it is absent or not to be trusted with a read: not
 * ascending, past the blob, more than BOOT_FILES_MAX_BYTES in all (the annotation comes with the
 * image; a hostile one must not make the agent read a whole layer into memory).
 */
export function parseBootRanges(
  value: string | undefined,
  blobSize: number,
): [number, number][] | undefined {
  if (!value || !/^\d{1,15}-\d{1,15}(,\d{1,15}-\d{1,15})*$/.test(value)) return undefined;
  const ranges = value.split(',').map((r) => r.split('-').map(Number) as [number, number]);
  if (ranges.length > MAX_BOOT_RANGES) return undefined;
  let total = 0;
  let previousEnd = 0;
  for (const [start, end] of ranges) {
    if (start < previousEnd || end <= start || end > blobSize) return undefined;
    total += end - start;
    previousEnd = end;
  }
  return total <= BOOT_FILES_MAX_BYTES ? ranges : undefined;
}
