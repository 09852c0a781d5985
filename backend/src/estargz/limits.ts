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

/**
 * Entries shared by several TOC parses (a node agent's budget for every open layer): a parse
 * takes each entry as it adds it, and the budget throws an EstargzError (LIMIT_EXCEEDED) when
 * it is spent, so a hostile TOC is refused once it passes its share, not after it is all in
 * memory. `giveBack` returns what this parse took (a parse given up and started over).
 */
export interface EntryBudget {
  take(count: number): void;
  giveBack(): void;
}
