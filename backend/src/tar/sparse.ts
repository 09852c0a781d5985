// GNU sparse files, read as the regular files they stand for (as Go's archive/tar does, so a
// layer converted from them holds what podman would have extracted). Three encodings exist:
//   - old GNU: type 'S', up to 4 map entries in the header plus extension blocks of 21;
//   - PAX 0.0 / 0.1: GNU.sparse.offset/numbytes records, or GNU.sparse.map = "o,n,o,n,...";
//   - PAX 1.0: GNU.sparse.major=1, the real name in GNU.sparse.name, and the map as decimal
//     lines at the start of the entry's data, padded to a block.
// The stored data is the concatenation of the map's data segments; everything else is zeros.
import { TarError, parseNumeric } from './header.ts';

export interface SparseSegment {
  offset: number;
  length: number;
}

/** How an entry's sparse map is encoded, from its PAX records (undefined: not sparse). */
export type PaxSparse =
  | { version: '0.x'; map: SparseSegment[]; name?: string; size?: number }
  | { version: '1.0'; name?: string; size?: number };

const ZEROS = Buffer.alloc(1 << 20);

function decimal(text: string, what: string): number {
  if (!/^\d{1,16}$/.test(text.trim())) throw new TarError(`invalid sparse ${what} "${text}"`);
  const n = Number(text.trim());
  if (!Number.isSafeInteger(n)) throw new TarError(`sparse ${what} too large`);
  return n;
}

function pairs(numbers: number[]): SparseSegment[] {
  if (numbers.length % 2 !== 0) throw new TarError('sparse map has an odd number of values');
  const out: SparseSegment[] = [];
  for (let i = 0; i < numbers.length; i += 2)
    out.push({ offset: numbers[i], length: numbers[i + 1] });
  return out;
}

/** Reads the GNU.sparse.* records; they are removed from `records` (never written out again). */
export function paxSparse(records: Map<string, string>, maxEntries: number): PaxSparse | undefined {
  const get = (key: string) => records.get(`GNU.sparse.${key}`);
  const major = get('major');
  const minor = get('minor');
  const mapText = get('map');
  let version: PaxSparse['version'];
  if (major === '1' && minor === '0') version = '1.0';
  else if (major === '0' && (minor === '0' || minor === '1')) version = '0.x';
  else if (major !== undefined || minor !== undefined) {
    throw new TarError(`unsupported GNU sparse format ${major ?? '?'}.${minor ?? '?'}`);
  } else if (mapText !== undefined) version = '0.x';
  else return undefined;
  const name = get('name');
  const sizeText = get('size') ?? get('realsize');
  for (const key of [...records.keys()]) if (key.startsWith('GNU.sparse.')) records.delete(key);
  const common = {
    ...(name !== undefined && name !== '' ? { name } : {}),
    ...(sizeText !== undefined ? { size: decimal(sizeText, 'size') } : {}),
  };
  if (version === '1.0') return { version, ...common };
  const values = (mapText ?? '').split(',').filter((v) => v !== '');
  if (values.length > 2 * maxEntries) throw new TarError('sparse map has too many entries');
  return { version, map: pairs(values.map((v) => decimal(v, 'map value'))), ...common };
}

/**
 * The map of an old-GNU 'S' header: its 4 slots, then `readBlock()` extension blocks of 21
 * while the "isextended" flag is set. Returns the map and the real (logical) file size.
 */
export async function oldGnuSparseMap(
  header: Buffer,
  readBlock: () => Promise<Buffer>,
  maxEntries: number,
): Promise<{ map: SparseSegment[]; realSize: number }> {
  const map: SparseSegment[] = [];
  const take = (block: Buffer, at: number, slots: number) => {
    for (let i = 0; i < slots; i++) {
      const pos = at + i * 24;
      if (block[pos] === 0) break; // GNU and BSD tar stop at an empty offset field
      if (map.length >= maxEntries) throw new TarError('sparse map has too many entries');
      map.push({ offset: parseNumeric(block, pos, 12), length: parseNumeric(block, pos + 12, 12) });
    }
  };
  take(header, 386, 4);
  let extended = header[482] !== 0;
  while (extended) {
    const block = await readBlock();
    take(block, 0, 21);
    extended = block[504] !== 0;
  }
  return { map, realSize: parseNumeric(header, 483, 12) };
}

/**
 * The PAX 1.0 map at the start of the data: decimal numbers, one per line (count, then offset
 * and length pairs), padded to whole blocks. `readBlock` returns the next data block.
 */
export async function pax1Map(
  readBlock: () => Promise<Buffer>,
  maxEntries: number,
): Promise<SparseSegment[]> {
  let text = '';
  let pos = 0;
  const next = async (): Promise<number> => {
    for (;;) {
      const newline = text.indexOf('\n', pos);
      if (newline >= 0) {
        const token = text.slice(pos, newline);
        pos = newline + 1;
        return decimal(token, 'map value');
      }
      if (text.length - pos > 64) throw new TarError('malformed sparse map');
      text = text.slice(pos) + (await readBlock()).toString('latin1');
      pos = 0;
    }
  };
  const count = await next();
  if (count > maxEntries) throw new TarError('sparse map has too many entries');
  const numbers: number[] = [];
  for (let i = 0; i < 2 * count; i++) numbers.push(await next());
  return pairs(numbers);
}

/** Checks that the segments are in order, do not overlap, fit in `size` and add up to `stored`. */
export function checkSparseMap(map: SparseSegment[], size: number, stored: number): void {
  let end = 0;
  let total = 0;
  for (const s of map) {
    if (s.offset < end || s.offset + s.length > size) {
      throw new TarError('sparse map entries overlap, are out of order or exceed the file size');
    }
    end = s.offset + s.length;
    total += s.length;
  }
  if (total !== stored) {
    throw new TarError(`sparse map describes ${total} data bytes, the entry stores ${stored}`);
  }
}

/** The expanded file: data segments from `readData`, zeros in the holes, up to `size`. */
export async function* expandSparse(
  map: SparseSegment[],
  size: number,
  readData: (length: number) => AsyncGenerator<Buffer>,
): AsyncGenerator<Buffer> {
  let pos = 0;
  const zeros = function* (n: number) {
    for (let left = n; left > 0; left -= ZEROS.length)
      yield ZEROS.subarray(0, Math.min(left, ZEROS.length));
  };
  for (const s of map) {
    yield* zeros(s.offset - pos);
    yield* readData(s.length);
    pos = s.offset + s.length;
  }
  yield* zeros(size - pos);
}
