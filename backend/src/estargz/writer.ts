// Streaming eStargz writer: tar entries in, eStargz blob out. Every regular file's payload starts a
// new gzip member; files larger than the chunk size are split into several members; the TOC and
// the footer close the blob. Members are compressed concurrently on libuv's threadpool (async
// zlib) and written in order, so memory stays around `concurrency × chunkSize` whatever the layer.
import { createHash, type Hash } from 'node:crypto';
import { cpus } from 'node:os';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';

import { encodeHeader, newHeader, paddingFor, type TarHeader } from '../tar/header.ts';
import { END_OF_ARCHIVE } from '../tar/writer.ts';
import { EstargzErrorCode, fail } from './errors.ts';
import { createFooter } from './footer.ts';
import { DEFAULT_LIMITS, type TocLimits } from './limits.ts';
import { NO_PREFETCH_LANDMARK, PREFETCH_LANDMARK, TOC_NAME } from './toc.ts';

const gzipAsync = promisify(gzip);

export const DEFAULT_CHUNK_SIZE = 4 << 20;
export const MIN_CHUNK_SIZE = 512;
/** The largest chunk a reader with the default limits accepts. */
export const MAX_CHUNK_SIZE = DEFAULT_LIMITS.maxChunkBytes;
const LANDMARK_CONTENT = Buffer.from([0x0f]);

export interface EstargzWriterOptions {
  /** Uncompressed bytes per chunk of large files (default 4 MiB). */
  chunkSize?: number;
  /** gzip level 1..9 (default 9, as stargz-snapshotter). */
  level?: number;
  /** gzip members compressed in parallel (default: number of CPUs, at least 2). */
  concurrency?: number;
  /** The TOC a reader accepts (default: DEFAULT_LIMITS, ours): more is refused while writing. */
  limits?: Partial<Pick<TocLimits, 'maxEntries' | 'maxTocBytes'>>;
}

export interface EstargzWriteResult {
  /** sha256 of the compressed blob. */
  digest: string;
  /** Compressed size in bytes. */
  size: number;
  /** sha256 of the uncompressed tar (the layer's DiffID). */
  diffId: string;
  /** Bytes of the uncompressed tar. */
  uncompressedSize: number;
  /** sha256 of the TOC JSON (the `containerd.io/snapshot/stargz/toc.digest` annotation). */
  tocDigest: string;
  /** TOC entries written (including chunk entries). */
  entryCount: number;
  /** Where the TOC's gzip member starts in the blob (the footer says the same). */
  tocOffset: number;
}

/** A TOC entry as serialised (zero values omitted, like the Go writer's omitempty). */
type TocEntryJson = Record<string, string | number | Record<string, string>>;

function modeFor(h: TarHeader): string {
  switch (h.type) {
    case 'file':
      return 'reg';
    case 'hardlink':
    case 'symlink':
    case 'char':
    case 'block':
    case 'dir':
    case 'fifo':
      return h.type;
  }
}

