// `ImageRepository` over an OCI image layout directory (`oci-layout`, `index.json`,
// `blobs/<alg>/<hex>`), addressed on the command line as `oci:PATH[:TAG]`.
// Tags are the `org.opencontainers.image.ref.name` annotation of index.json entries.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { access, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import type { BlobSource, Descriptor, ImageIndex, ImageRepository, RawManifest } from './types.ts';
import { MediaTypes } from './types.ts';
import { makeDirectory, writing, WriteError, writeFailure } from './write-errors.ts';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
const DIGEST_RE = /^(sha256|sha512):([0-9a-f]{64,128})$/;

export class OciLayoutError extends Error {
  override readonly name: string = 'OciLayoutError';
}

/** A blob's bytes do not match its digest or size. */
export class OciBlobCorruptError extends OciLayoutError {
  override readonly name = 'OciBlobCorruptError';
}

/** How long a writer waits for another's index.json update, and when a lock is stale. */
const LOCK_WAIT_MS = 60_000;
const LOCK_STALE_MS = 30_000;

/**
 * Splits `oci:PATH[:TAG]` (the tag is whatever follows the last `:` after the last `/`);
 * `oci:PATH@DIGEST` and `oci:PATH:DIGEST` name a manifest by digest.
 */
export function parseOciReference(ref: string): { path: string; tag: string } | undefined {
  if (!ref.startsWith('oci:')) return undefined;
  const rest = ref.slice(4);
  const byDigest = /^(.+?)[@:]((?:sha256:[0-9a-f]{64})|(?:sha512:[0-9a-f]{128}))$/.exec(rest);
  if (byDigest) return { path: byDigest[1], tag: byDigest[2] };
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash && colon > 0) return { path: rest.slice(0, colon), tag: rest.slice(colon + 1) };
  return { path: rest, tag: '' };
}

function blobPath(root: string, digest: string): string {
  const m = DIGEST_RE.exec(digest);
  if (!m) throw new OciLayoutError(`invalid digest ${JSON.stringify(digest)}`);
  return join(root, 'blobs', m[1], m[2]);
}

/** Passes bytes through and fails at the end if their digest or size is not the expected one. */
class VerifyingStream extends Transform {
  private readonly hash;
  private bytes = 0;
  private readonly expected: { digest: string; size: number };

  constructor(expected: { digest: string; size: number }) {
    super();
    this.expected = expected;
    this.hash = createHash(expected.digest.split(':')[0]);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const digest = `${this.expected.digest.split(':')[0]}:${this.hash.digest('hex')}`;
    if (digest !== this.expected.digest || this.bytes !== this.expected.size) {
      done(
        new OciBlobCorruptError(
          `blob ${this.expected.digest} is corrupt: got ${digest} (${this.bytes} bytes)`,
        ),
      );
    } else done();
  }
}

export class OciLayoutRepository implements ImageRepository {
  readonly name: string;
  readonly root: string;
  /** Serialises index.json read-modify-write cycles. */
  private indexLock: Promise<unknown> = Promise.resolve();

  constructor(root: string) {
    this.root = root;
    this.name = `oci:${root}`;
  }

  /** index.json; a missing one is an empty index when `allowMissing` (new layouts). */
  async readIndex(allowMissing = false): Promise<ImageIndex> {
    let text: string;
    try {
      text = await readFile(join(this.root, 'index.json'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (allowMissing) return { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests: [] };
      throw new OciLayoutError(`${this.name} is not an OCI image layout (no index.json)`);
    }
    const index = JSON.parse(text) as ImageIndex;
    if (!Array.isArray(index.manifests)) {
      throw new OciLayoutError(`${this.name}: index.json has no manifests array`);
    }
    return index;
  }

  /** The index.json entry for a tag ('' = the only image in the layout). */
  async findManifest(reference: string): Promise<Descriptor> {
    const { manifests } = await this.readIndex();
    if (DIGEST_RE.test(reference)) {
      const found = manifests.find((d) => d.digest === reference);
      if (found) return found;
      const bytes = await this.readBlob(reference);
      const mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType;
      return {
        mediaType: mediaType ?? MediaTypes.ociManifest,
        digest: reference,
        size: bytes.length,
      };
    }
    const matches = reference
      ? manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] === reference)
      : manifests;
    if (matches.length === 1) return matches[0];
    const tags = manifests.map((d) => d.annotations?.[REF_NAME_ANNOTATION] ?? d.digest).join(', ');
    throw new OciLayoutError(
      matches.length === 0
        ? `${this.name}: no image ${reference ? `tagged ${JSON.stringify(reference)}` : ''} (has: ${tags || 'nothing'})`
        : `${this.name} holds several images; name one with oci:PATH:TAG (has: ${tags})`,
    );
  }

