// Reads one blob by byte ranges. The size comes from the descriptor (no HEAD). Every range is
// length-checked against Content-Range; a registry that ignores Range (200 instead of 206) is
// detected from the status line and the body is abandoned unread. Redirects (presigned storage
// URLs) are followed without credentials and reused until they expire. Identical concurrent
// reads share one request.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

import { Deadline, defaultRetryPolicy, withRetries, type RetryPolicy } from './deadline.ts';
import { RegistryError, RegistryErrorKind } from './errors.ts';
import {
  byterangesBoundary,
  MultipartError,
  parseByteranges,
  parseContentRange,
  rangeHeader,
  sliceRanges,
  type ByteRange,
} from './multipart.ts';
import { redirectExpiry } from './redirect.ts';
import type { RegistrySession } from './session.ts';
import { SingleFlight } from './singleflight.ts';
import type { HttpResponse } from './transport.ts';

export interface ReadOptions {
  signal?: AbortSignal;
  /** Deadline for this read including retries; defaults to the reader's. */
  timeoutMs?: number;
  /**
   * This read's retries; defaults to the reader's. A read joining an identical one in flight
   * shares that one's.
   */
  retry?: RetryPolicy;
  /**
   * readRange only: each piece of the range as it arrives, with its offset in the range. A retry
   * starts again at offset 0. Not called when the read joins an identical one already in flight.
   */
  onData?: (piece: Buffer, offset: number) => void;
  /**
   * A request of its own even when an identical one is in flight (a hedge against that one
   * straggling: joining it would wait for the very request it is meant to overtake).
   */
  separate?: boolean;
}

export interface BlobReaderOptions {
  /** Per-read deadline, retries included. */
  timeoutMs?: number;
  retry?: RetryPolicy;
  /** Ranges per multi-range request (long Range headers get refused by proxies). */
  maxRangesPerRequest?: number;
}

export interface BlobRef {
  digest: string;
  size: number;
}

/**
 * The slowest a whole-blob stream may be, over a window, before its connection is given up and
 * the stream resumed on a new one: a body that trickles (a byte every few seconds) never trips
 * the transport's stall timeout, and would hold a download for its whole deadline.
 */
export interface SlowestStream {
  windowMs: number;
  bytes: number;
}
const SLOWEST_STREAM: SlowestStream = { windowMs: 30_000, bytes: 256 * 1024 };
/** Resumes of a stream that got less than this (or the rest of the blob) count as fruitless. */
const RESUME_PROGRESS_BYTES = 64 * 1024;
/** A stream fails after this many fruitless resumes in a row. */
const FRUITLESS_RESUMES = 5;

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Statuses from a reused presigned URL that mean "expired or revoked": ask the registry again. */
const STALE_REDIRECT_STATUSES = new Set([400, 401, 403, 404, 410]);

/** Sorted, with overlapping or touching ranges joined. */
export function mergeRanges(ranges: ByteRange[]): ByteRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const out: ByteRange[] = [];
  for (const r of sorted) {
    const last = out.at(-1);
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else out.push({ start: r.start, end: r.end });
  }
  return out;
}

export function digestAlgorithm(digest: string): string {
  const algo = digest.slice(0, digest.indexOf(':'));
  if (algo !== 'sha256' && algo !== 'sha512') {
    throw new RegistryError(
      RegistryErrorKind.unsupported,
      `unsupported digest algorithm "${algo}"`,
    );
  }
  return algo;
}

export class BlobReader {
  readonly digest: string;
  readonly size: number;
  readonly #session: RegistrySession;
  readonly #opts: BlobReaderOptions;
  readonly #flights = new SingleFlight<Buffer>();
  /** Makes each `separate` read's flight key unique. */
  #separateReads = 0;
  #location: { url: URL; expiresAt: number } | undefined;

  constructor(session: RegistrySession, blob: BlobRef, opts: BlobReaderOptions = {}) {
    if (!Number.isSafeInteger(blob.size) || blob.size < 0) {
      throw new RegistryError(
        RegistryErrorKind.protocol,
        `descriptor for ${blob.digest} has an invalid size`,
      );
    }
    digestAlgorithm(blob.digest);
    this.digest = blob.digest;
    this.size = blob.size;
    this.#session = session;
    this.#opts = opts;
  }

