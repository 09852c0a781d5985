// Tar header model plus encoding/decoding of single 512-byte blocks (ustar, GNU base-256 numbers)
// and PAX extended-header records. Stream-level concerns (long-name entries, bodies, padding) live
// in reader.ts and writer.ts.

export const BLOCK = 512;

export const TarType = {
  file: 'file',
  hardlink: 'hardlink',
  symlink: 'symlink',
  char: 'char',
  block: 'block',
  dir: 'dir',
  fifo: 'fifo',
} as const;
export type TarType = (typeof TarType)[keyof typeof TarType];

export interface TarHeader {
  name: string;
  type: TarType;
  /** Permission bits including setuid/setgid/sticky (no file-type bits). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch; may be fractional when it came from a PAX record. */
  mtime: number;
  /**
   * The PAX `mtime` record as read (`1700000000.123456789`): a double holds only about seven
   * fractional digits of a current time, so a rewrite writes this text while `mtime` is its value.
   */
  mtimeText?: string;
  linkName: string;
  uname: string;
  gname: string;
  devMajor: number;
  devMinor: number;
  /** Extended attributes (from SCHILY.xattr.* PAX records). */
  xattrs: Map<string, Buffer>;
  /** PAX records we do not interpret (atime, ctime, ...), kept so that a rewrite preserves them. */
  paxExtra: Map<string, string>;
}

export class TarError extends Error {
  override readonly name = 'TarError';
}

const TYPE_FLAG: Record<TarType, string> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

/**
 * The entry type of a header's type flag. Pass the entry's final name (after PAX and GNU
 * long-name records) for the old-style rule: V7 archives have no directory type, and a regular
 * file flag ('0', or V7's NUL) on a name that ends in `/` is a directory, as Go's archive/tar
 * (containers/storage) and GNU tar extract it.
 */
export function typeFromFlag(flag: string, name = ''): TarType | undefined {
  switch (flag) {
    case '0':
    case '\0':
      return name.endsWith('/') ? 'dir' : 'file';
    case '7': // contiguous file: a regular file for every practical purpose
      return 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '3':
      return 'char';
    case '4':
      return 'block';
    case '5':
      return 'dir';
    case '6':
      return 'fifo';
    default:
      return undefined;
  }
}

export function newHeader(partial: Partial<TarHeader> & Pick<TarHeader, 'name' | 'type'>) {
  const h: TarHeader = {
    mode: partial.type === 'dir' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    mtime: 0,
    linkName: '',
    uname: '',
    gname: '',
    devMajor: 0,
    devMinor: 0,
    xattrs: new Map(),
    paxExtra: new Map(),
    ...partial,
  };
  return h;
}

// ---------------------------------------------------------------------------------------------
// Decoding

function cBytes(block: Buffer, start: number, len: number): Buffer {
  const end = block.indexOf(0, start);
  return block.subarray(start, end === -1 || end > start + len ? start + len : end);
}

function cString(block: Buffer, start: number, len: number): string {
  return cBytes(block, start, len).toString('utf8');
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A path (entry name or link target) as text. Linux allows any bytes but NUL in names; a name
 * that is not UTF-8 cannot be carried faithfully (an eStargz TOC is JSON text, and a lossy
 * decode would rename the file, or merge two names into one), so it is refused, never mangled.
 */
export function decodePath(bytes: Uint8Array, what: string): string {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    const shown = Buffer.from(bytes)
      .toString('latin1')
      .replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
    throw new TarError(
      `tar ${what} "${shown.slice(0, 300)}" is not valid UTF-8, which an eStargz TOC (JSON text) cannot carry`,
    );
  }
  // U+FFFD is what other converters put for bytes that are not UTF-8: the agent cannot tell a
  // real one from that, and refuses such a TOC (estargz/toc.ts refuseReplaced).
  if (text.includes('\uFFFD')) {
    throw new TarError(
      `tar ${what} ${JSON.stringify(text.slice(0, 300))} has U+FFFD, which the agent cannot tell from the replacement of bytes that are not UTF-8`,
    );
  }
  return text;
}

/**
 * Octal (space/NUL terminated) or GNU base-256 (high bit set; 0xff first: negative, two's
 * complement, as GNU tar writes times before 1970) numeric field. `signed` allows negatives.
 */
