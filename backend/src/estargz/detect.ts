// Recognises a layer blob's format from its first and last bytes (and the descriptor's
// annotations, which are authoritative for zstd:chunked).
import { Annotations } from '../image/types.ts';
import { EstargzError } from './errors.ts';
import { parseFooter } from './footer.ts';

export type LayerFormat =
  'estargz' | 'stargz-legacy' | 'zstd:chunked' | 'gzip' | 'zstd' | 'tar' | 'unknown';

export interface FormatReport {
  format: LayerFormat;
  /** Whether Slipstream can serve this layer lazily. */
  lazySupported: boolean;
  /** One sentence a user can act on. */
  reason: string;
}

/** Bytes every detector needs from the end of a blob (the zstd:chunked footer is 64 bytes). */
export const DETECT_TAIL_BYTES = 64;
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

export function detectFormat(input: {
  head: Buffer;
  tail: Buffer;
  annotations?: Record<string, string>;
}): FormatReport {
  const { head, tail, annotations = {} } = input;
  const magic = tail.subarray(Math.max(0, tail.length - 8)).toString('latin1');
  if (
    annotations[Annotations.zstdChunkedManifestChecksum] !== undefined ||
    annotations[Annotations.zstdChunkedManifestChecksumLegacy] !== undefined ||
    magic === 'GNUlInUx' ||
    magic === 'GnUlInUx'
  ) {
    return {
      format: 'zstd:chunked',
      lazySupported: false,
      reason:
        'zstd:chunked layers are recognised but not supported yet; convert with `slipstream convert`',
    };
  }
  try {
    const footer = parseFooter(tail);
    return footer.format === 'estargz'
      ? { format: 'estargz', lazySupported: true, reason: 'eStargz footer found' }
      : {
          format: 'stargz-legacy',
          lazySupported: true,
          reason: 'legacy stargz footer (no chunk digests: served only if file digests exist)',
        };
  } catch (err) {
    if (!(err instanceof EstargzError)) throw err;
  }
  if (head[0] === 0x1f && head[1] === 0x8b) {
    return { format: 'gzip', lazySupported: false, reason: 'plain gzip layer without a TOC' };
  }
  if (head.subarray(0, 4).equals(ZSTD_MAGIC)) {
    return { format: 'zstd', lazySupported: false, reason: 'plain zstd layer without a TOC' };
  }
  if (head.length >= 263 && head.toString('latin1', 257, 262) === 'ustar') {
    return { format: 'tar', lazySupported: false, reason: 'uncompressed tar layer' };
  }
  return { format: 'unknown', lazySupported: false, reason: 'not a recognised layer format' };
}
