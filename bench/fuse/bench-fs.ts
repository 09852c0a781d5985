// The filesystem the benchmark serves with the TypeScript server: the same tree as ref_ll.c —
// "hello" (13 bytes) for fstat and "data" (generated, served zero-copy from a static buffer,
// opened with keep_cache) for reads — so both servers do the same work per request.

import { constants } from 'node:fs';

import {
  Errno,
  FuseError,
  type Attr,
  type DirEntry,
  type Filesystem,
} from '../../backend/src/fuse/index.ts';

const { S_IFDIR, S_IFREG } = constants;
const PRIME = 251;
const MAX_REPLY = 1 << 20;
const HELLO = Buffer.from('Hello World!\n');
const ramp = Buffer.alloc(MAX_REPLY + PRIME);
for (let i = 0; i < ramp.length; i++) ramp[i] = i % PRIME;

const ROOT = 1;
const HELLO_INO = 2;
const DATA = 3;

export function benchFs(dataSize: number, timeout: number): Filesystem {
  const attr = (ino: number): Attr => {
    if (ino === ROOT) return { ino, mode: S_IFDIR | 0o755, nlink: 2 };
    if (ino === HELLO_INO) return { ino, mode: S_IFREG | 0o444, size: HELLO.length };
    if (ino === DATA) return { ino, mode: S_IFREG | 0o444, size: dataSize };
    throw new FuseError(Errno.ENOENT);
  };
  return {
    lookup: (parent, name) => {
      const ino = parent === ROOT ? { hello: HELLO_INO, data: DATA }[name] : undefined;
      if (!ino) throw new FuseError(Errno.ENOENT);
      return { ino, attr: attr(ino), entryTimeout: timeout, attrTimeout: timeout };
    },
    getattr: (ino) => ({ attr: attr(ino), timeout }),
    open: () => ({ keepCache: true }),
    read: (ino, _fh, offset, size) => {
      if (ino === HELLO_INO) return HELLO.subarray(offset, offset + size);
      const n = Math.max(0, Math.min(size, MAX_REPLY, dataSize - offset));
      const from = offset % PRIME;
      return ramp.subarray(from, from + n);
    },
    readdir: function* (_ino, _fh, offset): Iterable<DirEntry> {
      const all: DirEntry[] = [
        { name: '.', ino: ROOT, mode: S_IFDIR, nextOffset: 1 },
        { name: '..', ino: ROOT, mode: S_IFDIR, nextOffset: 2 },
        { name: 'hello', ino: HELLO_INO, mode: S_IFREG, nextOffset: 3 },
        { name: 'data', ino: DATA, mode: S_IFREG, nextOffset: 4 },
      ];
      yield* all.slice(offset);
    },
  };
}
