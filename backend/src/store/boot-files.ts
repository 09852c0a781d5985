// The files nearly every container start reads, whatever its image: the dynamic loader and the C
// library (every dynamically linked program), the shell, and the few /etc files the runtime and
// libc consult (users, groups, name service, the loader cache). A lazily pulled container would
// otherwise fetch them one after another at its first exec, each waiting for the previous — a
// round trip apiece. They are prefetched with a layer (when its image's profile did not put them
// in the landmark region already), a few MiB at most.
import { constants } from 'node:fs';

import type { ChunkRef, LayerIndex } from '../estargz/index.ts';

/** Paths as layers store them (no leading slash), for the common distributions' layouts. */
export const BOOT_FILES: readonly string[] = [
  // glibc: Debian/Ubuntu (merged /usr and not), Fedora/RHEL/UBI, both architectures we build for
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
  // musl (Alpine): loader and libc in one
  'lib/ld-musl-x86_64.so.1',
  'lib/ld-musl-aarch64.so.1',
  // shells
  'usr/bin/dash',
  'bin/dash',
  'usr/bin/bash',
  'bin/bash',
  'bin/busybox',
  // what the runtime and libc read at start
  'etc/passwd',
  'etc/group',
  'etc/nsswitch.conf',
  'etc/ld.so.cache',
  'usr/lib/os-release',
  'etc/os-release',
];

/** Compressed bytes at most: the list above is ~3 MiB in a typical base layer. */
export const BOOT_FILES_MAX_BYTES = 8 * 2 ** 20;

/** The chunks of the boot files this layer holds as regular files, in blob order. */
export function bootFileChunks(index: LayerIndex): ChunkRef[] {
  const chunks: ChunkRef[] = [];
  let bytes = 0;
  for (const path of BOOT_FILES) {
    const ino = index.resolve(path);
    if (ino === undefined || (index.stat(ino).mode & constants.S_IFMT) !== constants.S_IFREG) {
      continue;
    }
    for (const chunk of index.chunksOf(ino)) {
      bytes += chunk.compressedEnd - chunk.compressedOffset;
      if (bytes > BOOT_FILES_MAX_BYTES) return sortByOffset(chunks);
      chunks.push(chunk);
    }
  }
  return sortByOffset(chunks);
}

function sortByOffset(chunks: ChunkRef[]): ChunkRef[] {
  return chunks.sort((a, b) => a.compressedOffset - b.compressedOffset);
}
