// A layer's TOC sits just before its footer, but how far before is only known once the footer
// has arrived. Reading the tail first and then the rest of a large TOC puts a second, dependent
// round of requests on the lookup path, each in TCP slow start: a 400 KiB TOC cost ~9 round
// trips that way. So, beside the tail read, the store reads the stretch before the tail where a
// TOC of a layer of this size would usually lie, in a few parallel pieces (several connections
// ramp up faster than one). When the footer then asks for the rest of the TOC, the bytes are
// already arriving; when the TOC fitted in the tail, the pieces are aborted.
import { DEFAULT_LIMITS } from '../estargz/index.ts';
import { Annotations, type Descriptor } from '../image/types.ts';
import type { ByteRange } from '../registry/index.ts';

export interface SpeculationSource {
  readRange(
    start: number,
    end: number,
    opts: { signal?: AbortSignal; onData?: (piece: Buffer, offset: number) => void },
  ): Promise<Buffer>;
}

/**
 * Layer bytes per speculatively read byte. TOCs measured here: 0.4 % of a Debian+Python base
 * layer, 4 % of a node_modules layer, nearly 0 % of a model layer. A generous guess costs little:
 * the pieces are aborted as soon as the tail shows a TOC that needs none of them (≈ 2 round
 * trips in, while they are still in TCP slow start).
 */
const LAYER_BYTES_PER_GUESSED_BYTE = 16;
/** At most this much per layer, whatever its size (a TOC of ~15k files). */
export const MAX_SPECULATIVE_BYTES = 1 << 20;
/**
 * Pieces in flight for one image's TOCs: half of the registry's 24 connections, the rest left to
 * the boot ranges, the tails, the config and the manifest (12 of 16 until session 10). Within
 * that, pieces are as small as they can be: each halving of a piece saves a round trip of slow
 * start (a 256 KiB piece on a fresh connection takes 5 round trips, a 64 KiB one 3: python's pull
 * at 80 ms went from 1.52 s to 1.35 s), but more pieces than connections queue (node's three
 * layers in 64 KiB pieces: 1.84 s against 1.64).
 */
const PIECES_PER_IMAGE = 12;
const MIN_PIECE_BYTES = 64 * 1024;
const MAX_PIECE_BYTES = 256 * 1024;

/** The range a layer of `blobSize` bytes gets read speculatively before its last `tailBytes`. */
export function speculativeRange(blobSize: number, tailBytes: number): ByteRange | undefined {
  const end = blobSize - tailBytes;
  const guess = Math.min(
    Math.floor(blobSize / LAYER_BYTES_PER_GUESSED_BYTE),
    MAX_SPECULATIVE_BYTES,
  );
  if (end <= 0 || guess <= tailBytes) return undefined; // such a TOC would fit in the tail
  return { start: Math.max(0, end - guess), end };
}

/**
 * The stretch before the tail to read beside it: exactly the TOC when the layer says where it
 * starts (`slipstream convert` writes the offset), else a guess by the layer's size. A hint that
 * lies costs time, never correctness: the footer decides what is read, the TOC digest what is
 * accepted; a hint past the limits is ignored.
 */
export function tocReadRange(
  desc: Pick<Descriptor, 'size' | 'annotations'>,
  tailBytes: number,
): ByteRange | undefined {
  const hint = desc.annotations?.[Annotations.estargzTocOffset];
  const offset = hint !== undefined && /^\d{1,15}$/.test(hint) ? Number(hint) : -1;
  const end = desc.size - tailBytes;
  if (offset >= 0 && offset < desc.size) {
    if (desc.size - offset > DEFAULT_LIMITS.maxTocCompressedBytes) return undefined;
    return offset < end ? { start: offset, end } : undefined; // else the tail holds the TOC
  }
  return speculativeRange(desc.size, tailBytes);
}

/** The piece size for an image whose TOC reads add up to `totalBytes` (see PIECES_PER_IMAGE). */
export function tocPieceBytes(totalBytes: number): number {
  const even = Math.ceil(totalBytes / PIECES_PER_IMAGE);
  return Math.min(MAX_PIECE_BYTES, Math.max(MIN_PIECE_BYTES, even));
}

interface Piece {
  range: ByteRange;
  bytes: Promise<Buffer>;
  abort: AbortController;
  /** The response's pieces so far, and where each starts in the range (for `stream`). */
  arrived: Buffer[];
  starts: number[];
  arrivedBytes: number;
  /** All of it, once the read has completed. */
  done: Buffer | undefined;
  failed: boolean;
}

/** Where `stream` has got to: piece index, offset in that piece, next arrived piece to look at. */
interface Tap {
  sink: (bytes: Buffer) => void;
  piece: number;
  offset: number;
  next: number;
  settle: (delivered: boolean) => void;
}

export class TocSpeculation {
  readonly #source: SpeculationSource;
  readonly #range: ByteRange;
  readonly #pieces: Piece[] = [];
  #tap: Tap | undefined;