export function parseNumeric(block: Buffer, start: number, len: number, signed = false): number {
  const first = block[start] ?? 0;
  if (first & 0x80) {
    const negative = first === 0xff;
    if (negative && !signed) throw new TarError('negative base-256 number in tar header');
    // Two's complement: a negative value is -(~bits + 1); the first byte carries no magnitude.
    let value = negative ? 0 : first & 0x7f;
    for (let i = 1; i < len; i++) {
      const byte = block[start + i] ?? 0;
      value = value * 256 + (negative ? 0xff - byte : byte);
      if (value > Number.MAX_SAFE_INTEGER) throw new TarError('tar numeric field too large');
    }
    return negative ? -(value + 1) : value;
  }
  const text = block
    .toString('latin1', start, start + len)
    .replace(/[\0 ]+$/, '')
    .replace(/^[ \0]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarError(`invalid octal field ${JSON.stringify(text)}`);
  const value = parseInt(text, 8);
  if (!Number.isSafeInteger(value)) throw new TarError('tar numeric field too large');
  return value;
}

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

function checksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return sum;
}

/** The fields of one raw header block, before PAX/GNU long-name overrides are applied. */
export interface RawHeader {
  name: string;
  /** The name (with the ustar prefix) and link target fields as stored. */
  nameBytes?: Buffer;
  linkBytes?: Buffer;
  flag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkName: string;
  uname: string;
  gname: string;
  devMajor: number;
  devMinor: number;
}

export function decodeBlock(block: Buffer): RawHeader {
  if (block.length !== BLOCK) throw new TarError('short tar header block');
  if (parseNumeric(block, 148, 8) !== checksum(block)) {
    throw new TarError('tar header checksum mismatch');
  }
  const magic = block.toString('latin1', 257, 263);
  const ustar = magic === 'ustar\0';
  let nameBytes = cBytes(block, 0, 100);
  if (ustar) {
    const prefix = cBytes(block, 345, 155);
    if (prefix.length > 0) nameBytes = Buffer.concat([prefix, Buffer.from('/'), nameBytes]);
  }
  const linkBytes = cBytes(block, 157, 100);
  return {
    // Lossy here: the fields of PAX / GNU long-name blocks, or of an entry whose PAX record or
    // long-name block replaces them, may be truncated mid-character. The reader decodes the
    // bytes strictly (decodePath) when they are the entry's real name.
    name: nameBytes.toString('utf8'),
    nameBytes,
    flag: String.fromCharCode(block[156] ?? 0),
    mode: parseNumeric(block, 100, 8) & 0o7777,
    uid: parseNumeric(block, 108, 8),
    gid: parseNumeric(block, 116, 8),
    size: parseNumeric(block, 124, 12),
    mtime: parseNumeric(block, 136, 12, true),
    linkName: linkBytes.toString('utf8'),
    linkBytes,
    uname: cString(block, 265, 32),
    gname: cString(block, 297, 32),
    devMajor: parseNumeric(block, 329, 8),
    devMinor: parseNumeric(block, 337, 8),
  };
}

/** Parses PAX records (`<len> <key>=<value>\n`). */
export function parsePax(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  // GNU sparse 0.0 repeats GNU.sparse.offset / GNU.sparse.numbytes: they are collected, in
  // order, into the GNU.sparse.map form of version 0.1.
  const sparseMap: string[] = [];
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // some writers pad with NULs
    const space = data.indexOf(0x20, pos);
    if (space === -1 || space - pos > 20) throw new TarError('malformed PAX record length');
    const len = Number(data.toString('latin1', pos, space));
    if (!Number.isInteger(len) || len <= space - pos + 1 || pos + len > data.length) {
      throw new TarError('malformed PAX record');
    }
    const record = data.subarray(space + 1, pos + len);
    if (record[record.length - 1] !== 0x0a) throw new TarError('PAX record without newline');
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw new TarError('PAX record without key');
    const key = record.toString('utf8', 0, eq);
    const value = record.subarray(eq + 1, record.length - 1);
    if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes') {
      if ((key === 'GNU.sparse.offset') !== (sparseMap.length % 2 === 0)) {
        throw new TarError('GNU sparse offset and numbytes records out of order');
      }
      sparseMap.push(value.toString('latin1'));
    } else {
      records.set(key, value);
    }
    pos += len;
  }
  if (sparseMap.length > 0) records.set('GNU.sparse.map', Buffer.from(sparseMap.join(',')));
  return records;
}

// ---------------------------------------------------------------------------------------------
// Encoding

function writeString(block: Buffer, value: string, start: number, len: number): boolean {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > len) return false;
  bytes.copy(block, start);
  return true;
}

function fitsOctal(value: number, len: number): boolean {
  return Number.isInteger(value) && value >= 0 && value < 8 ** (len - 1);
}

function writeOctal(block: Buffer, value: number, start: number, len: number): void {
  block.write(value.toString(8).padStart(len - 1, '0') + '\0', start, len, 'latin1');
}

function isAscii(value: string): boolean {
  // eslint-disable-next-line no-control-regex -- ASCII test
  return /^[\x01-\x7f]*$/.test(value);
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), body]);
}

