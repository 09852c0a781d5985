// What the store learnt about each layer it served, kept on disk: the layer's descriptor (size,
// TOC digest), its DiffID, the image references it was served under, and where its blob was read.
//
// Why: a lookup otherwise needs the image's manifest and config from the registry before it can
// say anything about a layer. After an agent restart (a node reboot, an upgrade) the runtime looks
// up the layers of the images it already has again, at every container start: with the registry
// down, hanging, refusing the node's credentials, or with the image's tag moved on, a fully cached
// image could not start. The store asks the registry first and, when it has no answer for the
// layer, answers from the record (store/layer-manager.ts #orFromRecord). That is safe because
// layers are content-addressed: the record names a layer by its digest and its TOC digest, the TOC
// is verified against the recorded TOC digest like any TOC, and every chunk against the TOC.
//
// A record is used for a lookup only under a reference the layer was served under: the runtime
// looks its layers up again under the reference it pulled them with, and that reference's image
// did not list the layer twice (only a manifest can tell, and a layer listed twice must not come
// from the store: see repeatedLayers() in the store). A new reference goes to the registry. Files are written to a temporary name and renamed, and carry a checksum: a record
// that does not check out is removed and never used.
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';

import { z } from 'zod';

import { Annotations } from '../image/types.ts';
import {
  ensureDirectory,
  forEachLimited,
  removeStray,
  SILENT,
  TMP_PREFIX,
  writeAtomically,
  type CacheLog,
} from './cache-dir.ts';

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const FILE_NAME = /^sha256-[0-9a-f]{64}\.json$/;
/** Far beyond a record's size (the store keeps three annotations): anything bigger is not one. */
const MAX_RECORD_BYTES = 1024 * 1024;
/** References remembered per layer (a base layer under many images and tags). */
const MAX_REFERENCES = 256;

const digest = z.string().regex(DIGEST, 'not a sha256 digest');
const recordSchema = z.object({
  digest,
  tocDigest: digest,
  descriptor: z.object({
    mediaType: z.string().min(1).max(256),
    digest,
    size: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
    annotations: z.record(z.string().max(256), z.string().max(65_536)).optional(),
  }),
  diffId: digest,
  references: z.array(z.string().min(1).max(1024)).min(1).max(MAX_REFERENCES),
  source: z.object({
    registry: z.string().min(1).max(512),
    repository: z.string().min(1).max(512),
  }),
  image: z.object({
    manifestDigest: digest,
    compressedSize: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  }),
  savedAt: z.number(),
});
const fileSchema = z.object({ checksum: digest, record: z.string() });

export type LayerRecord = z.infer<typeof recordSchema>;

export interface LayerRecordsOptions {
  /** Directory owned by the records (created if missing). */
  dir: string;
  /** Layers remembered; the least recently saved go first. */
  maxRecords?: number;
  log?: CacheLog;
}

export class LayerRecords {
  readonly #o: LayerRecordsOptions;
  /** File name → when it was saved (ms). Each record has two: its digest's and its TOC digest's. */
  readonly #files = new Map<string, number>();
  /** Writes in progress per layer, so that two images adding their reference do not race. */
  readonly #writing = new Map<string, Promise<void>>();

  constructor(options: LayerRecordsOptions) {
    this.#o = options;
  }

