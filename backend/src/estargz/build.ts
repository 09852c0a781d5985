// Tar stream → eStargz blob, with optional prioritised files placed first (before
// `.prefetch.landmark`). Prioritising needs two passes over the source: the first spools the
// prioritised entries to a temporary file, the second streams everything else.
import { createReadStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';

import type { TarHeader } from '../tar/header.ts';
import { readTar, type TarByteSource } from '../tar/reader.ts';
import { EstargzError, EstargzErrorCode } from './errors.ts';
import { NO_PREFETCH_LANDMARK, PREFETCH_LANDMARK, TOC_NAME, normalizeEntryPath } from './toc.ts';
import { EstargzWriter, type EstargzWriteResult, type EstargzWriterOptions } from './writer.ts';

export interface BuildEstargzOptions extends EstargzWriterOptions {
  /** Paths (one per entry, `/`-rooted or relative) to place first, in this order. */
  prioritize?: string[];
  /** Where to spool prioritised files (default: the OS temp dir). */
  tmpDir?: string;
  /** Called with the uncompressed bytes consumed so far. */
  onProgress?: (uncompressedBytes: number) => void;
  /**
   * Paths the source tar holds more than once → index of the entry that wins (the last, as when
   * extracting). From `scanDuplicates`; without it a duplicate fails with DUPLICATE_ENTRY.
   */
  lastOccurrence?: Map<string, number>;
}

export interface BuildEstargzResult extends EstargzWriteResult {
  /** How many of the requested prioritised paths were found and placed first. */
  prioritized: number;
}

/** Opens the source layer's uncompressed tar stream (called once, or twice when prioritising). */
export type TarSource = () => Promise<TarByteSource>;

const RESERVED = new Set([TOC_NAME, PREFETCH_LANDMARK, NO_PREFETCH_LANDMARK]);

function isReserved(path: string): boolean {
  // Converting an eStargz layer again: its old TOC and landmarks must not be carried over.
  return RESERVED.has(path);
}

interface Spooled {
  header: TarHeader;
  offset: number;
  /** The entry's position in the source tar. */
  index: number;
  /** The position of the first entry of the path (this one's, unless it replaces others). */
  first: number;
}

/** Prioritised entries written first: path → where the source holds it. */
type Placed = Map<string, Pick<Spooled, 'index' | 'first'>>;

/** Writes the source tar as eStargz to `out` (which is left open). */
export async function buildEstargz(
  source: TarSource,
  out: Writable,
  options: BuildEstargzOptions = {},
): Promise<BuildEstargzResult> {
  const writer = new EstargzWriter(out, options);
  const wanted = prioritizedPaths(options.prioritize ?? []);
  let placed: Placed = new Map();
  if (wanted.length === 0) {
    await writer.addLandmark('no-prefetch');
  } else {
    placed = await writePrioritized(source, writer, wanted, options);
    await writer.addLandmark('prefetch');
  }
  let lastReport = 0;
  let index = -1;
  const seen = new Set<string>(placed.keys());
  for await (const entry of readTar(await source())) {
    index++;
    const { header, path } = fromSource(entry.header);
    // A placed entry is the last of its path in the source: every other one is replaced by it.
    if (isReserved(path) || placed.has(path)) continue;
    if (superseded(options, path, index)) continue;
    if (seen.has(path)) {
      throw new EstargzError(
        EstargzErrorCode.duplicateEntry,
        `the source layer has more than one entry for ${JSON.stringify(path)}`,
      );
    }
    if (header.type === 'hardlink')
      checkHardlink(path, header.linkName, index, seen, placed, options);
    seen.add(path);
    await writer.add(header, entry.body);
    if (options.onProgress && writer.bytesIn - lastReport >= 1 << 20) {
      lastReport = writer.bytesIn;
      options.onProgress(lastReport);
    }
  }
  const result = await writer.finish();
  options.onProgress?.(writer.bytesIn);
  const prioritized = wanted.filter((p) => placed.has(p)).length;
  return { ...result, prioritized };
}

/**
 * Paths to prioritise as entry paths (`/etc/x` and `etc/x` alike). Throws EstargzError (BAD_PATH)
 * naming a path that cannot be one (`..`, NUL, empty components).
 */
export function prioritizedPaths(paths: string[]): string[] {
  return paths
    .map((p) => p.trim().replace(/^\/+/, ''))
    .filter((p) => p !== '')
    .map((p) => {
      try {
        return normalizeEntryPath(p);
      } catch (err) {
        if (err instanceof EstargzError) err.message = `prioritized path: ${err.message}`;
        throw err;
      }
    });
}

/**
 * A source entry with its path made relative: a leading `/` on a name or a hardlink target
 * means the layer root to containers/storage and to tar, so `/etc/x` is written as `etc/x`
 * (an eStargz TOC must not hold absolute paths). `..` and the like still fail, with BAD_PATH.
 */
function fromSource(h: TarHeader): { header: TarHeader; path: string } {
  const relative = (p: string) => (p.startsWith('/') ? p.replace(/^\/+/, '') || './' : p);
  const name = relative(h.name);
  const linkName = h.type === 'hardlink' ? relative(h.linkName) : h.linkName;
  const header = name === h.name && linkName === h.linkName ? h : { ...h, name, linkName };
  return { header, path: normalizeEntryPath(name) };
}

/**
 * A hardlink must follow its target in the layer (readers, ours and tar, resolve it then).
 * Converting one that does not would produce a layer nothing can read.
 */
function checkHardlink(
  path: string,
  linkName: string,
  index: number,
  written: Set<string>,
  placed: Placed,
  options: BuildEstargzOptions,
): void {
  const target = normalizeEntryPath(linkName || '.');
  // A prioritised target is written first, but it is the source's last entry of its path: one
  // that comes after the hardlink is not what the hardlink links to on extraction.
  const early = placed.get(target);
  if (written.has(target) && (early === undefined || early.index < index)) return;
  const replacedLater =
    (options.lastOccurrence?.has(target) ?? false) || (early !== undefined && early.first < index);
  throw new EstargzError(
    EstargzErrorCode.badHardlink,
    replacedLater
      ? `the source layer hardlinks ${JSON.stringify(path)} to ${JSON.stringify(target)} and then replaces ${JSON.stringify(target)}; such a layer cannot be converted`
      : `the source layer hardlinks ${JSON.stringify(path)} to ${JSON.stringify(target)}, which is not in the layer before it`,
  );
}

function superseded(options: BuildEstargzOptions, path: string, index: number): boolean {
  const winner = options.lastOccurrence?.get(path);
  return winner !== undefined && winner !== index;
}

/** Paths that occur more than once in the source tar → index of their last occurrence. */
export async function scanDuplicates(source: TarSource): Promise<Map<string, number>> {
  const last = new Map<string, number>();
  const duplicated = new Set<string>();
  let index = -1;
  for await (const entry of readTar(await source())) {
    index++;
    const { path } = fromSource(entry.header);
    if (last.has(path)) duplicated.add(path);
    last.set(path, index);
  }
  return new Map([...duplicated].map((path) => [path, last.get(path)!]));
}

function ancestors(path: string): string[] {
  const parts = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) out.push(parts.slice(0, i).join('/'));
  return out;
}

