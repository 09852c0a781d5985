// From the last bytes of a blob to its TOC JSON: footer → TOC range → inflate → tar → JSON.
// Designed for ONE suffix-range request: fetch the last N bytes (e.g. 1 MiB); if the TOC starts
// before them, `locateToc` names exactly the missing range so a second request completes it.
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';

import { readTar } from '../tar/reader.ts';
import { EstargzError, EstargzErrorCode as E, fail } from './errors.ts';
import { parseFooter, type Footer } from './footer.ts';
import { DEFAULT_LIMITS, type TocLimits } from './limits.ts';
import { TOC_NAME } from './toc.ts';

const gunzipAsync = promisify(gunzip);

export type TocLocation =
  | {
      kind: 'complete';
      footer: Footer;
      /** The compressed TOC: the gzip member(s) from the TOC offset up to the footer. */
      tocGzip: Buffer;
    }
  | {
      kind: 'need';
      footer: Footer;
      /** Fetch blob bytes [start, end) and call again with them prepended to `tail`. */
      start: number;
      end: number;
    };

/**
 * `tail` holds the last `tail.length` bytes of a blob of `blobSize` bytes. Returns the compressed
 * TOC if it is fully inside `tail`, else the exact byte range still missing.
 */
export function locateToc(
  tail: Buffer,
  blobSize: number,
  limits: Partial<TocLimits> = {},
): TocLocation {
  const maxToc = limits.maxTocCompressedBytes ?? DEFAULT_LIMITS.maxTocCompressedBytes;
  if (!Number.isSafeInteger(blobSize) || tail.length > blobSize) {
    fail(E.badFooter, `tail of ${tail.length} bytes is longer than the blob (${blobSize})`);
  }
  const footer = parseFooter(tail);
  const tocEnd = blobSize - footer.size;
  if (footer.tocOffset >= tocEnd) {
    fail(E.badFooter, `TOC offset ${footer.tocOffset} is past the end of the blob (${tocEnd})`);
  }
  if (tocEnd - footer.tocOffset > maxToc) {
    fail(E.limitExceeded, `compressed TOC of ${tocEnd - footer.tocOffset} bytes exceeds ${maxToc}`);
  }
  const tailStart = blobSize - tail.length;
  if (footer.tocOffset < tailStart) {
    return { kind: 'need', footer, start: footer.tocOffset, end: tailStart };
  }
  const from = footer.tocOffset - tailStart;
  return { kind: 'complete', footer, tocGzip: tail.subarray(from, tail.length - footer.size) };
}

/**
 * zlib's output piece for a TOC. Its default (16 KiB) cut a 6.5 MB TOC into 400 pieces, each a
 * callback on the JavaScript thread and all copied once more at the end; JSON compresses about
 * 7:1, so a guess of 8:1 makes it one piece or two. At most 32 MiB: a piece is allocated whole,
 * and a hostile TOC must not get a 256 MiB one for a few bytes of output.
 */
function tocOutputPieceBytes(compressedBytes: number): number {
  return Math.min(Math.max(64 * 1024, compressedBytes * 8), 32 * 2 ** 20);
}

/** Inflates the TOC member and returns the `stargz.index.json` bytes (the digested form). */
export async function extractTocJson(
  tocGzip: Buffer,
  limits: Partial<TocLimits> = {},
): Promise<Buffer> {
  const maxToc = limits.maxTocBytes ?? DEFAULT_LIMITS.maxTocBytes;
  let tar: Buffer;
  try {
    // Room for the tar header(s), padding and the end-of-archive blocks around the JSON.
    tar = await gunzipAsync(tocGzip, {
      maxOutputLength: maxToc + 64 * 1024,
      chunkSize: tocOutputPieceBytes(tocGzip.length),
    });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') fail(E.limitExceeded, `TOC exceeds ${maxToc} bytes`);
    throw new EstargzError(E.badToc, `TOC is not valid gzip: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    for await (const entry of readTar([tar])) {
      if (entry.header.name !== TOC_NAME || entry.header.type !== 'file') {
        fail(E.badToc, `expected ${TOC_NAME} after the TOC offset, found ${entry.header.name}`);
      }
      if (entry.header.size > maxToc) fail(E.limitExceeded, `TOC exceeds ${maxToc} bytes`);
      const parts: Buffer[] = [];
      for await (const chunk of entry.body) parts.push(chunk);
      return parts.length === 1 ? parts[0] : Buffer.concat(parts);
    }
  } catch (err) {
    if (err instanceof EstargzError) throw err;
    throw new EstargzError(E.badToc, `TOC tar is malformed: ${(err as Error).message}`, {
      cause: err,
    });
  }
  fail(E.badToc, 'TOC member holds no tar entry');
}