  async readBlob(digest: string): Promise<Buffer> {
    const bytes = await readFile(blobPath(this.root, digest));
    const actual = `${digest.split(':')[0]}:${createHash(digest.split(':')[0]).update(bytes).digest('hex')}`;
    if (actual !== digest) throw new OciBlobCorruptError(`blob ${digest} is corrupt (${actual})`);
    return bytes;
  }

  async getManifest(reference: string): Promise<RawManifest> {
    const desc = await this.findManifest(reference);
    const bytes = await this.readBlob(desc.digest);
    const declared = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType;
    return { mediaType: declared ?? desc.mediaType, digest: desc.digest, bytes };
  }

  openBlob(desc: Descriptor): Promise<Readable> {
    const source = createReadStream(blobPath(this.root, desc.digest));
    const verify = new VerifyingStream(desc);
    source.on('error', (err) => verify.destroy(err));
    return Promise.resolve(source.pipe(verify));
  }

  /** Bytes [start, end) of a blob (not verified: the caller verifies what it reads). */
  async readBlobRange(desc: Pick<Descriptor, 'digest'>, start: number, end: number) {
    const handle = await open(blobPath(this.root, desc.digest), 'r');
    try {
      const buf = Buffer.alloc(Math.max(0, end - start));
      const { bytesRead } = await handle.read(buf, 0, buf.length, start);
      if (bytesRead !== buf.length) throw new OciLayoutError(`short read of ${desc.digest}`);
      return buf;
    } finally {
      await handle.close();
    }
  }

  async hasBlob(desc: Pick<Descriptor, 'digest' | 'size'>): Promise<boolean> {
    try {
      return (await stat(blobPath(this.root, desc.digest))).size === desc.size;
    } catch {
      return false;
    }
  }

  async putBlob(
    data: BlobSource,
    expected?: { digest: string; size: number },
  ): Promise<{ digest: string; size: number }> {
    await this.ensureLayout();
    const dir = join(this.root, 'blobs', 'sha256');
    const what = expected ? `blob ${expected.digest}` : 'a blob';
    await writing(`write ${what} to`, dir, () => makeDirectory(dir));
    const tmp = join(dir, `.tmp-${randomUUID()}`);
    const hash = createHash('sha256');
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    const input = Buffer.isBuffer(data)
      ? Readable.from([data])
      : typeof data === 'function'
        ? await data()
        : data;
    // Only the file's own errors are the destination's; the source's (a blob it reads) are not.
    const out = createWriteStream(tmp);
    let writeFailed: unknown;
    out.once('error', (err) => (writeFailed = err));
    try {
      await pipeline(input, counter, out).catch((err: unknown) => {
        if (writeFailure(writeFailed)) throw new WriteError(`write ${what} to`, dir, writeFailed);
        throw err;
      });
      const digest = `sha256:${hash.digest('hex')}`;
      if (expected && (expected.digest !== digest || expected.size !== size)) {
        throw new OciLayoutError(`blob is ${digest} (${size} bytes), expected ${expected.digest}`);
      }
      await writing(`write ${what} to`, dir, () => rename(tmp, blobPath(this.root, digest)));
      return { digest, size };
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async putManifest(reference: string, mediaType: string, bytes: Buffer): Promise<string> {
    const { digest, size } = await this.putBlob(bytes);
    // A manifest stored by digest is a child of an index: a blob, not an index.json entry.
    if (DIGEST_RE.test(reference)) return digest;
    const update = this.indexLock.then(() =>
      this.#withLayoutLock(async () => {
        const index = await this.readIndex(true);
        const keep = index.manifests.filter(
          (d) => d.annotations?.[REF_NAME_ANNOTATION] !== reference,
        );
        const desc: Descriptor = { mediaType, digest, size };
        desc.annotations = { [REF_NAME_ANNOTATION]: reference };
        index.manifests = [...keep, desc];
        // A new file renamed over the old: a reader (or a crash) never sees it half written.
        const tmp = join(this.root, `.index.json.${process.pid}.${randomBytes(4).toString('hex')}`);
        try {
          await writing(
            `tag ${JSON.stringify(reference)} in`,
            join(this.root, 'index.json'),
            async () => {
              await writeFile(tmp, JSON.stringify(index, null, 2) + '\n');
              await rename(tmp, join(this.root, 'index.json'));
            },
          );
        } finally {
          await rm(tmp, { force: true });
        }
      }),
    );
    this.indexLock = update.catch(() => undefined);
    await update;
    return digest;
  }