function rfc3339(seconds: number): string {
  return new Date(Math.floor(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function tocEntry(h: TarHeader): TocEntryJson {
  const e: TocEntryJson = { name: h.name, type: modeFor(h) };
  if (h.type === 'file' && h.size > 0) e.size = h.size;
  e.modtime = rfc3339(h.mtime);
  if (h.linkName) e.linkName = h.linkName;
  if (h.mode) e.mode = h.mode;
  if (h.uid) e.uid = h.uid;
  if (h.gid) e.gid = h.gid;
  if (h.uname) e.userName = h.uname;
  if (h.gname) e.groupName = h.gname;
  if (h.devMajor) e.devMajor = h.devMajor;
  if (h.devMinor) e.devMinor = h.devMinor;
  if (h.xattrs.size > 0) {
    e.xattrs = Object.fromEntries([...h.xattrs].map(([k, v]) => [k, v.toString('base64')]));
  }
  return e;
}

export class EstargzWriter {
  private readonly chunkSize: number;
  private readonly level: number;
  private readonly concurrency: number;
  private readonly out: Writable;
  private readonly diffHash: Hash = createHash('sha256');
  private readonly blobHash: Hash = createHash('sha256');
  private uncompressedSize = 0;
  private compressedSize = 0;
  private current: Buffer[] = [];
  private currentBytes = 0;
  /** Compressed members not yet written, in order. */
  private inFlight: Promise<Buffer>[] = [];
  private membersStarted = 0;
  /** Compressed start offset of each member, filled as members are written. */
  private memberOffsets: number[] = [];
  private readonly entries: TocEntryJson[] = [];
  /** entries[i] starts in member entryMember[i] (or -1: no data). */
  private readonly entryMember: number[] = [];
  /** The TOC JSON's size so far, offsets counted at their longest (see pushEntry). */
  private tocBytes = 0;
  private readonly limits: Pick<TocLimits, 'maxEntries' | 'maxTocBytes'>;
  private finished = false;

  constructor(out: Writable, options: EstargzWriterOptions = {}) {
    this.out = out;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.level = options.level ?? 9;
    this.concurrency = Math.max(2, options.concurrency ?? cpus().length);
    // Larger chunks than readers accept (ours: maxChunkBytes) would make an unreadable layer.
    if (
      !Number.isInteger(this.chunkSize) ||
      this.chunkSize < MIN_CHUNK_SIZE ||
      this.chunkSize > MAX_CHUNK_SIZE
    ) {
      throw new RangeError(
        `chunk size must be an integer from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE} bytes`,
      );
    }
  }

  /** Bytes of the uncompressed tar written so far. */
  get bytesIn(): number {
    return this.uncompressedSize;
  }

  /** Compressed bytes written so far. */
  get bytesOut(): number {
    return this.compressedSize;
  }

  private append(data: Buffer): void {
    if (data.length === 0) return;
    this.diffHash.update(data);
    this.uncompressedSize += data.length;
    this.current.push(data);
    this.currentBytes += data.length;
  }

  /** Ends the current gzip member (if it has data) and hands it to the compressor. */
  private async closeMember(): Promise<void> {
    if (this.currentBytes === 0) return;
    const data = this.current.length === 1 ? this.current[0] : Buffer.concat(this.current);
    this.current = [];
    this.currentBytes = 0;
    this.membersStarted++;
    this.inFlight.push(gzipAsync(data, { level: this.level }));
    while (this.inFlight.length >= this.concurrency) await this.flushOne();
  }

  private async flushOne(): Promise<void> {
    const next = this.inFlight.shift();
    if (!next) return;
    const compressed = await next;
    this.memberOffsets.push(this.compressedSize);
    await this.writeRaw(compressed);
  }

  private async writeRaw(data: Buffer): Promise<void> {
    this.blobHash.update(data);
    this.compressedSize += data.length;
    if (!this.out.write(data)) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          this.out.off('error', onError);
          resolve();
        };
        const onError = (err: Error) => {
          this.out.off('drain', onDrain);
          reject(err);
        };
        this.out.once('drain', onDrain);
        this.out.once('error', onError);
      });
    }
  }

  /** Index of the member that the next appended byte starts (after closeMember). */
  private get nextMember(): number {
    return this.membersStarted;
  }

  /**
   * Adds one tar entry. `body` must yield exactly `header.size` bytes for regular files and is
   * ignored for other types.
   */
  async add(header: TarHeader, body?: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
    if (this.finished) throw new Error('writer already finished');
    const h = header.type === 'file' ? header : { ...header, size: 0 };
    this.append(encodeHeader(h));
    const entry = tocEntry(h);
    if (h.type !== 'file' || h.size === 0) {
      this.pushEntry(entry, -1);
      if (this.currentBytes >= this.chunkSize) await this.closeMember();
      return;
    }
    await this.writePayload(h, entry, body ?? []);
    this.append(Buffer.alloc(paddingFor(h.size)));
  }

  /**
   * Refuses, as soon as it is certain, a TOC no reader accepts (too many entries, or JSON over
   * maxTocBytes): a tiny --chunk-size on a big layer would otherwise run for minutes, with the
   * TOC in memory, only to be refused at the end.
   */
  private pushEntry(entry: TocEntryJson, member: number): void {
    this.entries.push(entry);
    this.entryMember.push(member);
    // The offset is filled in once its member is written: at most 16 digits more.
    this.tocBytes += JSON.stringify(entry).length + 1 + (member >= 0 ? 16 : 0);
    const { maxEntries, maxTocBytes } = this.limits;
    if (this.entries.length > maxEntries) {
      fail(EstargzErrorCode.limitExceeded, `the TOC would have more than ${maxEntries} entries`);
    }
    if (this.tocBytes > maxTocBytes) {
      fail(
        EstargzErrorCode.limitExceeded,
        `the TOC would exceed ${maxTocBytes} bytes (${this.entries.length} entries so far); use a larger chunk size`,
      );
    }
  }

  private async writePayload(
    h: TarHeader,
    first: TocEntryJson,
    body: AsyncIterable<Buffer> | Iterable<Buffer>,
  ): Promise<void> {
    const fileHash = createHash('sha256');
    let written = 0;
    let chunkHash = createHash('sha256');
    let chunkWritten = 0;
    let entry = first;
    const startChunk = async () => {
      await this.closeMember();
      const remain = h.size - written;
      entry.chunkOffset = written;
      // The last chunk (or an unchunked file) says 0: "to the end of the file".
      if (remain > this.chunkSize) entry.chunkSize = this.chunkSize;
      this.pushEntry(entry, this.nextMember);
    };
    const endChunk = () => {
      entry.chunkDigest = 'sha256:' + chunkHash.digest('hex');
      if (entry.chunkOffset === 0) delete entry.chunkOffset;
      chunkHash = createHash('sha256');
      chunkWritten = 0;
      entry = { name: h.name, type: 'chunk' };
    };
    await startChunk();
    for await (const piece of body) {
      let data = piece;
      while (data.length > 0) {
        if (written >= h.size) throw new Error(`body of ${h.name} is longer than its size`);
        if (chunkWritten === this.chunkSize) {
          endChunk();
          await startChunk();
        }
        const take = Math.min(data.length, this.chunkSize - chunkWritten, h.size - written);
        const part = data.subarray(0, take);
        chunkHash.update(part);
        fileHash.update(part);
        this.append(part);
        written += take;
        chunkWritten += take;
        data = data.subarray(take);
      }
    }
    if (written !== h.size) {
      throw new Error(`body of ${h.name} has ${written} bytes, header says ${h.size}`);
    }
    endChunk();
    first.digest = 'sha256:' + fileHash.digest('hex');
  }

  /** Adds `.prefetch.landmark` (after prioritised files) or `.no.prefetch.landmark` (first). */
  async addLandmark(kind: 'prefetch' | 'no-prefetch'): Promise<void> {
    const name = kind === 'prefetch' ? PREFETCH_LANDMARK : NO_PREFETCH_LANDMARK;
    await this.add(newHeader({ name, type: 'file', mode: 0o644, size: 1 }), [LANDMARK_CONTENT]);
  }

  /** Writes the TOC and the footer; the output stream is left open. */
  async finish(): Promise<EstargzWriteResult> {
    if (this.finished) throw new Error('writer already finished');
    this.finished = true;
    await this.closeMember();
    while (this.inFlight.length > 0) await this.flushOne();
    const tocOffset = this.compressedSize;
    for (let i = 0; i < this.entries.length; i++) {
      const member = this.entryMember[i];
      if (member >= 0) this.entries[i].offset = this.memberOffsets[member]!;
    }
    const tocJson = Buffer.from(JSON.stringify({ version: 1, entries: this.entries }));
    const tocDigest = 'sha256:' + createHash('sha256').update(tocJson).digest('hex');
    const header = newHeader({ name: TOC_NAME, type: 'file', mode: 0o644, size: tocJson.length });
    this.append(encodeHeader(header));
    this.append(tocJson);
    this.append(Buffer.alloc(paddingFor(tocJson.length)));
    this.append(END_OF_ARCHIVE);
    await this.closeMember();
    while (this.inFlight.length > 0) await this.flushOne();
    await this.writeRaw(createFooter(tocOffset));
    return {
      digest: 'sha256:' + this.blobHash.digest('hex'),
      size: this.compressedSize,
      diffId: 'sha256:' + this.diffHash.digest('hex'),
      uncompressedSize: this.uncompressedSize,
      tocDigest,
      entryCount: this.entries.length,
      tocOffset,
    };
  }
}
