// Pushing blobs and manifests (OCI distribution spec): existence check, cross-repository mount,
// monolithic upload for buffers, chunked PATCH upload for streams with the digest computed while
// streaming. Buffers, sources that can be opened again (files) and manifests are retried after a
// transient failure; a stream handed over as such cannot be replayed, so it gets one attempt.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

import type { BlobSource } from '../image/types.ts';
import { scopeFor } from './auth.ts';
import { Deadline, defaultRetryPolicy, withRetries, type RetryPolicy } from './deadline.ts';
import { RegistryError, RegistryErrorKind } from './errors.ts';
import { computeDigest } from './manifest.ts';
import type { RegistrySession } from './session.ts';
import type { HttpResponse } from './transport.ts';

export interface PushOptions {
  /** Other repositories on the same registry that may already hold the blob (mounted, not copied). */
  mountFrom?: string[];
  /** The target session with extra token scopes (a mount needs pull on the source repository). */
  sessionWithScopes?: (extraScopes: string[]) => RegistrySession;
  /** PATCH size for streamed uploads. */
  chunkSize?: number;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Attempts at an upload (default uploadRetryPolicy). */
  retry?: RetryPolicy;
}

export interface PushedBlob {
  digest: string;
  size: number;
  /** How it got there: already present, mounted from another repository, or uploaded. */
  via: 'exists' | 'mounted' | 'uploaded';
}

const DEFAULT_CHUNK = 16 << 20;

/**
 * Attempts at a blob upload or a manifest PUT. One that fails in a way the next may not
 * (connection reset or closed, no answer in time, 5xx, 408, 429 after its Retry-After, all
 * within the deadline) starts over, a blob with a new upload session: what a registry received
 * of a failed upload cannot be trusted to resume from. Other 4xx answers are final.
 */
export const uploadRetryPolicy: RetryPolicy = { attempts: 3, baseDelayMs: 500, maxDelayMs: 5_000 };

/**
 * Runs an upload's attempts (uploadRetryPolicy unless `policy`); when the registry kept failing
 * in a way worth another attempt, the error says how many were made.
 */
async function withUploadRetries<T>(
  deadline: Deadline,
  host: string,
  policy: RetryPolicy | undefined,
  attempt: (n: number) => Promise<T>,
): Promise<T> {
  let attempts = 0;
  try {
    return await withRetries(deadline, host, policy ?? uploadRetryPolicy, (n) => {
      attempts = n;
      return attempt(n);
    });
  } catch (e) {
    if (!(e instanceof RegistryError) || !e.retryable || attempts < 2) throw e;
    throw new RegistryError(e.kind, `${e.message} (gave up after ${attempts} attempts)`, {
      host: e.host,
      status: e.status,
      cause: e,
      retryable: false,
    });
  }
}

/** Reading the bytes to push failed, not the registry: passed on as it is and never retried. */
class BlobSourceError extends Error {
  override readonly name = 'BlobSourceError';
}

/** The chunks of the bytes to push, with a failure to read them marked as the source's. */
async function* sourceChunks(data: Readable): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of data) {
      yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    }
  } catch (e) {
    throw new BlobSourceError((e as Error).message, { cause: e });
  }
}

function uploadLocation(res: HttpResponse): URL {
  const location = res.header('location');
  if (!location) {
    throw new RegistryError(
      RegistryErrorKind.protocol,
      `${res.url.host} started an upload without a Location`,
      { host: res.url.host },
    );
  }
  return new URL(location, res.url);
}

function withDigest(location: URL, digest: string): URL {
  const url = new URL(location);
  url.searchParams.set('digest', digest);
  return url;
}

export async function blobExists(
  session: RegistrySession,
  digest: string,
  deadline: Deadline,
): Promise<boolean> {
  return withRetries(deadline, session.host, defaultRetryPolicy, async (attempt) => {
    const res = await session.send({
      method: 'HEAD',
      path: `blobs/${digest}`,
      purpose: 'upload',
      deadline,
      attempt,
    });
    if (res.status === 200 || res.status === 307 || res.status === 302) {
      await res.drain();
      return true;
    }
    if (res.status === 404) {
      await res.drain();
      return false;
    }
    throw await session.statusError(res, `blob ${digest}`);
  });
}

