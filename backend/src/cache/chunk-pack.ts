// Pack files: many small chunks of one layer in one file.
//
// A small-file image has tens of thousands of chunks of a few hundred bytes; one file per chunk
// made creating ext4 inodes most of the agent's CPU when a container read them all. Chunks stored
// together in one write go into one pack instead:
//
//   "SLPACK01" | count (u32 BE) | count × (sha256 (32 bytes) | length (u32 BE)) | the chunks' bytes
//
// The header only says where each chunk is: a chunk read from a pack is verified against its
// digest like any other disk hit, so a damaged pack serves nothing. decodePackHeader checks that
// the header and the lengths add up to the file's size, so a torn or foreign file is refused.

export const PACK_MAGIC = Buffer.from('SLPACK01', 'latin1');
const FIXED_BYTES = PACK_MAGIC.length + 4;
const ENTRY_BYTES = 32 + 4;
/** More chunks than any pack this cache writes (see ChunkCache's PACK_MAX_CHUNKS). */
export const PACK_MAX_ENTRIES = 65_536;
const PACK_NAME_RE = /^pack-[0-9a-f]{16}$/;

export interface PackEntry {
  /** "sha256:<hex>" */
  digest: string;
  /** Where the chunk's bytes start in the file. */
  offset: number;
  length: number;
}

export class PackFormatError extends Error {
  override readonly name = 'PackFormatError';
}

export const isPackName = (name: string): boolean => PACK_NAME_RE.test(name);

/** Bytes before the first chunk in a pack of `count` chunks. */
export const packHeaderBytes = (count: number): number => FIXED_BYTES + count * ENTRY_BYTES;

/** The whole pack file: header, then the chunks in order. Digests must be sha256. */
export function encodePack(chunks: readonly { digest: string; data: Buffer }[]): Buffer {
  const header = Buffer.alloc(packHeaderBytes(chunks.length));
  PACK_MAGIC.copy(header, 0);
  header.writeUInt32BE(chunks.length, PACK_MAGIC.length);
  chunks.forEach(({ digest, data }, i) => {
    const at = FIXED_BYTES + i * ENTRY_BYTES;
    if (!digest.startsWith('sha256:') || digest.length !== 71) {
      throw new PackFormatError(`a pack holds sha256 chunks only, not ${digest}`);
    }
    header.write(digest.slice(7), at, 32, 'hex');
    header.writeUInt32BE(data.length, at + 32);
  });
  return Buffer.concat([header, ...chunks.map((c) => c.data)]);
}

/** How many bytes the header of a pack starting with `start` (≥ 12 bytes) takes. */
export function packHeaderLength(start: Buffer): number {
  if (start.length < FIXED_BYTES || !start.subarray(0, PACK_MAGIC.length).equals(PACK_MAGIC)) {
    throw new PackFormatError('not a pack (bad magic)');
  }
  const count = start.readUInt32BE(PACK_MAGIC.length);
  if (count === 0 || count > PACK_MAX_ENTRIES) {
    throw new PackFormatError(`not a pack (${count} chunks)`);
  }
  return packHeaderBytes(count);
}

/** The chunks of a pack whose file is `fileSize` bytes, from its whole header. */
export function decodePackHeader(header: Buffer, fileSize: number): PackEntry[] {
  const headerBytes = packHeaderLength(header);
  if (header.length < headerBytes) throw new PackFormatError('pack header cut short');
  const count = header.readUInt32BE(PACK_MAGIC.length);
  const entries: PackEntry[] = [];
  let offset = headerBytes;
  for (let i = 0; i < count; i++) {
    const at = FIXED_BYTES + i * ENTRY_BYTES;
    const length = header.readUInt32BE(at + 32);
    entries.push({ digest: `sha256:${header.toString('hex', at, at + 32)}`, offset, length });
    offset += length;
  }
  if (offset !== fileSize) {
    throw new PackFormatError(`pack lists ${offset} bytes but the file has ${fileSize}`);
  }
  return entries;
}
