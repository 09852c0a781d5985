// A TOC parsed while it arrives. A lookup's TOC takes several round trips to arrive (TCP slow
// start) and ~100 ms of one core to inflate and parse once it has (node's 20k entries): here the
// compressed bytes are inflated on the thread pool as they come, the tar header skipped, the JSON
// hashed and cut into runs of whole entries (toc-splitter.ts), and each run parsed and added to
// the index at once. The index is handed out only if the JSON's digest matches the layer's
// annotation and the document had the shape eStargz writers produce; otherwise `result` says
// undefined and the caller parses the whole TOC as before (which also names any error). So this
// is never less strict than parseToc: it only starts earlier.
import { createHash, type Hash } from 'node:crypto';
import { createGunzip, type Gunzip } from 'node:zlib';

import { BLOCK, decodeBlock } from '../tar/header.ts';
import { EstargzError, EstargzErrorCode as E } from './errors.ts';
import type { FooterFormat } from './footer.ts';
import type { LayerIndex } from './layer-index.ts';
import { DEFAULT_LIMITS, type EntryBudget, type TocLimits } from './limits.ts';
import { TocEntrySplitter } from './toc-splitter.ts';
import { TOC_NAME, TocIndexBuilder } from './toc.ts';

/**
 * Compressed bytes per zlib write. A response arrives in socket reads of a few KiB (through the
 * benchmark's delay line, often one packet each), and each write is a thread-pool job and a
 * callback. A 26k-entry TOC arriving in 1448-byte reads at about 58 MB/s, each written at once:
 * its index was ready 180–240 ms after the last byte (parsed whole: 77–98 ms); in 64 KiB
 * writes, 63–71 ms.
 */
const WRITE_BYTES = 64 * 1024;

export interface TocStreamOptions {
  /** `sha256:<hex>` from the layer's annotation: nothing is handed out without it matching. */
  expectedTocDigest: string;
  limits?: Partial<TocLimits>;
  /** Shared entry budget the parse takes from (see EntryBudget). */
  entryBudget?: EntryBudget;
}

export class TocStreamParser {
  readonly #expected: string;
  readonly #limits: TocLimits;
  readonly #gunzip: Gunzip;
  readonly #inflated: Promise<void>;
  readonly #hash: Hash = createHash('sha256');
  readonly #splitter = new TocEntrySplitter();
  readonly #builder: TocIndexBuilder;
  /** The tar header's bytes until all 512 have come. */
  #header: Buffer[] = [];
  #headerBytes = 0;
  /** JSON bytes still to come (-1 until the header is read). */
  #jsonLeft = -1;
  #inflatedBytes = 0;
  /** Compressed bytes pushed but not yet given to zlib (see WRITE_BYTES). */
  #unwritten: Buffer[] = [];
  #unwrittenBytes = 0;
  /** Inflated pieces waiting to be parsed (see #queue). */
  #pending: Buffer[] = [];
  #failure: string | undefined;
  #limitError: EstargzError | undefined;