/** POST …/uploads/, optionally as a mount; returns the upload URL, or undefined if mounted. */
async function startUpload(
  session: RegistrySession,
  deadline: Deadline,
  mount?: { digest: string; from: string },
): Promise<URL | undefined> {
  const query = mount
    ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}`
    : '';
  const res = await session.send({
    method: 'POST',
    path: `blobs/uploads/${query}`,
    headers: { 'content-length': '0' },
    purpose: 'upload',
    deadline,
  });
  if (res.status === 201 && mount) {
    await res.drain();
    return undefined;
  }
  if (res.status !== 202) throw await session.statusError(res, 'blob upload');
  await res.drain();
  return uploadLocation(res);
}

async function finish(
  session: RegistrySession,
  location: URL,
  digest: string,
  body: Buffer,
  deadline: Deadline,
): Promise<void> {
  const res = await session.send({
    method: 'PUT',
    path: withDigest(location, digest),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length) },
    body,
    purpose: 'upload',
    deadline,
  });
  if (res.status !== 201 && res.status !== 204)
    throw await session.statusError(res, `blob ${digest} upload`);
  await res.drain();
}

async function cancel(session: RegistrySession, location: URL, deadline: Deadline): Promise<void> {
  const res = await session
    .send({ method: 'DELETE', path: location, purpose: 'upload', deadline })
    .catch(() => undefined);
  await res?.drain();
}

/**
 * Whether this session may push, before anything is uploaded: opens an upload session and
 * cancels it. A conversion asks at its start, so that a destination it cannot write to (no or
 * wrong credentials, a read-only repository, a registry that refuses uploads) is said before
 * minutes of converting rather than after the first layer.
 */
export async function checkPushAccess(
  session: RegistrySession,
  opts: PushOptions = {},
): Promise<void> {
  const deadline = new Deadline(opts.timeoutMs ?? 60_000, opts.signal);
  const location = await withUploadRetries(deadline, session.host, opts.retry, () =>
    startUpload(session, deadline),
  );
  // Not every registry lets an upload be cancelled; one left open expires on its own.
  if (location) await cancel(session, location, deadline);
}

/** Tries to mount from each candidate repository; returns an upload URL to use if none worked. */
async function tryMounts(
  session: RegistrySession,
  digest: string,
  opts: PushOptions,
  deadline: Deadline,
): Promise<'mounted' | URL | undefined> {
  for (const from of opts.mountFrom ?? []) {
    if (from === session.target.repository) continue;
    const mounting = opts.sessionWithScopes?.([scopeFor(from, ['pull'])]) ?? session;
    try {
      const location = await startUpload(mounting, deadline, { digest, from });
      if (!location) return 'mounted';
      // The registry could not mount and opened a normal upload instead: use it.
      return location;
    } catch (e) {
      if (
        e instanceof RegistryError &&
        (e.kind === RegistryErrorKind.unauthorized || e.kind === RegistryErrorKind.notFound)
      )
        continue;
      throw e;
    }
  }
  return undefined;
}

export async function pushBlob(
  session: RegistrySession,
  data: BlobSource,
  expected: { digest: string; size: number } | undefined,
  opts: PushOptions = {},
): Promise<PushedBlob> {
  const deadline = new Deadline(opts.timeoutMs ?? 3_600_000, opts.signal);
  if (Buffer.isBuffer(data)) return pushBuffer(session, data, expected, opts, deadline);
  if (typeof data === 'function') return pushReopenable(session, data, expected, opts, deadline);
  const source = new UploadSource(() => data);
  try {
    return await pushStream(session, source, expected, opts, deadline);
  } catch (e) {
    throw e instanceof BlobSourceError ? e.cause : e;
  } finally {
    data.destroy(); // not read at all when the blob was there already
  }
}

async function pushBuffer(
  session: RegistrySession,
  data: Buffer,
  expected: { digest: string; size: number } | undefined,
  opts: PushOptions,
  deadline: Deadline,
): Promise<PushedBlob> {
  const digest = computeDigest(data, expected?.digest.startsWith('sha512:') ? 'sha512' : 'sha256');
  if (expected && (expected.digest !== digest || expected.size !== data.length)) {
    throw new RegistryError(
      RegistryErrorKind.integrity,
      `blob to push has digest ${digest} and size ${data.length}, expected ${expected.digest} (${expected.size})`,
    );
  }
  return withUploadRetries(deadline, session.host, opts.retry, async () => {
    if (await blobExists(session, digest, deadline))
      return { digest, size: data.length, via: 'exists' };
    const mounted = await tryMounts(session, digest, opts, deadline);
    if (mounted === 'mounted') return { digest, size: data.length, via: 'mounted' };
    const location = mounted ?? (await startUpload(session, deadline));
    await finish(session, location!, digest, data, deadline);
    return { digest, size: data.length, via: 'uploaded' };
  });
}

/** Pushes bytes that `open` reads from their start each time: an attempt that fails starts over. */
async function pushReopenable(
  session: RegistrySession,
  open: () => Readable | Promise<Readable>,
  expected: { digest: string; size: number } | undefined,
  opts: PushOptions,
  deadline: Deadline,
): Promise<PushedBlob> {
  const source = new UploadSource(open);
  try {
    const outcome = await withUploadRetries(deadline, session.host, opts.retry, async () => {
      try {
        return { pushed: await pushStream(session, source, expected, opts, deadline) };
      } catch (e) {
        if (e instanceof BlobSourceError) return { unreadable: e.cause };
        throw e;
      }
    });
    if ('unreadable' in outcome) throw outcome.unreadable;
    return outcome.pushed;
  } finally {
    source.close();
  }
}

/** The bytes to push, opened (again) only when an upload needs them. */
class UploadSource {
  readonly #open: () => Readable | Promise<Readable>;
  #stream: Readable | undefined;

  constructor(open: () => Readable | Promise<Readable>) {
    this.#open = open;
  }

  /** The bytes from their start; failing to open them is the source's failure. */
  async open(): Promise<Readable> {
    this.close();
    try {
      this.#stream = await this.#open();
    } catch (e) {
      throw new BlobSourceError((e as Error).message, { cause: e });
    }
    // An error before the upload reads it (a request still going) is kept for the read to see.
    this.#stream.on('error', () => undefined);
    return this.#stream;
  }

  close(): void {
    this.#stream?.destroy();
    this.#stream = undefined;
  }
}

/** One attempt at pushing a stream: nothing to do if present, mounted if it can be, else uploaded. */
async function pushStream(
  session: RegistrySession,
  source: UploadSource,
  expected: { digest: string; size: number } | undefined,
  opts: PushOptions,
  deadline: Deadline,
): Promise<PushedBlob> {
  if (expected) {
    if (await blobExists(session, expected.digest, deadline)) return { ...expected, via: 'exists' };
    const mounted = await tryMounts(session, expected.digest, opts, deadline);
    if (mounted === 'mounted') return { ...expected, via: 'mounted' };
    const data = await source.open();
    const location = mounted ?? (await startUpload(session, deadline))!;
    return streamUpload(session, data, expected, location, opts, deadline);
  }
  const data = await source.open();
  const location = (await startUpload(session, deadline))!;
  return streamUpload(session, data, undefined, location, opts, deadline);
}

async function streamUpload(
  session: RegistrySession,
  data: Readable,
  expected: { digest: string; size: number } | undefined,
  start: URL,
  opts: PushOptions,
  deadline: Deadline,
): Promise<PushedBlob> {
  const algo = expected?.digest.startsWith('sha512:') ? 'sha512' : 'sha256';
  const hash = createHash(algo);
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK;
  let location = start;
  let offset = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const patch = async (body: Buffer) => {
    const res = await session.send({
      method: 'PATCH',
      path: location,
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(body.length),
        'content-range': `${offset}-${offset + body.length - 1}`,
      },
      body,
      purpose: 'upload',
      deadline,
    });
    if (res.status !== 202) throw await session.statusError(res, 'blob chunk upload');
    await res.drain();
    location = uploadLocation(res);
    offset += body.length;
  };
  try {
    for await (const buf of sourceChunks(data)) {
      hash.update(buf);
      pending.push(buf);
      pendingBytes += buf.length;
      if (pendingBytes >= chunkSize) {
        await patch(Buffer.concat(pending, pendingBytes));
        pending = [];
        pendingBytes = 0;
      }
    }
    const digest = `${algo}:${hash.digest('hex')}`;
    const size = offset + pendingBytes;
    if (expected && (expected.digest !== digest || expected.size !== size)) {
      throw new RegistryError(
        RegistryErrorKind.integrity,
        `streamed blob has digest ${digest} and size ${size}, expected ${expected.digest} (${expected.size})`,
      );
    }
    // The remainder travels with the closing PUT: one request fewer for small blobs.
    await finish(session, location, digest, Buffer.concat(pending, pendingBytes), deadline);
    return { digest, size, via: 'uploaded' };
  } catch (e) {
    await cancel(session, location, new Deadline(5_000));
    if (e instanceof BlobSourceError) throw e;
    throw deadline.classify(e, session.host);
  }
}

/** PUT a manifest or index; returns its digest (checked against the registry's, if sent). */
export async function pushManifest(
  session: RegistrySession,
  reference: string,
  mediaType: string,
  bytes: Buffer,
  opts: { timeoutMs?: number; signal?: AbortSignal; retry?: RetryPolicy } = {},
): Promise<string> {
  const deadline = new Deadline(opts.timeoutMs ?? 60_000, opts.signal);
  const digest = computeDigest(bytes);
  if (reference.includes(':') && reference !== digest) {
    throw new RegistryError(
      RegistryErrorKind.integrity,
      `manifest bytes have digest ${digest}, not ${reference}`,
    );
  }
  return withUploadRetries(deadline, session.host, opts.retry, async (attempt) => {
    const res = await session.send({
      method: 'PUT',
      path: `manifests/${reference}`,
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: bytes,
      purpose: 'upload',
      deadline,
      attempt,
    });
    if (res.status !== 201 && res.status !== 200)
      throw await session.statusError(res, `manifest ${reference} upload`);
    await res.drain();
    const theirs = res.header('docker-content-digest');
    if (theirs && theirs !== digest) {
      throw new RegistryError(
        RegistryErrorKind.integrity,
        `registry stored the manifest as ${theirs}, expected ${digest}`,
        { host: session.host },
      );
    }
    return digest;
  });
}
