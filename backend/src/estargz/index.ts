// eStargz codec: reading (footer → TOC → verified file tree → verified chunks) and writing.
//
// ## Reading a layer lazily (what the agent's layer store does)
//
//   1. Fetch the blob's tail with ONE suffix range, e.g. `Range: bytes=-1048576` (size comes from
//      the manifest descriptor). `locateToc(tail, blobSize, limits)` parses the 51-byte eStargz or
//      47-byte legacy footer and returns either
//        { kind: 'complete', footer, tocGzip }           the compressed TOC is inside the tail, or
//        { kind: 'need', footer, start, end }            fetch [start, end), prepend it, call again.
//   2. `extractTocJson(tocGzip, limits)` → the uncompressed `stargz.index.json` bytes.
//   3. `parseToc(json, { tocOffset: footer.tocOffset, expectedTocDigest, format, limits })`
//      verifies sha256(json) against the manifest annotation `containerd.io/snapshot/stargz/
//      toc.digest` (TOC_DIGEST_MISMATCH otherwise) and returns a `LayerIndex`. Steps 1–3 in one
//      call: `openLayerIndex({ blobSize, readRange, expectedTocDigest })`; given `streamRange`
//      too, it parses a TOC that lies before the tail while its bytes arrive (`toc-stream.ts`).
//   4. `LayerIndex` (inode 1 = root):
//        stat(ino) → { mode (S_IF* | perms), uid, gid, size, mtimeMs, rdev, nlink, ... }
//        lookup(dirIno, name), readdir(dirIno), readlink(ino), xattrs(ino), path(ino), resolve(p)
//        chunksFor(ino, offset, length) → ChunkRef[] { compressedOffset, compressedEnd,
//          innerOffset, fileOffset, size, verification, digest }
//        prefetchBoundary (compressed offset of `.prefetch.landmark`), prefetchChunks(),
//        hasNoPrefetchLandmark, verifiable (false: some chunk has no digest → do not serve lazily)
//      Whiteouts `.wh.x` appear as char devices 0:0 named `x`; `.wh..wh..opq` sets
//      `trusted.overlay.opaque` and `user.overlay.opaque` = "y" on its directory; hardlinks share
//      one inode (nlink counts them); missing parent directories are created with mode 0755.
//   5. For a chunk: fetch bytes [compressedOffset, compressedEnd) and call
//      `readChunk(chunk, bytes)` → the verified uncompressed chunk (CHUNK_DIGEST_MISMATCH,
//      BAD_CHUNK_DATA, UNVERIFIABLE otherwise).
//
// Every failure is an `EstargzError` with a `code` from `EstargzErrorCode`. Limits (`TocLimits`)
// bound the TOC size, entry count, file and chunk sizes, and xattrs.
//
// ## Writing
//   `buildEstargz(openTar, out, { chunkSize, level, prioritize })` converts a tar stream (a
//   source that repeats a path fails with DUPLICATE_ENTRY: `scanDuplicates(openTar)` then pass
//   `lastOccurrence` to keep the winners, as convert does);
//   `EstargzWriter` is the lower-level entry-by-entry API. Both return digest, size, DiffID,
//   uncompressed size and TOC digest.
import { EstargzErrorCode as E, fail } from './errors.ts';
import type { Footer } from './footer.ts';
import type { LayerIndex } from './layer-index.ts';
import type { EntryBudget, TocLimits } from './limits.ts';
import { locateToc, extractTocJson } from './tail.ts';
import { TocStreamParser } from './toc-stream.ts';
import { parseToc } from './toc.ts';

export {
  buildEstargz,
  scanDuplicates,
  type BuildEstargzOptions,
  type BuildEstargzResult,
  type TarSource,
} from './build.ts';
export { readChunk, type ReadChunkOptions } from './chunk.ts';
export { DETECT_TAIL_BYTES, detectFormat, type FormatReport, type LayerFormat } from './detect.ts';
export { EstargzError, EstargzErrorCode } from './errors.ts';
export {
  FOOTER_SIZE,
  LEGACY_FOOTER_SIZE,
  MAX_FOOTER_SIZE,
  createFooter,
  parseFooter,
  type Footer,
  type FooterFormat,
} from './footer.ts';
export {
  ChunkVerification,
  LayerIndex,
  ROOT_INO,
  S_IFBLK,
  S_IFCHR,
  S_IFDIR,
  S_IFIFO,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  type ChunkRef,
  type DirEntry,
  type InodeAttr,
} from './layer-index.ts';
export { DEFAULT_LIMITS, type EntryBudget, type TocLimits } from './limits.ts';
export { extractTocJson, locateToc, type TocLocation } from './tail.ts';
export {
  NO_PREFETCH_LANDMARK,
  PREFETCH_LANDMARK,
  TOC_NAME,
  normalizeEntryPath,
  parseToc,
  sha256Digest,
  type ParseTocOptions,
} from './toc.ts';
export {
  DEFAULT_CHUNK_SIZE,
  MAX_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  EstargzWriter,
  type EstargzWriteResult,
  type EstargzWriterOptions,
} from './writer.ts';