function encodeBlock(raw: RawHeader): Buffer {
  const block = Buffer.alloc(BLOCK);
  writeString(block, raw.name, 0, 100);
  writeOctal(block, raw.mode, 100, 8);
  writeOctal(block, raw.uid, 108, 8);
  writeOctal(block, raw.gid, 116, 8);
  writeOctal(block, raw.size, 124, 12);
  writeOctal(block, raw.mtime, 136, 12);
  block.write(raw.flag, 156, 1, 'latin1');
  writeString(block, raw.linkName, 157, 100);
  block.write('ustar\x0000', 257, 8, 'latin1');
  writeString(block, raw.uname, 265, 32);
  writeString(block, raw.gname, 297, 32);
  writeOctal(block, raw.devMajor, 329, 8);
  writeOctal(block, raw.devMinor, 337, 8);
  writeOctal(block, checksum(block), 148, 7);
  block[155] = 0x20;
  return block;
}

function padToBlock(data: Buffer): Buffer {
  const rem = data.length % BLOCK;
  return rem === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rem)]);
}

/**
 * Encodes a header as ustar, preceded by a PAX extended header whenever a value does not fit
 * ustar (long or non-ASCII names, big numbers, fractional mtime, xattrs, preserved PAX records).
 */
export function encodeHeader(h: TarHeader): Buffer {
  const pax: Buffer[] = [];
  const str = (key: string, value: string, len: number) => {
    if (!isAscii(value) || Buffer.byteLength(value) > len) {
      pax.push(paxRecord(key, Buffer.from(value, 'utf8')));
      return '';
    }
    return value;
  };
  const num = (key: string, value: number, len: number, text = String(value)) => {
    if (fitsOctal(value, len)) return value;
    pax.push(paxRecord(key, Buffer.from(text)));
    return 0;
  };
  const exactMtime =
    h.mtimeText !== undefined && paxTime(h.mtimeText) === h.mtime ? h.mtimeText : undefined;
  const raw: RawHeader = {
    name: str('path', h.name, 100),
    flag: TYPE_FLAG[h.type],
    mode: h.mode & 0o7777,
    uid: num('uid', h.uid, 8),
    gid: num('gid', h.gid, 8),
    size: num('size', h.size, 12),
    mtime: num('mtime', h.mtime, 12, exactMtime),
    linkName: str('linkpath', h.linkName, 100),
    uname: str('uname', h.uname, 32),
    gname: str('gname', h.gname, 32),
    devMajor: h.devMajor,
    devMinor: h.devMinor,
  };
  if (!Number.isInteger(h.mtime) && h.mtime >= 0) raw.mtime = Math.floor(h.mtime);
  for (const [key, value] of h.paxExtra) pax.push(paxRecord(key, Buffer.from(value, 'utf8')));
  for (const [key, value] of h.xattrs) pax.push(paxRecord(`SCHILY.xattr.${key}`, value));
  const main = encodeBlock(raw);
  if (pax.length === 0) return main;
  const data = Buffer.concat(pax);
  const paxHeader = encodeBlock({
    ...raw,
    name:
      'PaxHeaders/' +
      Buffer.from(raw.name || 'entry')
        .toString('latin1')
        .slice(0, 80),
    flag: 'x',
    size: data.length,
    linkName: '',
  });
  return Buffer.concat([paxHeader, padToBlock(data), main]);
}

/** Zero padding after a body of `size` bytes, up to the next block boundary. */
export function paddingFor(size: number): number {
  const rem = size % BLOCK;
  return rem === 0 ? 0 : BLOCK - rem;
}

/**
 * A PAX time (`1700000000.999999999`) in seconds. Its whole seconds stay exact: as one double that
 * value rounds up to 1700000001, and a converter that keeps whole seconds (an eStargz TOC) then
 * wrote the next second where extracting the tar gives this one.
 */
export function paxTime(text: string): number | undefined {
  const match = /^(-?\d+)(?:\.(\d*))?$/.exec(text.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]);
  const fraction = Number(`0.${match[2] || '0'}`);
  if (!Number.isSafeInteger(seconds)) return undefined;
  if (fraction === 0) return seconds;
  // Negative times count back from the epoch: -1.5 is 1.5 s before it.
  const value = match[1].startsWith('-') ? seconds - fraction : seconds + fraction;
  const whole = match[1].startsWith('-') ? seconds - 1 : seconds;
  // The largest double below whole + 1 when the sum rounded onto it.
  return Math.floor(value) === whole
    ? value
    : whole + 1 - 2 ** (Math.floor(Math.log2(Math.abs(whole) + 1)) - 52);
}