  constructor(options: TocStreamOptions) {
    this.#expected = options.expectedTocDigest;
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#builder = new TocIndexBuilder(this.#limits, options.entryBudget);
    // Output pieces of 256 KiB: a few hundred entries per run, parsed in a few ms each, so FUSE
    // requests still get the thread between runs.
    this.#gunzip = createGunzip({ chunkSize: 256 * 1024 });
    this.#inflated = new Promise((resolve) => {
      this.#gunzip.on('data', (piece: Buffer) => this.#queue(piece));
      this.#gunzip.once('end', resolve);
      this.#gunzip.once('close', resolve);
      this.#gunzip.on('error', (e) => {
        this.#giveUp(`inflate: ${e.message}`);
        resolve();
      });
    });
  }

  /** The limit the TOC went past, when that is why the parse was given up. */
  get limitError(): EstargzError | undefined {
    return this.#limitError;
  }

  /** Why the streamed parse was given up (undefined while it has not been). */
  get failure(): string | undefined {
    return this.#failure;
  }

  /** The next compressed bytes of the TOC member, in order. */
  push(compressed: Buffer): void {
    if (this.#failure !== undefined || compressed.length === 0) return;
    this.#unwritten.push(compressed);
    this.#unwrittenBytes += compressed.length;
    if (this.#unwrittenBytes >= WRITE_BYTES) this.#write();
  }

  /** The last byte has been pushed. */
  end(): void {
    if (this.#failure !== undefined) return;
    this.#write();
    this.#gunzip.end();
  }

  #write(): void {
    if (this.#unwrittenBytes === 0) return;
    const unwritten = this.#unwritten;
    this.#gunzip.write(unwritten.length === 1 ? unwritten[0] : Buffer.concat(unwritten));
    this.#unwritten = [];
    this.#unwrittenBytes = 0;
  }

  /**
   * The layer's index, once everything pushed has been inflated and parsed; undefined if the
   * streamed parse was given up, the document was incomplete, or its digest does not match.
   */
  async result(meta: {
    tocOffset: number;
    format: FooterFormat | 'unknown';
  }): Promise<LayerIndex | undefined> {
    await this.#inflated;
    while (this.#pending.length > 0) await new Promise((resolve) => setImmediate(resolve));
    if (this.#failure !== undefined) return undefined;
    if (this.#jsonLeft !== 0 || !this.#splitter.complete) {
      this.#giveUp('the TOC ended early');
      return undefined;
    }
    const tocDigest = 'sha256:' + this.#hash.digest('hex');
    if (tocDigest !== this.#expected) {
      this.#giveUp('digest mismatch');
      return undefined;
    }
    try {
      return this.#builder.finish({ ...meta, tocDigest, tocVerified: true });
    } catch (e) {
      this.#giveUp((e as Error).message);
      return undefined;
    }
  }

  /**
   * Inflated pieces are parsed in later turns of the event loop, not in zlib's callback: zlib
   * starts inflating the next input when its callback returns, so the thread pool inflates while
   * this thread parses (parsed in the callback, the two took turns). One piece per turn (a few
   * ms of parsing), so that FUSE requests and other lookups get the thread in between.
   */
  #queue(piece: Buffer): void {
    this.#pending.push(piece);
    if (this.#pending.length === 1) setImmediate(() => this.#parseNext());
  }

  #parseNext(): void {
    const piece = this.#pending.shift();
    if (piece) this.#onTar(piece);
    if (this.#pending.length > 0) setImmediate(() => this.#parseNext());
  }

  #onTar(piece: Buffer): void {
    if (this.#failure !== undefined) return;
    this.#inflatedBytes += piece.length;
    if (this.#inflatedBytes > this.#limits.maxTocBytes + 64 * 1024) {
      this.#giveUp('the TOC inflates beyond the limit');
      return;
    }
    let rest = piece;
    if (this.#jsonLeft < 0) {
      rest = this.#takeHeader(piece);
      if (this.#jsonLeft < 0) return;
    }
    if (this.#jsonLeft === 0 || rest.length === 0) return;
    const json = rest.length > this.#jsonLeft ? rest.subarray(0, this.#jsonLeft) : rest;
    this.#jsonLeft -= json.length;
    this.#hash.update(json);
    try {
      this.#addRun(this.#splitter.push(json));
      if (this.#jsonLeft === 0) this.#addRun(this.#splitter.end());
      if (this.#splitter.failure !== undefined) this.#giveUp(this.#splitter.failure);
    } catch (e) {
      // Not valid JSON where a run was cut (see toc-splitter.ts), or an entry parseToc refuses.
      if (e instanceof EstargzError && e.code === E.limitExceeded) this.#limitError = e;
      this.#giveUp((e as Error).message);
    }
  }

  /** Collects the tar header; once whole, checks it names the TOC. Returns the bytes after it. */
  #takeHeader(piece: Buffer): Buffer {
    const need = BLOCK - this.#headerBytes;
    this.#header.push(piece.subarray(0, need));
    this.#headerBytes += Math.min(need, piece.length);
    if (this.#headerBytes < BLOCK) return piece.subarray(piece.length);
    try {
      const header = decodeBlock(Buffer.concat(this.#header));
      if (header.name !== TOC_NAME || (header.flag !== '0' && header.flag !== '\0')) {
        this.#giveUp(`first tar entry is ${JSON.stringify(header.name)}`);
      } else if (header.size > this.#limits.maxTocBytes) {
        this.#giveUp('the TOC is larger than the limit');
      } else {
        this.#jsonLeft = header.size;
      }
    } catch (e) {
      this.#giveUp((e as Error).message);
    }
    this.#header = [];
    return piece.subarray(need);
  }

  #addRun(run: string | undefined): void {
    if (run === undefined) return;
    for (const entry of JSON.parse(run) as unknown[]) this.#builder.add(entry);
  }

  /** Stops: the caller will not ask for the result (its read failed, or it parses otherwise). */
  abandon(why: string): void {
    this.#giveUp(why);
  }

  #giveUp(why: string): void {
    if (this.#failure !== undefined) return;
    this.#failure = why;
    this.#gunzip.destroy();
  }
}