export interface OpenLayerIndexOptions {
  /** Compressed blob size (from the manifest descriptor). */
  blobSize: number;
  /** Reads blob bytes [start, end). */
  readRange: (start: number, end: number) => Promise<Buffer>;
  /** The `containerd.io/snapshot/stargz/toc.digest` annotation; omit only for inspection. */
  expectedTocDigest?: string;
  /**
   * Optional: hands blob bytes [start, end) to `sink` in order as they arrive, beside the
   * `readRange` of the same bytes, and resolves true once all of them have been handed over
   * (false if it could not); undefined if it cannot stream that range. The TOC is then parsed
   * while it arrives (toc-stream.ts). Used only with `expectedTocDigest`.
   */
  streamRange?: (
    start: number,
    end: number,
    sink: (bytes: Buffer) => void,
  ) => Promise<boolean> | undefined;
  /** Told whether the index came from the streamed parse, and if not, why not. */
  onStreamOutcome?: (outcome: { streamed: boolean; why?: string }) => void;
  /** Size of the first suffix read (default 1 MiB). */
  tailBytes?: number;
  limits?: Partial<TocLimits>;
  /** Shared entry budget the parse takes from (see EntryBudget). */
  entryBudget?: EntryBudget;
}

/**
 * Starts parsing the TOC bytes [start, end) as they arrive; `finish` adds the TOC's last bytes
 * (those in the tail) and gives the index, or undefined if the streamed parse did not work out.
 */
function streamToc(options: OpenLayerIndexOptions, start: number, end: number) {
  const parser = new TocStreamParser({
    expectedTocDigest: options.expectedTocDigest!,
    ...(options.limits && { limits: options.limits }),
    ...(options.entryBudget && { entryBudget: options.entryBudget }),
  });
  const delivered = options.streamRange!(start, end, (bytes) => parser.push(bytes));
  if (!delivered) {
    parser.abandon('the reader cannot stream the TOC range');
    options.onStreamOutcome?.({ streamed: false, why: parser.failure! });
    return undefined;
  }
  return {
    async finish(rest: Buffer, footer: Footer): Promise<LayerIndex | undefined> {
      if (!(await delivered.catch(() => false))) parser.abandon('the TOC bytes did not all stream');
      parser.push(rest);
      parser.end();
      const index = await parser.result({ tocOffset: footer.tocOffset, format: footer.format });
      options.onStreamOutcome?.(
        index ? { streamed: true } : { streamed: false, why: parser.failure ?? 'unknown' },
      );
      // Over a limit: parsing it again whole would hit the same limit, after holding it all.
      if (parser.limitError) throw parser.limitError;
      if (!index) options.entryBudget?.giveBack();
      return index;
    },
    abandon: () => parser.abandon('the TOC read failed'),
  };
}

/** Footer + TOC + index in at most two reads (one when the TOC fits in `tailBytes`). */
export async function openLayerIndex(options: OpenLayerIndexOptions): Promise<LayerIndex> {
  const { blobSize, readRange, limits } = options;
  const tailBytes = Math.min(blobSize, options.tailBytes ?? 1 << 20);
  let tail = await readRange(blobSize - tailBytes, blobSize);
  let location = locateToc(tail, blobSize, limits);
  let streamed: Promise<LayerIndex | undefined> | undefined;
  if (location.kind === 'need') {
    const { start, end } = location;
    const stream =
      options.expectedTocDigest && options.streamRange ? streamToc(options, start, end) : undefined;
    try {
      const head = await readRange(start, end);
      if (head.length !== end - start) fail(E.badToc, 'short read of the TOC');
      tail = Buffer.concat([head, tail]);
      location = locateToc(tail, blobSize, limits);
      if (location.kind === 'need') fail(E.badToc, 'TOC range still incomplete after a re-read');
      // The TOC's last bytes lie in the first read, before the footer.
      streamed = stream?.finish(location.tocGzip.subarray(head.length), location.footer);
    } catch (e) {
      stream?.abandon();
      throw e;
    }
  }
  const index = await streamed;
  if (index) return index;
  const json = await extractTocJson(location.tocGzip, limits);
  return parseToc(json, {
    tocOffset: location.footer.tocOffset,
    format: location.footer.format,
    ...(options.expectedTocDigest !== undefined && {
      expectedTocDigest: options.expectedTocDigest,
    }),
    ...(limits && { limits }),
    ...(options.entryBudget && { entryBudget: options.entryBudget }),
  });
}
