// Streaming tar reader: yields one entry at a time with its body as an async iterable of slices
// of the input (no copies). Memory stays bounded by the input chunk size plus metadata records.
import {
  BLOCK,
  TarError,
  decodeBlock,
  decodePath,
  isZeroBlock,
  paddingFor,
  parsePax,
  paxTime,
  typeFromFlag,
  type RawHeader,
  type TarHeader,
} from './header.ts';
import {
  checkSparseMap,
  expandSparse,
  oldGnuSparseMap,
  pax1Map,
  paxSparse,
  type SparseSegment,
} from './sparse.ts';

export interface TarEntry {
  header: TarHeader;
  /**
   * The entry's data. Read it before asking for the next entry; whatever is not read is skipped.
   * Only regular files have a non-empty body.
   */
  body: AsyncIterable<Buffer>;
}

export interface TarReadOptions {
  /** Largest PAX header or GNU long name/link accepted (default 1 MiB). */
  maxMetaBytes?: number;
  /**
   * Largest size a sparse file may expand to (default 1 TiB, the largest file an eStargz reader
   * accepts): a few hundred bytes of archive must not turn into endless zeros.
   */
  maxSparseSize?: number;
}

export type TarByteSource = AsyncIterable<Buffer | Uint8Array> | Iterable<Buffer | Uint8Array>;

/** Pulls exact byte counts out of an async iterable of buffers. */
export class ByteReader {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly iterator: AsyncIterator<Buffer | Uint8Array>;
  private ended = false;

  constructor(source: TarByteSource) {
    if (Symbol.asyncIterator in source) {
      this.iterator = source[Symbol.asyncIterator]();
    } else {
      const sync = source[Symbol.iterator]();
      this.iterator = { next: () => Promise.resolve(sync.next()) };
    }
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.iterator.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    const chunk = Buffer.isBuffer(next.value)
      ? next.value
      : Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    if (chunk.length > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
    }
    return true;
  }

  /** Exactly `n` bytes, or fewer only at end of input. */
  async read(n: number): Promise<Buffer> {
    while (this.pendingBytes < n && (await this.pull()));
    const take = Math.min(n, this.pendingBytes);
    const out = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    const result = out.subarray(0, take);
    const rest = out.subarray(take);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return result;
  }

  /** Up to `max` bytes (at least one unless at end of input), without concatenating. */
  async readSome(max: number): Promise<Buffer> {
    if (this.pendingBytes === 0) {
      while (this.pendingBytes === 0 && (await this.pull()));
      if (this.pendingBytes === 0) return Buffer.alloc(0);
    }
    const first = this.pending[0];
    if (first.length <= max) {
      this.pending.shift();
      this.pendingBytes -= first.length;
      return first;
    }
    this.pending[0] = first.subarray(max);
    this.pendingBytes -= max;
    return first.subarray(0, max);
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const got = await this.readSome(left);
      if (got.length === 0) throw new TarError('unexpected end of tar stream');
      left -= got.length;
    }
  }

  /** Reads and discards everything up to the end of the input. */
  async drain(): Promise<void> {
    this.pending = [];
    this.pendingBytes = 0;
    while (await this.pull()) {
      this.pending = [];
      this.pendingBytes = 0;
    }
  }

  async close(): Promise<void> {
    if (!this.ended) await this.iterator.return?.();
  }
}