  constructor(source: SpeculationSource, range: ByteRange, pieceBytes = MAX_PIECE_BYTES) {
    this.#source = source;
    this.#range = range;
    const count = Math.ceil((range.end - range.start) / pieceBytes);
    const size = Math.ceil((range.end - range.start) / count);
    for (let start = range.start; start < range.end; start += size) {
      const abort = new AbortController();
      const piece: Piece = {
        range: { start, end: Math.min(range.end, start + size) },
        bytes: undefined as unknown as Promise<Buffer>,
        abort,
        arrived: [],
        starts: [],
        arrivedBytes: 0,
        done: undefined,
        failed: false,
      };
      piece.bytes = source.readRange(piece.range.start, piece.range.end, {
        signal: abort.signal,
        onData: (bytes, offset) => this.#arrived(piece, bytes, offset),
      });
      piece.bytes.then(
        (all) => {
          piece.done = all;
          piece.arrived = [];
          piece.starts = [];
          this.#pump();
        },
        // Awaited only if needed; an aborted piece is not an error.
        () => {
          piece.failed = true;
          piece.arrived = [];
          piece.starts = [];
          this.#pump();
        },
      );
      this.#pieces.push(piece);
    }
  }

  /** Whether [start, end) ends where the speculation ends (only then can it help). */
  serves(start: number, end: number): boolean {
    return end === this.#range.end && start < end;
  }

  /**
   * Bytes [start, end): the speculative pieces that overlap it, plus whatever lies before them
   * (read now, in parallel with the pieces still arriving). Pieces wholly before it are aborted.
   */
  async read(start: number, end: number): Promise<Buffer> {
    if (!this.serves(start, end)) throw new RangeError(`[${start}, ${end}) is not speculated`);
    const parts: Promise<Buffer>[] = [];
    if (start < this.#range.start) parts.push(this.#source.readRange(start, this.#range.start, {}));
    for (const piece of this.#pieces) {
      if (piece.range.end <= start) {
        piece.abort.abort(new Error('before the TOC'));
        continue;
      }
      const skip = Math.max(0, start - piece.range.start);
      parts.push(piece.bytes.then((b) => (skip ? b.subarray(skip) : b)));
    }
    return Buffer.concat(await Promise.all(parts));
  }

  /**
   * Hands the speculated bytes from `start` on to `sink` in order, as they arrive (what has
   * arrived already at once), beside `read`: the TOC is parsed while it arrives. Resolves true
   * once every byte up to the end has been handed over, false if a piece failed; undefined if
   * the speculation does not hold `start` (or streams already).
   */
  stream(start: number, sink: (bytes: Buffer) => void): Promise<boolean> | undefined {
    if (this.#tap || start < this.#range.start || start >= this.#range.end) return undefined;
    const piece = this.#pieces.findIndex((p) => p.range.end > start);
    return new Promise((settle) => {
      this.#tap = { sink, piece, offset: start - this.#pieces[piece].range.start, next: 0, settle };
      this.#pump();
    });
  }

  /** Stops every piece still in flight: the TOC has been read (or the lookup gave up). */
  cancel(): void {
    for (const piece of this.#pieces) piece.abort.abort(new Error('TOC read without it'));
    this.#settle(false);
  }

  #arrived(piece: Piece, bytes: Buffer, offset: number): void {
    if (offset !== piece.arrivedBytes) {
      // A retry starts again at 0: from now on this piece streams only once it has completed.
      piece.arrivedBytes = Number.NEGATIVE_INFINITY;
      return;
    }
    piece.arrived.push(bytes);
    piece.starts.push(offset);
    piece.arrivedBytes += bytes.length;
    this.#pump();
  }

  /** Hands the tap whatever has arrived in order since it last looked. */
  #pump(): void {
    const tap = this.#tap;
    if (!tap) return;
    try {
      for (; tap.piece < this.#pieces.length; tap.piece++, tap.offset = 0, tap.next = 0) {
        const piece = this.#pieces[tap.piece];
        const size = piece.range.end - piece.range.start;
        if (piece.failed) break;
        if (piece.done) {
          if (tap.offset < size) tap.sink(piece.done.subarray(tap.offset));
          continue;
        }
        for (; tap.next < piece.arrived.length; tap.next++) {
          const bytes = piece.arrived[tap.next];
          const end = piece.starts[tap.next] + bytes.length;
          if (end <= tap.offset) continue;
          tap.sink(bytes.subarray(tap.offset - piece.starts[tap.next]));
          tap.offset = end;
        }
        return; // this piece is still arriving
      }
    } catch {
      this.#settle(false);
      return;
    }
    this.#settle(tap.piece === this.#pieces.length);
  }

  #settle(delivered: boolean): void {
    const tap = this.#tap;
    this.#tap = undefined;
    tap?.settle(delivered);
  }
}
