// Typed errors of the eStargz codec. Callers branch on `code`, never on message text.

export const EstargzErrorCode = {
  /** Footer missing, truncated or malformed (also: not an eStargz/stargz blob). */
  badFooter: 'BAD_FOOTER',
  /** TOC gzip member / tar / JSON malformed. */
  badToc: 'BAD_TOC',
  /** A configured limit (TOC bytes, entries, sizes) was exceeded. */
  limitExceeded: 'LIMIT_EXCEEDED',
  /** The TOC's sha256 does not match the expected `toc.digest` annotation. */
  tocDigestMismatch: 'TOC_DIGEST_MISMATCH',
  /** An entry path is absolute, empty, contains NUL or a `..` component. */
  badPath: 'BAD_PATH',
  /** Two entries for the same path, or a path below a non-directory. */
  duplicateEntry: 'DUPLICATE_ENTRY',
  /** A hardlink whose target is missing or is a directory. */
  badHardlink: 'BAD_HARDLINK',
  /** Offsets/chunks out of order, overlapping, outside the blob, or sizes inconsistent. */
  badChunk: 'BAD_CHUNK',
  /** A field has the wrong type or value. */
  badEntry: 'BAD_ENTRY',
  /** Decompressed chunk bytes do not match their digest. */
  chunkDigestMismatch: 'CHUNK_DIGEST_MISMATCH',
  /** The compressed bytes handed in do not inflate to the expected chunk. */
  badChunkData: 'BAD_CHUNK_DATA',
  /** The layer has no digests to verify a chunk against. */
  unverifiable: 'UNVERIFIABLE',
  /** The blob is a format we recognise but do not support (zstd:chunked). */
  unsupportedFormat: 'UNSUPPORTED_FORMAT',
} as const;
export type EstargzErrorCode = (typeof EstargzErrorCode)[keyof typeof EstargzErrorCode];

export class EstargzError extends Error {
  override readonly name = 'EstargzError';
  readonly code: EstargzErrorCode;

  constructor(code: EstargzErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function fail(code: EstargzErrorCode, message: string): never {
  throw new EstargzError(code, message);
}