  async open(): Promise<void> {
    const log = this.#o.log ?? SILENT;
    await ensureDirectory(this.#o.dir, log);
    const names = await readdir(this.#o.dir);
    await forEachLimited(names, 32, async (name) => {
      const path = join(this.#o.dir, name);
      if (name.startsWith(TMP_PREFIX)) {
        await rm(path, { force: true, recursive: true }).catch(() => undefined);
        return;
      }
      const info = await lstat(path).catch(() => undefined);
      if (!FILE_NAME.test(name))
        log.warn({ path }, 'layer records: ignoring an entry it did not write');
      else if (info?.isFile()) this.#files.set(name, info.mtimeMs);
      else if (info) await removeStray(path, 'not a regular file', log); // named like a record
    });
    await this.#evict();
  }

  /** Whether a record may exist under `name` (a layer digest or a TOC digest). */
  has(name: string): boolean {
    const file = fileName(name);
    return file !== undefined && this.#files.has(file);
  }

  /** The record named `name`, checked; undefined when there is none or it does not check out. */
  async get(name: string): Promise<LayerRecord | undefined> {
    const file = fileName(name);
    if (!file || !this.#files.has(file)) return undefined;
    const path = join(this.#o.dir, file);
    let record: LayerRecord | string;
    try {
      // Sized first: a file filled by something else must not be read into memory whole.
      const info = await lstat(path);
      if (!info.isFile()) record = 'not a regular file';
      else if (info.size > MAX_RECORD_BYTES) record = `${info.size} bytes: too big for a record`;
      else record = checkRecord(await readFile(path, 'utf8'), name);
    } catch {
      this.#files.delete(file);
      return undefined;
    }
    if (typeof record === 'string') {
      (this.#o.log ?? SILENT).warn({ path, reason: record }, 'layer records: record dropped');
      this.#files.delete(file);
      await unlink(path).catch(() => undefined);
      return undefined;
    }
    return record;
  }

  /**
   * Records that the layer was served under `reference`, read from `source`. Serialized per
   * layer; writes nothing when the record already has it as its most recent reference.
   */
  async note(entry: Omit<LayerRecord, 'references' | 'savedAt'>, reference: string): Promise<void> {
    const previous = this.#writing.get(entry.digest) ?? Promise.resolve();
    const write = previous.then(() => this.#note(entry, reference));
    const settled = write.catch(() => undefined);
    this.#writing.set(entry.digest, settled);
    void settled.then(() => {
      if (this.#writing.get(entry.digest) === settled) this.#writing.delete(entry.digest);
    });
    return write;
  }

  async #note(
    entry: Omit<LayerRecord, 'references' | 'savedAt'>,
    reference: string,
  ): Promise<void> {
    const existing = await this.get(entry.digest);
    // Unchanged when this reference is already the most recent (a reference used again moves to
    // the front: the cap drops the ones not used for longest).
    if (existing?.references[0] === reference && existing.tocDigest === entry.tocDigest) return;
    // References seen with another TOC named other contents under this digest (a registry lied
    // about one of them): they must not be answered with this TOC's layer.
    const sameLayer = existing?.tocDigest === entry.tocDigest;
    const others = sameLayer ? existing.references.filter((r) => r !== reference) : [];
    const record: LayerRecord = {
      ...entry,
      references: [reference, ...others].slice(0, MAX_REFERENCES),
      savedAt: Date.now(),
    };
    const parsed = recordSchema.safeParse(record);
    if (!parsed.success) return; // nothing a lookup could use (e.g. not a sha256 layer)
    const text = JSON.stringify(record);
    const body = JSON.stringify({ checksum: sha256(text), record: text });
    if (Buffer.byteLength(body) > MAX_RECORD_BYTES) return;
    for (const name of new Set([record.digest, record.tocDigest])) {
      await this.#write(fileName(name)!, body, record.savedAt);
    }
    await this.#evict();
  }

  async #write(file: string, body: string, savedAt: number): Promise<void> {
    await writeAtomically(this.#o.dir, file, body);
    this.#files.delete(file); // re-inserted last: the map's order is the eviction order's tiebreak
    this.#files.set(file, savedAt);
  }

  async #evict(): Promise<void> {
    const maxFiles = 2 * (this.#o.maxRecords ?? 4096);
    if (this.#files.size <= maxFiles) return;
    const oldestFirst = [...this.#files].sort((a, b) => a[1] - b[1]);
    for (const [file] of oldestFirst.slice(0, this.#files.size - maxFiles)) {
      this.#files.delete(file);
      await unlink(join(this.#o.dir, file)).catch(() => undefined);
    }
  }
}

/** The record in a file's text, or why it cannot be used. */
function checkRecord(text: string, name: string): LayerRecord | string {
  let file: z.infer<typeof fileSchema>;
  try {
    file = fileSchema.parse(JSON.parse(text));
  } catch {
    return 'not a record file';
  }
  if (sha256(file.record) !== file.checksum) return 'checksum mismatch';
  let record: LayerRecord;
  try {
    record = recordSchema.parse(JSON.parse(file.record));
  } catch (e) {
    return `invalid record: ${(e as Error).message.slice(0, 200)}`;
  }
  if (record.descriptor.digest !== record.digest) return 'descriptor names another layer';
  if (record.descriptor.annotations?.[Annotations.estargzTocDigest] !== record.tocDigest) {
    return 'descriptor names another TOC';
  }
  if (name !== record.digest && name !== record.tocDigest) return `filed under ${name}`;
  return record;
}

function sha256(text: string): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

/** `sha256:<hex>` → `sha256-<hex>.json`; anything else has no file (never a path from input). */
function fileName(name: string): string | undefined {
  return DIGEST.test(name) ? `${name.replace(':', '-')}.json` : undefined;
}
