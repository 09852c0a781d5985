// Failures to write a file, said in one line: what was being written, where, and why, instead of
// Node's `ENOSPC: no space left on device, write`. Used for an OCI layout destination and for
// the converter's temporary files.
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/** The file system errors a write ends with, in words. */
const WRITE_FAILURES: Record<string, string> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'a file that is not a directory is in the way',
  ENOTDIR: 'a part of the path is a file, not a directory',
  EISDIR: 'a directory is in the way',
  EFBIG: 'file too large',
  EIO: 'input/output error',
  ENAMETOOLONG: 'the path is too long',
};

/** `no space left on device (ENOSPC)` for an error a write can end with, else undefined. */
export function writeFailure(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const words = code === undefined ? undefined : WRITE_FAILURES[code];
  return words && `${words} (${code})`;
}

/** A write that failed: `cannot <doing> <where>: <why> (<CODE>)`. */
export class WriteError extends Error {
  override readonly name = 'WriteError';
  /** The errno code, e.g. ENOSPC. */
  readonly code: string;
  /** The directory or file written to. */
  readonly where: string;
  /** `no space left on device (ENOSPC)`. */
  readonly reason: string;

  constructor(doing: string, where: string, cause: unknown) {
    const reason = writeFailure(cause) ?? (cause as Error).message;
    super(`cannot ${doing} ${where}: ${reason}`, { cause });
    this.code = (cause as NodeJS.ErrnoException).code ?? '';
    this.where = where;
    this.reason = reason;
  }
}

/** Runs `work`; a file system failure becomes a WriteError naming what it wrote and where. */
export async function writing<T>(doing: string, where: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof WriteError || writeFailure(err) === undefined) throw err;
    throw new WriteError(doing, where, err);
  }
}

/**
 * `mkdir -p` that fails with the real reason: Node's recursive mkdir says ENOENT whenever it
 * cannot create a missing directory, in a read-only or unwritable parent too. The first missing
 * directory is then made alone, which fails with the parent's actual error (EROFS, EACCES).
 */
export async function makeDirectory(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    let missing = path;
    while (dirname(missing) !== missing && !(await exists(dirname(missing)))) {
      missing = dirname(missing);
    }
    await mkdir(missing);
    await mkdir(path, { recursive: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