  get host(): string {
    return this.#session.host;
  }

  /** Where reads currently go: the registry, or the reused redirect target's host. */
  get redirectedTo(): string | undefined {
    return this.#location && this.#location.expiresAt > Date.now()
      ? this.#location.url.host
      : undefined;
  }

  /** Bytes [start, endExclusive). */
  async readRange(start: number, endExclusive: number, opts: ReadOptions = {}): Promise<Buffer> {
    this.#checkRange({ start, end: endExclusive });
    return await this.#shared(`${start}-${endExclusive}`, opts, (d) =>
      this.#withRetries(
        d,
        (attempt) =>
          this.#fetchSingle(
            `bytes=${start}-${endExclusive - 1}`,
            { start, end: endExclusive },
            d,
            attempt,
            opts.onData,
          ),
        opts.retry,
      ),
    );
  }

  /** The last `n` bytes (all of them if the blob is smaller): footer and TOC in one request. */
  async readSuffix(n: number, opts: ReadOptions = {}): Promise<Buffer> {
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new RegistryError(RegistryErrorKind.protocol, `invalid suffix length ${n}`);
    }
    const len = Math.min(n, this.size);
    const range = { start: this.size - len, end: this.size };
    return await this.#shared(`-${len}`, opts, (d) =>
      this.#withRetries(d, (attempt) => this.#fetchSingle(`bytes=-${len}`, range, d, attempt)),
    );
  }

  /**
   * Several ranges, in as few requests as the registry allows; results in the order asked.
   * Overlapping and touching ranges travel as one (servers may refuse overlaps).
   */
  async readRanges(ranges: ByteRange[], opts: ReadOptions = {}): Promise<Buffer[]> {
    ranges.forEach((r) => this.#checkRange(r));
    if (ranges.length <= 1 || this.#session.capabilities.multiRange === false) {
      return Promise.all(ranges.map((r) => this.readRange(r.start, r.end, opts)));
    }
    const merged = mergeRanges(ranges);
    const batchSize = this.#opts.maxRangesPerRequest ?? 32;
    const batches: ByteRange[][] = [];
    for (let i = 0; i < merged.length; i += batchSize) batches.push(merged.slice(i, i + batchSize));
    const fetched = (
      await Promise.all(
        batches.map(async (batch) => {
          const key = batch.map((r) => `${r.start}-${r.end}`).join(',');
          const data = await this.#sharedMany(key, batch, opts);
          return batch.map((r, i) => ({ ...r, data: data[i] }));
        }),
      )
    ).flat();
    return ranges.map((r) => sliceRanges(fetched, [r])![0]);
  }

  /** The whole blob in memory, size- and digest-checked (configs, small layers). */
  readAll(opts: ReadOptions = {}): Promise<Buffer> {
    return this.#shared('all', opts, (d) =>
      this.#withRetries(d, async (attempt) => {
        const res = await this.#get(undefined, d, attempt, 'blob');
        if (res.status !== 200 && res.status !== 206)
          throw await this.#session.statusError(res, `blob ${this.digest}`);
        if (res.status === 206) {
          const cr = parseContentRange(res.header('content-range'));
          if (!cr || cr.start !== 0 || cr.end !== this.size) {
            res.discard('partial');
            throw this.#protocol(
              `answered 206 with ${cr ? `${cr.start}-${cr.end}` : 'no'} Content-Range to a full read`,
            );
          }
        }
        const body = await res.read({ maxBytes: this.size, exactBytes: this.size });
        this.#verifyDigest(body);
        return body;
      }),
    );
  }

  /**
   * The whole blob as a stream, digest-checked at the end (the stream errors on mismatch).
   * A connection lost mid-body resumes with a Range request from the last byte received.
   */
  openStream(opts: ReadOptions & { slowest?: SlowestStream } = {}): Readable {
    const deadline = new Deadline(opts.timeoutMs ?? 3_600_000, opts.signal);
    const slowest = opts.slowest ?? SLOWEST_STREAM;
    return Readable.from(this.#generate(digestAlgorithm(this.digest), deadline, slowest), {
      objectMode: false,
    });
  }

  /**
   * The blob from offset 0, resumed where it broke off after a lost, stalled or too slow
   * connection, as long as the resumes get somewhere: a flaky link that cuts every connection
   * after a few MiB still delivers a large layer, a registry that gives nothing fails.
   */
  async *#generate(
    algo: string,
    deadline: Deadline,
    slowest: SlowestStream,
  ): AsyncGenerator<Buffer> {
    const hash = createHash(algo);
    let offset = 0;
    for (let fruitless = 0; ;) {
      const from = offset;
      const res = await this.#withRetries(deadline, (attempt) =>
        this.#openAt(offset, deadline, attempt),
      );
      try {
        let windowStart = performance.now();
        let windowBytes = 0;
        for await (const chunk of res.stream()) {
          const buf = chunk as Buffer;
          if (offset + buf.length > this.size) {
            throw this.#integrity(`is longer than its descriptor size ${this.size}`, false);
          }
          hash.update(buf);
          offset += buf.length;
          yield buf;
          windowBytes += buf.length;
          if (performance.now() - windowStart >= slowest.windowMs) {
            if (windowBytes < slowest.bytes) {
              throw this.#protocol(
                `sent ${windowBytes} bytes in ${slowest.windowMs / 1000} s, too slow; resuming on a new connection`,
                true,
              );
            }
            windowStart = performance.now();
            windowBytes = 0;
          }
        }
        if (offset < this.size) {
          throw this.#protocol(`body ended at ${offset} of ${this.size} bytes`, true);
        }
        break;
      } catch (e) {
        res.discard('failed');
        const err = deadline.classify(e, this.host);
        const progressed = offset - from >= Math.min(RESUME_PROGRESS_BYTES, this.size - from);
        fruitless = progressed ? 0 : fruitless + 1;
        if (!err.retryable || fruitless >= FRUITLESS_RESUMES) throw err;
      }
    }
    const actual = `${algo}:${hash.digest('hex')}`;
    if (actual !== this.digest) throw this.#integrity(`content digest is ${actual}`);
  }

  async #openAt(offset: number, deadline: Deadline, attempt: number): Promise<HttpResponse> {
    const res = await this.#get(
      offset > 0 ? `bytes=${offset}-` : undefined,
      deadline,
      attempt,
      'blob',
    );
    if (offset === 0 && res.status === 200) return res;
    if (res.status === 206) {
      const cr = parseContentRange(res.header('content-range'));
      if (cr && cr.start === offset && cr.end === this.size) return res;
      res.discard('bad-content-range');
      throw this.#protocol('sent a Content-Range that does not match the resumed read', true);
    }
    if (res.status === 200) {
      res.discard('no-range');
      throw this.#noRange();
    }
    if (res.status === 416 && offset > 0) {
      // The body ended early and there is nothing after it: the blob is shorter than described.
      await res.drain();
      throw this.#integrity(
        `ends after ${offset} bytes, not the ${this.size} its descriptor says`,
        false,
      );
    }
    throw await this.#session.statusError(res, `blob ${this.digest}`);
  }

  /**
   * How the registry answers one multi-range request, without falling back (check-registry):
   * `multipart` (works), `coalesced` (one covering range), `refused` (4xx), `ignored` (200).
   */
  async probeMultiRange(
    opts: ReadOptions = {},
  ): Promise<'multipart' | 'coalesced' | 'refused' | 'ignored'> {
    if (this.size < 64) throw this.#protocol('blob too small to probe multi-range');
    const ranges = [
      { start: 0, end: 16 },
      { start: this.size - 16, end: this.size },
    ];
    const deadline = new Deadline(opts.timeoutMs ?? this.#opts.timeoutMs ?? 30_000, opts.signal);
    return this.#withRetries(deadline, async (attempt) => {
      const res = await this.#get(rangeHeader(ranges), deadline, attempt, 'blob-range');
      if (res.status === 200) {
        res.discard('no-range');
        return 'ignored';
      }
      if (res.status === 400 || res.status === 416 || res.status === 501) {
        await res.drain();
        return 'refused';
      }
      if (res.status !== 206) throw await this.#session.statusError(res, `blob ${this.digest}`);
      const multipart = byterangesBoundary(res.header('content-type')) !== undefined;
      res.discard();
      return multipart ? 'multipart' : 'coalesced';
    });
  }

  /**
   * The last `n` bytes of a blob whose size is not known yet, with the size the registry states
   * in Content-Range. The store uses it to fetch a layer's footer and TOC (named by digest in a
   * lookup) while the manifest that gives its size is still on its way. The bytes are not
   * verified here: the caller checks them against the manifest (size) and the TOC digest.
   */
  static async readTailOfUnsizedBlob(
    session: RegistrySession,
    digest: string,
    n: number,
    opts: ReadOptions & { retry?: RetryPolicy } = {},
  ): Promise<{ bytes: Buffer; blobSize: number }> {
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new RegistryError(RegistryErrorKind.protocol, `invalid suffix length ${n}`);
    }
    const reader = new BlobReader(session, { digest, size: 0 }, { retry: opts.retry });
    const deadline = new Deadline(opts.timeoutMs ?? 30_000, opts.signal);
    return reader.#withRetries(deadline, async (attempt) => {
      const res = await reader.#get(`bytes=-${n}`, deadline, attempt, 'blob-range');
      if (res.status === 200) {
        res.discard('no-range');
        throw reader.#noRange();
      }
      if (res.status !== 206) throw await session.statusError(res, `blob ${digest}`);
      const cr = parseContentRange(res.header('content-range'));
      if (!cr || cr.total === undefined || cr.end !== cr.total || cr.end - cr.start > n) {
        res.discard('bad-content-range');
        throw reader.#protocol(
          `answered a suffix range with Content-Range "${(res.header('content-range') ?? '').slice(0, 80)}"`,
          true,
        );
      }
      const length = cr.end - cr.start;
      const bytes = await res.read({ maxBytes: length, exactBytes: length });
      return { bytes, blobSize: cr.total };
    });
  }

  #checkRange(r: ByteRange): void {
    if (
      !Number.isSafeInteger(r.start) ||
      !Number.isSafeInteger(r.end) ||
      r.start < 0 ||
      r.end <= r.start ||
      r.end > this.size
    ) {
      throw new RegistryError(
        RegistryErrorKind.protocol,
        `range ${r.start}-${r.end} is outside blob ${this.digest} of ${this.size} bytes`,
      );
    }
  }

  #shared(key: string, opts: ReadOptions, work: (d: Deadline) => Promise<Buffer>): Promise<Buffer> {
    const timeoutMs = opts.timeoutMs ?? this.#opts.timeoutMs ?? 30_000;
    const flightKey = opts.separate ? `${key}#${++this.#separateReads}` : key;
    return this.#flights
      .run(flightKey, (shared) => work(new Deadline(timeoutMs, shared)), opts.signal)
      .catch((e: unknown) => {
        if (opts.signal?.aborted) {
          throw new RegistryError(RegistryErrorKind.aborted, 'read aborted by the caller', {
            host: this.host,
          });
        }
        throw e;
      });
  }

  #sharedMany(key: string, batch: ByteRange[], opts: ReadOptions): Promise<Buffer[]> {
    // SingleFlight holds Buffers; the parts of one batch travel concatenated and are cut again.
    const lengths = batch.map((r) => r.end - r.start);
    return this.#shared(`m:${key}`, opts, async (d) =>
      Buffer.concat(await this.#fetchMany(batch, d, opts.retry)),
    ).then((joined) => {
      let pos = 0;
      return lengths.map((len) => joined.subarray(pos, (pos += len)));
    });
  }

  #withRetries<T>(
    deadline: Deadline,
    attempt: (n: number) => Promise<T>,
    policy = this.#opts.retry ?? defaultRetryPolicy,
  ): Promise<T> {
    return withRetries(deadline, this.host, policy, attempt);
  }

  /** #located, refusing a body something in the way compressed (see #refuseEncoded). */
  async #get(
    range: string | undefined,
    deadline: Deadline,
    attempt: number,
    purpose: 'blob' | 'blob-range',
  ): Promise<HttpResponse> {
    const res = await this.#located(range, deadline, attempt, purpose);
    if (res.status === 200 || res.status === 206) this.#refuseEncoded(res);
    return res;
  }

  /**
   * A proxy that compresses blobs (despite `accept-encoding: identity`) changes the bytes that
   * every offset and digest refers to: said as such, rather than as a size or digest mismatch.
   */
  #refuseEncoded(res: HttpResponse): void {
    const encoding = res.header('content-encoding')?.trim().toLowerCase();
    if (!encoding || encoding === 'identity') return;
    res.discard('content-encoding');
    throw this.#protocol(
      `answered with Content-Encoding ${encoding.slice(0, 40)} although identity was asked: something in the way (a proxy) compresses blobs`,
      true,
    );
  }

  /** GET with an optional Range, via the cached redirect target when it is still fresh. */
  async #located(
    range: string | undefined,
    deadline: Deadline,
    attempt: number,
    purpose: 'blob' | 'blob-range',
  ): Promise<HttpResponse> {
    // identity: a compressing proxy would change the bytes our offsets and digests refer to.
    const headers: Record<string, string> = {
      'accept-encoding': 'identity',
      ...(range ? { range } : {}),
    };
    if (this.#location && this.#location.expiresAt > Date.now()) {
      // A target that fails (stalls, resets, 5xx) is forgotten, so that the next attempt asks
      // the registry again: it may hand out another storage node, and a URL that still looks
      // fresh is no reason to retry a dead one until the deadline.
      const res = await this.#session
        .sendExternal({
          method: 'GET',
          path: this.#location.url,
          headers,
          purpose,
          deadline,
          attempt,
        })
        .catch((error: unknown) => {
          this.#location = undefined;
          throw error;
        });
      if (this.#targetAnswered(res, range)) return res;
      res.discard('stale-redirect');
    }
    this.#location = undefined;
    let res = await this.#session.send({
      method: 'GET',
      path: `blobs/${this.digest}`,
      headers,
      purpose,
      deadline,
      attempt,
    });
    for (let hops = 0; REDIRECT_STATUSES.has(res.status); hops++) {
      const location = res.header('location');
      await res.drain();
      if (!location || hops >= 5)
        throw this.#protocol(
          location ? 'redirected too many times' : 'sent a redirect without Location',
        );
      const url = new URL(location, res.url);
      this.#location = { url, expiresAt: redirectExpiry(url) };
      res = await this.#session.sendExternal({
        method: 'GET',
        path: url,
        headers,
        purpose,
        deadline,
        attempt,
      });
    }
    return res;
  }

  /**
   * Whether a reused redirect target's answer stands. An expired URL (4xx), a 5xx, another
   * redirect, or a 200 to a Range request (the URL now leads to a node or cache that ignores
   * Range) all mean the registry is asked again for where the blob is now.
   */
  #targetAnswered(res: HttpResponse, range: string | undefined): boolean {
    if (STALE_REDIRECT_STATUSES.has(res.status) || res.status >= 500) return false;
    if (REDIRECT_STATUSES.has(res.status)) return false;
    return !(range !== undefined && res.status === 200);
  }

  async #fetchSingle(
    range: string,
    want: ByteRange,
    deadline: Deadline,
    attempt: number,
    onData?: (piece: Buffer, offset: number) => void,
  ): Promise<Buffer> {
    const res = await this.#get(range, deadline, attempt, 'blob-range');
    const length = want.end - want.start;
    if (res.status === 206) {
      const cr = parseContentRange(res.header('content-range'));
      if (cr && cr.total !== undefined && cr.total !== this.size) {
        res.discard('size-mismatch');
        throw this.#integrity(
          `has ${cr.total} bytes on the registry, ${this.size} in its descriptor`,
          false,
        );
      }
      if (!cr || cr.start !== want.start || cr.end !== want.end) {
        res.discard('bad-content-range');
        throw this.#protocol(
          `answered range ${want.start}-${want.end} with Content-Range "${(res.header('content-range') ?? '').slice(0, 80)}"`,
          true,
        );
      }
      return res.read({ maxBytes: length, exactBytes: length, ...(onData && { onData }) });
    }
    if (res.status === 200) {
      // A whole-blob range is fine as a 200; anything else would download the whole blob.
      if (want.start === 0 && want.end === this.size) {
        const body = await res.read({ maxBytes: length, exactBytes: length });
        this.#verifyDigest(body);
        return body;
      }
      res.discard('no-range');
      // Once more: a proxy or cache in the way may have answered this one request whole. A
      // registry that never honours Range costs one more request before the runtime pulls.
      throw this.#noRange(attempt === 1);
    }
    if (res.status === 416) {
      await res.drain();
      throw this.#integrity(
        `refused range ${want.start}-${want.end} as unsatisfiable (descriptor size ${this.size} wrong?)`,
        false,
      );
    }
    throw await this.#session.statusError(res, `blob ${this.digest}`);
  }

  #fetchMany(batch: ByteRange[], deadline: Deadline, retry?: RetryPolicy): Promise<Buffer[]> {
    return this.#withRetries(
      deadline,
      (attempt) => this.#fetchManyOnce(batch, deadline, attempt, retry),
      retry,
    );
  }

  async #fetchManyOnce(
    batch: ByteRange[],
    deadline: Deadline,
    attempt: number,
    retry: RetryPolicy | undefined,
  ): Promise<Buffer[]> {
    const res = await this.#get(rangeHeader(batch), deadline, attempt, 'blob-range');
    if (res.status === 400 || res.status === 416 || res.status === 501) {
      await res.drain();
      this.#session.capabilities.multiRange = false;
      return this.#singles(batch, deadline, retry);
    }
    if (res.status === 200) {
      // Some servers answer a multi-range request whose ranges add up to more than the blob
      // with the full blob; never read it. Single ranges tell us whether Range works at all.
      res.discard('no-range');
      return this.#singles(batch, deadline, retry);
    }
    if (res.status !== 206) throw await this.#session.statusError(res, `blob ${this.digest}`);
    const wanted = batch.reduce((n, r) => n + r.end - r.start, 0);
    const boundary = byterangesBoundary(res.header('content-type'));
    try {
      if (boundary) {
        const body = await res.read({
          maxBytes: Math.min(this.size, wanted) + 512 * batch.length + 4096,
        });
        const parts = parseByteranges(body, boundary);
        if (parts.some((p) => p.total !== undefined && p.total !== this.size)) {
          throw this.#integrity('has another size on the registry', false);
        }
        const sliced = sliceRanges(parts, batch);
        if (sliced) return sliced;
      } else {
        const cr = parseContentRange(res.header('content-range'));
        if (
          cr &&
          cr.start <= batch[0].start &&
          cr.end >= batch.at(-1)!.end &&
          cr.end - cr.start <= wanted * 2 + 65536
        ) {
          const body = await res.read({
            maxBytes: cr.end - cr.start,
            exactBytes: cr.end - cr.start,
          });
          const sliced = sliceRanges([{ ...cr, data: body }], batch);
          if (sliced) return sliced;
        } else {
          res.discard('bad-content-range');
        }
      }
    } catch (e) {
      if (!(e instanceof MultipartError)) throw e;
    }
    // Malformed or incomplete multipart answer: trust nothing from it, read each range alone.
    return this.#singles(batch, deadline, retry);
  }

  #singles(batch: ByteRange[], deadline: Deadline, retry?: RetryPolicy): Promise<Buffer[]> {
    return Promise.all(
      batch.map((r) =>
        this.readRange(r.start, r.end, {
          signal: deadline.signal,
          timeoutMs: Math.max(1, deadline.remaining()),
          ...(retry && { retry }),
        }),
      ),
    );
  }

  #verifyDigest(body: Buffer): void {
    const algo = digestAlgorithm(this.digest);
    const actual = `${algo}:${createHash(algo).update(body).digest('hex')}`;
    if (actual !== this.digest) throw this.#integrity(`content digest is ${actual}`);
  }

  #noRange(retryable = false): RegistryError {
    return new RegistryError(
      RegistryErrorKind.noRangeSupport,
      `${this.redirectedTo ?? this.host} ignored a Range request for ${this.digest} (answered 200); the body was abandoned`,
      { host: this.host, status: 200, retryable },
    );
  }

  #protocol(why: string, retryable = false): RegistryError {
    return new RegistryError(
      RegistryErrorKind.protocol,
      `blob ${this.digest} on ${this.#session.name}: registry ${why}`,
      { host: this.host, retryable },
    );
  }

  /** Digest mismatches are retried (a flaky proxy or cache); size contradictions are not. */
  #integrity(why: string, retryable = true): RegistryError {
    return new RegistryError(
      RegistryErrorKind.integrity,
      `blob ${this.digest} on ${this.#session.name} ${why}`,
      { host: this.host, retryable },
    );
  }
}
