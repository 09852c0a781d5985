// Limits that keep a hostile or broken layer from exhausting memory or CPU.

export interface TocLimits {
  /** Largest compressed TOC (the range from the TOC offset to the footer) we fetch. */
  maxTocCompressedBytes: number;
  /** Largest uncompressed TOC JSON. */
  maxTocBytes: number;
  /** Most TOC entries (chunks included). */
  maxEntries: number;
  /** Largest regular file size. */
  maxFileSize: number;
  /** Largest uncompressed chunk (the unit that is fetched, inflated and verified at once). */
  maxChunkBytes: number;
  /** Total bytes of xattr names and values on one entry. */
  maxXattrBytes: number;
}

export const DEFAULT_LIMITS: TocLimits = {
  maxTocCompressedBytes: 64 << 20,
  maxTocBytes: 256 << 20,
  maxEntries: 2_000_000,
  maxFileSize: 2 ** 40,
  maxChunkBytes: 64 << 20,
  maxXattrBytes: 1 << 20,
};