function applyPax(raw: RawHeader, pax: Map<string, Buffer>, header: TarHeader): void {
  for (const [key, value] of pax) {
    const text = () => value.toString('utf8');
    const number = () => {
      const n = Number(text());
      if (!Number.isFinite(n) || n < 0 || n > Number.MAX_SAFE_INTEGER) {
        throw new TarError(`invalid PAX ${key} value`);
      }
      return n;
    };
    if (key.startsWith('SCHILY.xattr.')) header.xattrs.set(key.slice(13), Buffer.from(value));
    else if (key === 'path') header.name = decodePath(value, 'entry name');
    else if (key === 'linkpath') header.linkName = decodePath(value, 'link target');
    else if (key === 'size') header.size = number();
    else if (key === 'uid') header.uid = number();
    else if (key === 'gid') header.gid = number();
    else if (key === 'uname') header.uname = text();
    else if (key === 'gname') header.gname = text();
    else if (key === 'mtime') setPaxMtime(header, text(), raw.mtime);
    else if (key === 'GNU.sparse.name') header.paxExtra.set(key, decodePath(value, 'entry name'));
    else if (key !== 'hdrcharset') header.paxExtra.set(key, text());
  }
}

/** The PAX mtime, its text kept for a rewrite (see TarHeader.mtimeText). */
function setPaxMtime(header: TarHeader, text: string, fallback: number): void {
  const value = paxTime(text);
  header.mtime = value ?? fallback;
  if (value === undefined) delete header.mtimeText;
  else header.mtimeText = text.trim();
}

function toHeader(raw: RawHeader): TarHeader {
  // 'S': an old-GNU sparse file, read as the regular file it stands for.
  const type = raw.flag === 'S' ? 'file' : typeFromFlag(raw.flag);
  if (!type) throw new TarError(`unsupported tar entry type ${JSON.stringify(raw.flag)}`);
  const { nameBytes: _name, linkBytes: _link, ...fields } = raw;
  return { ...fields, type, xattrs: new Map(), paxExtra: new Map() };
}

/**
 * Reads a tar stream (ustar, GNU long names, PAX local and global headers, GNU sparse files in
 * all their encodings, expanded). Throws TarError on malformed or truncated input, and on
 * entry names or link targets that are not UTF-8. Read to its end, it reads its input to the end
 * too (past the end-of-archive blocks); stopped early, it closes the input.
 */