/**
 * Spools the prioritised entries and writes them first. Each is the LAST entry of its path in the
 * source, as extraction leaves it (a path listed twice, a file replaced by a symlink, a directory
 * given again with another mode): when that last entry cannot move ahead (a hardlink), the path
 * is not prioritised at all and stays in place with its duplicates.
 */
async function writePrioritized(
  source: TarSource,
  writer: EstargzWriter,
  wanted: string[],
  options: BuildEstargzOptions,
): Promise<Placed> {
  const tmpRoot = options.tmpDir ?? tmpdir();
  const files = new Set(wanted);
  const dirs = new Set(wanted.flatMap(ancestors));
  const dir = await mkdtemp(join(tmpRoot, 'slipstream-prioritize-'));
  const spoolPath = join(dir, 'spool');
  const spool = await open(spoolPath, 'w');
  const found = new Map<string, Spooled>();
  const firstSeen = new Map<string, number>();
  try {
    let offset = 0;
    let index = -1;
    for await (const entry of readTar(await source())) {
      index++;
      const { header: h, path } = fromSource(entry.header);
      if (!files.has(path) && !dirs.has(path)) continue;
      if (superseded(options, path, index)) continue;
      if (!firstSeen.has(path)) firstSeen.set(path, index);
      // Hardlinks stay in place: moving one ahead of its target would break the tar.
      const movable = h.type !== 'hardlink' && (h.type === 'dir' ? dirs : files).has(path);
      if (!movable) {
        found.delete(path);
        continue;
      }
      found.set(path, { header: h, offset, index, first: firstSeen.get(path)! });
      for await (const chunk of entry.body) {
        await spool.write(chunk, 0, chunk.length, offset);
        offset += chunk.length;
      }
    }
    await spool.close();
    const placed: Placed = new Map();
    for (const path of wanted) {
      for (const p of [...ancestors(path), path]) {
        const item = found.get(p);
        if (!item || placed.has(p)) continue;
        placed.set(p, { index: item.index, first: item.first });
        const body =
          item.header.type === 'file' && item.header.size > 0
            ? createReadStream(spoolPath, {
                start: item.offset,
                end: item.offset + item.header.size - 1,
              })
            : undefined;
        await writer.add(item.header, body);
      }
    }
    return placed;
  } finally {
    await spool.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
