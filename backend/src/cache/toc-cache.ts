// Disk cache of layer TOCs: the blob's bytes from the TOC's offset to its end (the compressed
// TOC and the footer), keyed by the layer's compressed digest.
//
// Why: a layer's TOC is often the biggest thing a lookup reads (hundreds of KiB for a base layer
// of thousands of files), and on a fresh connection TCP slow start makes every doubling of it
// cost a round trip. Layers recur: the same base layer under many images, the same image pulled
// again after `podman rmi` or an agent restart. With the TOC on disk such a lookup needs only the
// manifest and the config.
//
// Entries are not trusted: the store opens them like bytes from the registry, verified against
// the manifest's TOC digest, and drops an entry that fails. Writes go to a temporary name and are
// renamed, so a name only ever holds a complete file; the oldest entries go beyond the byte cap.
import { lstat, readdir, readFile, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';

import {
  ensureDirectory,
  removeStray,
  SILENT,
  TMP_PREFIX,
  writeAtomically,
  type CacheLog,
} from './cache-dir.ts';

const DIGEST_RE = /^(sha256|sha512):([0-9a-f]{64}|[0-9a-f]{128})$/;

export interface TocCacheOptions {
  /** Directory owned by the cache (created if missing). */
  dir: string;
  /** Disk cap in bytes; the least recently stored or used entries go first. */
  capBytes: number;
  /** Where open() reports entries it skipped or removed. */
  log?: CacheLog;
}

interface Entry {
  bytes: number;
  usedAt: number;
}

export class TocCache {
  readonly #o: TocCacheOptions;
  readonly #entries = new Map<string, Entry>();
  #usedBytes = 0;

  constructor(options: TocCacheOptions) {
    this.#o = options;
  }

  /**
   * Creates the directory, removes interrupted writes and takes stock of what is there. An entry
   * it cannot use is skipped (or removed, when its name is ours) rather than failing the agent's
   * start: every entry can be fetched again.
   */
  async open(): Promise<void> {
    const log = this.#o.log ?? SILENT;
    await ensureDirectory(this.#o.dir, log);
    for (const entry of await readdir(this.#o.dir, { withFileTypes: true })) {
      const path = join(this.#o.dir, entry.name);
      if (entry.name.startsWith(TMP_PREFIX)) {
        await rm(path, { force: true, recursive: true }).catch(() => undefined);
      } else if (!entry.isFile() && isEntryName(entry.name)) {
        await removeStray(path, 'not a regular file', log);
      } else await this.#take(entry.name, path);
    }
    await this.#evict();
  }

  async #take(name: string, path: string): Promise<void> {
    const info = await lstat(path).catch(() => undefined);
    if (!info?.isFile()) return;
    this.#entries.set(name, { bytes: info.size, usedAt: info.mtimeMs });
    this.#usedBytes += info.size;
  }

  get usedBytes(): number {
    return this.#usedBytes;
  }

  has(layer: string): boolean {
    const name = fileName(layer);
    return name !== undefined && this.#entries.has(name);
  }

  /** The stored suffix of `layer`, or undefined. Not verified: the caller checks the TOC digest. */
  async get(layer: string): Promise<Buffer | undefined> {
    const name = fileName(layer);
    const entry = name && this.#entries.get(name);
    if (!name || !entry) return undefined;
    try {
      const bytes = await readFile(join(this.#o.dir, name));
      entry.usedAt = Date.now();
      return bytes;
    } catch {
      this.#forget(name);
      return undefined;
    }
  }

  async put(layer: string, suffix: Buffer): Promise<void> {
    const name = fileName(layer);
    if (!name || suffix.length === 0 || suffix.length > this.#o.capBytes) return;
    await writeAtomically(this.#o.dir, name, suffix);
    this.#forget(name);
    this.#entries.set(name, { bytes: suffix.length, usedAt: Date.now() });
    this.#usedBytes += suffix.length;
    await this.#evict();
  }

  /** Removes an entry that failed verification. */
  async drop(layer: string): Promise<void> {
    const name = fileName(layer);
    if (!name) return;
    this.#forget(name);
    await unlink(join(this.#o.dir, name)).catch(() => undefined);
  }

  #forget(name: string): void {
    const entry = this.#entries.get(name);
    if (!entry) return;
    this.#entries.delete(name);
    this.#usedBytes -= entry.bytes;
  }

  async #evict(): Promise<void> {
    if (this.#usedBytes <= this.#o.capBytes) return;
    const oldestFirst = [...this.#entries].sort((a, b) => a[1].usedAt - b[1].usedAt);
    for (const [name] of oldestFirst) {
      if (this.#usedBytes <= this.#o.capBytes) break;
      this.#forget(name);
      await unlink(join(this.#o.dir, name)).catch(() => undefined);
    }
  }
}

/** `sha256:<hex>` → `sha256-<hex>`; anything else has no file (never a path from input). */
function fileName(digest: string): string | undefined {
  const m = DIGEST_RE.exec(digest);
  return m ? `${m[1]}-${m[2]}` : undefined;
}

/** Whether `name` is one this cache writes: `sha256-<hex>` for a valid digest. */
function isEntryName(name: string): boolean {
  return fileName(name.replace('-', ':')) === name;
}