export async function* readTar(
  source: TarByteSource,
  options: TarReadOptions = {},
): AsyncGenerator<TarEntry> {
  const maxMeta = options.maxMetaBytes ?? 1 << 20;
  // A sparse map costs at least 24 bytes per entry in the archive; bound it like other metadata.
  const maxSparseEntries = Math.max(16, Math.floor(maxMeta / 24));
  const maxSparseSize = options.maxSparseSize ?? 2 ** 40;
  const reader = new ByteReader(source);
  let globalPax = new Map<string, Buffer>();
  let localPax: Map<string, Buffer> | undefined;
  let longName: Buffer | undefined;
  let longLink: Buffer | undefined;
  let firstBlock = true;

  const readMeta = async (size: number) => {
    if (size > maxMeta) throw new TarError(`tar metadata record of ${size} bytes exceeds limit`);
    const data = await reader.read(size);
    if (data.length < size) throw new TarError('unexpected end of tar stream');
    await reader.skip(paddingFor(size));
    return Buffer.from(data);
  };
  const readBlock = async () => {
    const block = await reader.read(BLOCK);
    if (block.length < BLOCK) throw new TarError('unexpected end of tar stream');
    return block;
  };

  try {
    for (;;) {
      const block = await reader.read(BLOCK);
      if (block.length === 0 && !localPax && longName === undefined) return;
      if (block.length < BLOCK) throw new TarError('unexpected end of tar stream');
      if (isZeroBlock(block)) {
        // The end-of-archive marker (its second block is optional). What follows it (that
        // block, the padding to the record size) is read to the end, not abandoned: a source
        // checks its blob's digest only once it has handed over the last byte.
        await reader.drain();
        return;
      }
      const raw = firstBlock ? decodeFirstBlock(block) : decodeBlock(block);
      firstBlock = false;
      if (raw.flag === 'x' || raw.flag === 'g') {
        const records = parsePax(await readMeta(raw.size));
        if (raw.flag === 'g') globalPax = new Map([...globalPax, ...records]);
        else localPax = records;
        continue;
      }
      if (raw.flag === 'L' || raw.flag === 'K') {
        const value = await readMeta(raw.size);
        let end = value.length;
        while (end > 0 && value[end - 1] === 0) end--;
        if (raw.flag === 'L') longName = value.subarray(0, end);
        else longLink = value.subarray(0, end);
        continue;
      }
      const header = toHeader(raw);
      // The block's own fields are decoded strictly only when nothing replaces them.
      const paxHas = (key: string) => localPax?.has(key) || globalPax.has(key);
      if (longName !== undefined) header.name = decodePath(longName, 'entry name');
      else if (!paxHas('path') && raw.nameBytes) {
        header.name = decodePath(raw.nameBytes, 'entry name');
      }
      if (longLink !== undefined) header.linkName = decodePath(longLink, 'link target');
      else if (!paxHas('linkpath') && raw.linkBytes) {
        header.linkName = decodePath(raw.linkBytes, 'link target');
      }
      applyPax(raw, globalPax, header);
      if (localPax) applyPax(raw, localPax, header);
      if (raw.flag !== 'S') header.type = typeFromFlag(raw.flag, header.name) ?? header.type;
      localPax = undefined;
      longName = undefined;
      longLink = undefined;
      // Only regular files carry data; hardlinks etc. with a size field have none in practice,
      // but the bytes are still in the stream and must be skipped.
      const stored = header.size;
      if (header.type !== 'file') header.size = 0;
      let remaining = stored;
      const readData = async function* (length: number): AsyncGenerator<Buffer> {
        let left = length;
        while (left > 0) {
          const chunk = await reader.readSome(Math.min(left, remaining));
          if (chunk.length === 0) throw new TarError('unexpected end of tar stream');
          remaining -= chunk.length;
          left -= chunk.length;
          yield chunk;
        }
      };
      const readDataBlock = async () => {
        if (remaining < BLOCK) throw new TarError('sparse map runs past the entry data');
        remaining -= BLOCK;
        return readBlock();
      };
      let body: AsyncIterable<Buffer> = {
        [Symbol.asyncIterator]: () =>
          header.type === 'file' ? readData(remaining) : (async function* () {})(),
      };
      const sparse =
        raw.flag === 'S'
          ? await oldGnuSparseMap(block, readBlock, maxSparseEntries)
          : await paxSparseMap(header, readDataBlock, maxSparseEntries);
      if (sparse) {
        const { map, realSize } = sparse;
        if (realSize > maxSparseSize) {
          throw new TarError(
            `sparse file of ${realSize} bytes exceeds the limit of ${maxSparseSize}`,
          );
        }
        checkSparseMap(map, realSize, remaining);
        header.size = realSize;
        body = { [Symbol.asyncIterator]: () => expandSparse(map, realSize, readData) };
      }
      yield { header, body };
      await reader.skip(remaining + paddingFor(stored));
      remaining = 0;
    }
  } finally {
    await reader.close();
  }
}

/** The first header: data that is no tar at all fails here, and is called that. */
function decodeFirstBlock(block: Buffer): RawHeader {
  try {
    return decodeBlock(block);
  } catch (err) {
    if (!(err instanceof TarError)) throw err;
    throw new TarError(`not a tar archive (its first header is not valid: ${err.message})`);
  }
}

/** A PAX-encoded sparse file: its map (read from the data for 1.0) and real size. */
async function paxSparseMap(
  header: TarHeader,
  readDataBlock: () => Promise<Buffer>,
  maxEntries: number,
): Promise<{ map: SparseSegment[]; realSize: number } | undefined> {
  const found = paxSparse(header.paxExtra, maxEntries);
  if (!found) return undefined;
  if (header.type !== 'file') throw new TarError('GNU sparse records on a non-file entry');
  if (found.name !== undefined) header.name = found.name;
  const map = found.version === '1.0' ? await pax1Map(readDataBlock, maxEntries) : found.map;
  return { map, realSize: found.size ?? header.size };
}