  /**
   * Runs an index.json read-modify-write holding `index.json.lock` (created exclusively), so
   * that conversions into one layout from several processes do not drop each other's tags. A
   * lock older than LOCK_STALE_MS is taken for one a killed process left.
   */
  async #withLayoutLock<T>(work: () => Promise<T>): Promise<T> {
    const lock = join(this.root, 'index.json.lock');
    const started = Date.now();
    for (;;) {
      try {
        await (await open(lock, 'wx')).close();
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw writeFailure(e) ? new WriteError('create the lock file', lock, e) : e;
        }
        const held = await stat(lock).catch(() => undefined);
        // Released since: try again at once. (Taking a lock that is gone for a stale one removed
        // the lock another writer had just taken, and two writers then rewrote index.json
        // together: a tag was lost.)
        if (!held) continue;
        const age = Date.now() - held.mtimeMs;
        if (age > LOCK_STALE_MS) await rm(lock, { force: true });
        else if (Date.now() - started > LOCK_WAIT_MS) {
          throw new OciLayoutError(
            `${this.name}: index.json is locked by another writer (${lock})`,
          );
        } else await sleep(20 + Math.random() * 30);
      }
    }
    try {
      return await work();
    } finally {
      await rm(lock, { force: true });
    }
  }

  /**
   * Whether blobs and tags could be written here, without writing: the layout's directories
   * that exist (or the nearest existing parent, where it would be made) must be directories
   * this process may write to. Catches a read-only file system, a directory of another user's
   * and a file in the way; not a file system that fills up later.
   */
  async checkWritable(): Promise<void> {
    const what = 'write the OCI image layout';
    let dir = this.root;
    for (;;) {
      const found = await stat(dir).catch((err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw writeFailure(err) ? new WriteError(what, this.root, err) : err;
      });
      if (found?.isDirectory()) break;
      if (found) {
        const code = dir === this.root ? 'EEXIST' : 'ENOTDIR';
        throw new WriteError(what, this.root, Object.assign(new Error(code), { code }));
      }
      if (dirname(dir) === dir) break;
      dir = dirname(dir);
    }
    const mayWrite = (path: string, where: string) =>
      writing(what, where, () => access(path, constants.W_OK | constants.X_OK));
    // A parent the layout would be made in is named as the layout the user asked for.
    await mayWrite(dir, this.root);
    if (dir !== this.root) return;
    for (const path of [join(dir, 'blobs'), join(dir, 'blobs', 'sha256')]) {
      const found = await stat(path).catch(() => undefined);
      if (found && !found.isDirectory()) {
        throw new WriteError(what, path, Object.assign(new Error('EEXIST'), { code: 'EEXIST' }));
      }
      if (found) await mayWrite(path, path);
    }
  }

  private async ensureLayout(): Promise<void> {
    const marker = join(this.root, 'oci-layout');
    if (await stat(marker).catch(() => undefined)) return;
    await writing('create the OCI image layout', this.root, async () => {
      await makeDirectory(this.root);
      await writeFile(marker, JSON.stringify({ imageLayoutVersion: '1.0.0' }) + '\n');
    });
  }
}
