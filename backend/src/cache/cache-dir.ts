// What both disk caches need to survive a state directory they did not leave as they expect:
// an agent that cannot start because of one stray file in its cache serves nothing at all, while
// everything under these directories can be fetched again.
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** Where the caches report what they repaired (the agent passes its logger). */
export interface CacheLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export const SILENT: CacheLog = { warn: () => undefined, info: () => undefined };

/**
 * Makes `dir` a directory. Anything else under its name (a regular file, a dangling symlink) is
 * moved aside — not deleted: the name is ours, but what someone put there may not be — or, when
 * that fails, removed. A symlink to a directory is kept: that is how a cache is put on another disk.
 */
export async function ensureDirectory(dir: string, log: CacheLog): Promise<void> {
  if ((await stat(dir).catch(() => undefined))?.isDirectory()) return;
  // lstat: a dangling symlink is there too, and would make mkdir fail with EEXIST.
  if (await lstat(dir).catch(() => undefined)) {
    const aside = `${dir}.not-a-directory-${Date.now()}`;
    try {
      await rename(dir, aside);
      log.warn({ path: dir, movedTo: aside }, 'cache: not a directory, moved aside');
    } catch {
      await rm(dir, { recursive: true, force: true });
      log.warn({ path: dir }, 'cache: not a directory, removed');
    }
  }
  await makeDirectory(dir, 0o700);
}

/**
 * `mkdir -p` that fails with the real reason: Node's recursive mkdir reports ENOENT when it
 * cannot make a missing ancestor (a read-only filesystem, no permission). On such a failure the
 * missing levels are made one at a time, so the one that fails says EROFS or EACCES.
 */
export async function makeDirectory(dir: string, mode: number): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const missing: string[] = [];
    for (let p = dir; !(await lstat(p).catch(() => undefined)); p = dirname(p)) {
      missing.unshift(p);
      if (p === dirname(p)) break;
    }
    if (missing.length === 0) throw e;
    for (const p of missing) {
      await mkdir(p, { mode }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    }
  }
}

/** Removes an entry the scan does not accept, logging why; a failure only leaves it there. */
export async function removeStray(path: string, reason: string, log: CacheLog): Promise<void> {
  log.warn({ path, reason }, 'cache: removing an entry it did not write');
  await rm(path, { recursive: true, force: true }).catch((e: unknown) => {
    log.warn({ path, err: (e as Error).message }, 'cache: cannot remove entry');
  });
}

/** Runs `work` on every item with at most `limit` at a time, in no particular order. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Names of writes in progress: what a cache's open() finds under such a name is left from a crash. */
export const TMP_PREFIX = '.tmp-';

/**
 * Writes `name` in `dir` through a temporary and a rename, so that the name only ever holds a
 * whole file. A failed write (a full disk) leaves no partial temporary behind to take room.
 */
export async function writeAtomically(
  dir: string,
  name: string,
  data: string | Buffer,
): Promise<void> {
  const tmp = join(dir, `${TMP_PREFIX}${randomBytes(6).toString('hex')}`);
  try {
    await writeFile(tmp, data, { mode: 0o600 });
    await rename(tmp, join(dir, name));
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}
