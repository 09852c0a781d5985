// The `blob` file: the compressed layer blob, which containers/storage reads whole and in order
// when an image that came from the store is pushed or saved. Unlike a diff/ file, no chunk digest
// covers all of its bytes (gzip member headers, the TOC's framing, the footer): only the layer
// digest does, and checking it takes every byte. So the first read downloads the whole blob
// (streamed to disk, resumed after a lost connection) into a file under the agent's state
// directory, concurrent readers waiting for that one download, and reads are answered from the
// file once its digest matched. A copy that does not match is deleted, never served: its readers
// get EIO, and a later read downloads again.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

import { isRegistryError, RegistryErrorKind, type BlobReader } from '../registry/index.ts';
import type { StoreLogger } from './layer-manager.ts';

const DIGEST_RE = /^(sha256|sha512):([0-9a-f]{64}|[0-9a-f]{128})$/;
/** Copies are one-off (a push, a save): one nobody has read for this long leaves the disk. */
const IDLE_MS = 10 * 60_000;
/** A mismatch may come from a flaky proxy: one more download before the readers get EIO. */
const DOWNLOAD_ATTEMPTS = 2;

export interface VerifiedBlobsOptions {
  /** Directory owned by the copies (emptied by open()). */
  dir: string;
  log: StoreLogger;
  /** A layer's blob did not match its digest on any download: nothing of it was served. */
  onVerificationFailed?: (layer: string) => void;
  idleMs?: number;
}

/** The blob could not be downloaded or did not verify (logged once, for all its readers). */
export class BlobCopyError extends Error {
  override name = 'BlobCopyError';
}

interface Copy {
  /** The verified copy, open for reading; rejects when the download failed. */
  file: Promise<FileHandle>;
  idle: NodeJS.Timeout | undefined;
}

export class VerifiedBlobs {
  readonly #o: VerifiedBlobsOptions;
  /** By layer digest: the copy, or its download in flight (shared by every reader). */
  readonly #copies = new Map<string, Copy>();

  constructor(options: VerifiedBlobsOptions) {
    this.#o = options;
  }

  /** Removes what an earlier agent left: copies nothing refers to, interrupted downloads. */
  async open(): Promise<void> {
    await rm(this.#o.dir, { recursive: true, force: true });
    await mkdir(this.#o.dir, { recursive: true, mode: 0o700 });
  }

  /** Bytes [offset, offset + length) of the blob, from its verified copy (EOF-clipped). */
  async read(blob: BlobReader, offset: number, length: number): Promise<Buffer> {
    const end = Math.min(offset + length, blob.size);
    if (offset >= end) return Buffer.alloc(0);
    const copy = this.#copyOf(blob);
    // The idle clock runs between reads only: a long download is not idleness.
    clearTimeout(copy.idle);
    try {
      return await readFully(await copy.file, offset, end - offset);
    } finally {
      if (this.#copies.get(blob.digest) === copy) {
        clearTimeout(copy.idle);
        copy.idle = setTimeout(() => this.drop(blob.digest), this.#o.idleMs ?? IDLE_MS).unref();
      }
    }
  }

  /** The layer left the store (or its copy went unread): the copy leaves the disk. */
  drop(digest: string): void {
    const copy = this.#copies.get(digest);
    if (!copy) return;
    this.#copies.delete(digest);
    clearTimeout(copy.idle);
    // close() waits for the reads in flight; a download still running is removed when it ends.
    void copy.file
      .then(
        (file) => file.close(),
        () => undefined,
      )
      .finally(() => rm(this.#pathOf(digest), { force: true }))
      .catch(() => undefined);
  }

  #copyOf(blob: BlobReader): Copy {
    const known = this.#copies.get(blob.digest);
    if (known) return known;
    const copy: Copy = { file: this.#download(blob), idle: undefined };
    this.#copies.set(blob.digest, copy);
    // A failed download is forgotten, so that the next read tries again.
    copy.file.catch(() => {
      if (this.#copies.get(blob.digest) === copy) this.#copies.delete(blob.digest);
    });
    return copy;
  }

  async #download(blob: BlobReader): Promise<FileHandle> {
    const path = this.#pathOf(blob.digest);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#downloadTo(blob, path);
        return await open(path, 'r');
      } catch (e) {
        const mismatch = isRegistryError(e, RegistryErrorKind.integrity);
        if (mismatch && attempt < DOWNLOAD_ATTEMPTS) {
          this.#o.log.warn(
            { layer: blob.digest, err: (e as Error).message },
            'store: blob failed verification; downloading it again',
          );
          continue;
        }
        throw this.#refused(blob.digest, e, mismatch);
      }
    }
  }

  /** Logged and counted here, once, rather than by each of the reads that waited. */
  #refused(layer: string, e: unknown, mismatch: boolean): BlobCopyError {
    const err = (e as Error).message;
    if (mismatch) {
      this.#o.log.error(
        { layer, err },
        'store: blob failed verification twice; refusing to serve it (EIO)',
      );
      this.#o.onVerificationFailed?.(layer);
    } else {
      this.#o.log.warn({ layer, err }, 'store: blob download failed (EIO)');
    }
    return new BlobCopyError(`blob ${layer} not served: ${err}`, { cause: e });
  }

  /** The whole blob to `path`, which only ever names a copy whose digest matched. */
  async #downloadTo(blob: BlobReader, path: string): Promise<void> {
    await mkdir(this.#o.dir, { recursive: true, mode: 0o700 });
    const partial = `${path}.${randomBytes(6).toString('hex')}.partial`;
    try {
      // openStream checks size and digest: the stream ends cleanly only if both matched.
      await pipeline(blob.openStream(), createWriteStream(partial, { mode: 0o600 }));
      await rename(partial, path);
    } finally {
      await rm(partial, { force: true });
    }
  }

  #pathOf(digest: string): string {
    // Digests come from manifests: never let one name a path outside the directory.
    if (!DIGEST_RE.test(digest)) throw new Error(`not a digest: ${digest}`);
    return join(this.#o.dir, digest.replace(':', '-'));
  }
}

async function readFully(file: FileHandle, offset: number, length: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length);
  for (let done = 0; done < length;) {
    const { bytesRead } = await file.read(out, done, length - done, offset + done);
    if (bytesRead === 0) throw new Error(`blob copy ends at ${offset + done}`);
    done += bytesRead;
  }
  return out;
}
