// The footer at the end of an eStargz (51 bytes) or legacy CRFS stargz (47 bytes) blob: an empty
// gzip member whose Extra field holds the TOC offset as `%016x` + "STARGZ".
// Layout notes: shared/research/formats-anchors.md §1.2.
import { EstargzError, EstargzErrorCode } from './errors.ts';

export const FOOTER_SIZE = 51;
export const LEGACY_FOOTER_SIZE = 47;
/** Enough tail bytes to hold either footer. */
export const MAX_FOOTER_SIZE = FOOTER_SIZE;

export type FooterFormat = 'estargz' | 'stargz-legacy';

export interface Footer {
  format: FooterFormat;
  /** Compressed offset of the gzip member holding the TOC's tar header. */
  tocOffset: number;
  /** Footer length in bytes (51 or 47). */
  size: number;
}

// An empty stored deflate block (BFINAL=1, LEN=0, NLEN=0xffff) and a zero CRC32/ISIZE trailer.
const EMPTY_BODY = Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0]);
const MAGIC = 'STARGZ';

/** The 51-byte eStargz footer pointing at `tocOffset`. */
export function createFooter(tocOffset: number): Buffer {
  const footer = Buffer.alloc(FOOTER_SIZE);
  Buffer.from([0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff]).copy(footer, 0);
  footer.writeUInt16LE(26, 10);
  footer.write('SG', 12, 'latin1');
  footer.writeUInt16LE(22, 14);
  footer.write(tocOffset.toString(16).padStart(16, '0') + MAGIC, 16, 'latin1');
  EMPTY_BODY.copy(footer, 38);
  return footer;
}

function parsePayload(payload: Buffer): number | undefined {
  const text = payload.toString('latin1');
  if (!text.endsWith(MAGIC) || text.length !== 22) return undefined;
  const hex = text.slice(0, 16);
  if (!/^[0-9a-fA-F]{16}$/.test(hex)) return undefined;
  const offset = parseInt(hex, 16);
  return Number.isSafeInteger(offset) ? offset : undefined;
}

function gzipHeaderOk(b: Buffer, xlen: number): boolean {
  return (
    b[0] === 0x1f && b[1] === 0x8b && b[2] === 0x08 && b[3] === 0x04 && b.readUInt16LE(10) === xlen
  );
}

function tryEstargz(b: Buffer): number | undefined {
  if (b.length !== FOOTER_SIZE || !gzipHeaderOk(b, 26)) return undefined;
  if (b.toString('latin1', 12, 14) !== 'SG' || b.readUInt16LE(14) !== 22) return undefined;
  if (!b.subarray(38).equals(EMPTY_BODY)) return undefined;
  return parsePayload(b.subarray(16, 38));
}

function tryLegacy(b: Buffer): number | undefined {
  if (b.length !== LEGACY_FOOTER_SIZE || !gzipHeaderOk(b, 22)) return undefined;
  if (!b.subarray(34).equals(EMPTY_BODY)) return undefined;
  return parsePayload(b.subarray(12, 34));
}

/**
 * Parses the footer from the last bytes of a blob (`tail` must END at the blob's end and hold at
 * least 47 bytes; pass 51 or more to recognise both formats).
 */
export function parseFooter(tail: Buffer): Footer {
  if (tail.length >= FOOTER_SIZE) {
    const offset = tryEstargz(tail.subarray(tail.length - FOOTER_SIZE));
    if (offset !== undefined) return { format: 'estargz', tocOffset: offset, size: FOOTER_SIZE };
  }
  if (tail.length >= LEGACY_FOOTER_SIZE) {
    const offset = tryLegacy(tail.subarray(tail.length - LEGACY_FOOTER_SIZE));
    if (offset !== undefined) {
      return { format: 'stargz-legacy', tocOffset: offset, size: LEGACY_FOOTER_SIZE };
    }
  }
  throw new EstargzError(
    EstargzErrorCode.badFooter,
    tail.length < LEGACY_FOOTER_SIZE
      ? `need at least ${LEGACY_FOOTER_SIZE} tail bytes to read a stargz footer, got ${tail.length}`
      : 'no eStargz or stargz footer at the end of the blob',
  );
}
